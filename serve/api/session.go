package api

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/steer"
	"github.com/limbic-dev/limbic/science/vecpack"
	"github.com/limbic-dev/limbic/serve/monitor"
	"github.com/limbic-dev/limbic/serve/store"
	"github.com/limbic-dev/limbic/serve/telemetry"
)

// genParams are a request's generation settings after validation.
type genParams struct {
	prompt   []int
	max      int
	sampling model.Sampling
	stops    []string
	ext      *Extension
	request  []byte // the request body, stored with the conversation

	logprobs    bool // report each generated token's log-prob
	topLogprobs int  // and this many alternatives (0 to model.MaxTopLogProbs)
}

// session is one request's generation: its hooks, its telemetry and the
// events it sends to the request's goroutine. Fields under "batcher
// goroutine" are touched only from hooks and onToken, which all run on the
// batcher's goroutine.
type session struct {
	s      *Server
	id     string
	p      genParams
	seq    *telemetry.Sequence // readout, rules and their actions (nil without a pack or telemetry)
	reader *readout.Reader     // the telemetry layer's reader (nil when seq is)
	stat   readout.Metric
	report []string // emotions reported per token (nil: top-k)
	topK   int
	every  int
	steers []string

	// batcher goroutine
	nTokens   int
	generated []int
	lpErr     error // log-probs could not be computed (read after the done event)

	mu      sync.Mutex // guards the per-token values read by summary()
	perEmo  [][]float64
	perEmoZ [][]float64

	stop      atomic.Bool  // end generation at the next token
	stoppedBy atomic.Value // rule name (string) when an alert stopped it
	events    chan event
}

// event is what the batcher goroutine tells the request's goroutine.
type event struct {
	id      int
	stop    bool // the id is a stop token, or a token that is not emitted
	readout *TokenReadout
	lp      *tokenLP // the token's log-probs, when asked for
	alerts  []monitor.Event
	points  []telemetry.Point // the positions read since the last event
	done    bool
	result  model.Result
	err     error

	// set by the request's goroutine
	emit   bool   // the token goes to the client
	piece  string // its text as sent (after the stop matcher)
	offset int    // code points of generated text before the token
}

// tokenLP is a generated token's log-prob and its most likely alternatives.
type tokenLP struct {
	logprob float64
	top     []model.TokenLogProb
}

// newSession validates the extension and builds the hooks.
func (s *Server) newSession(p genParams) (*session, *hook.Set, error) {
	ss := &session{s: s, id: newID("conv-"), p: p, topK: 5, every: 1}
	if p.ext != nil && p.ext.ConversationID != "" {
		ss.id = p.ext.ConversationID
	}
	ss.events = make(chan event, p.max+8)
	hs := &hook.Set{}
	opts := steer.Options{Kind: vecpack.Denoised, NLayers: s.m.Layers, Dim: s.m.Dim, PromptLen: len(p.prompt)}
	if p.ext != nil && len(p.ext.Steer) > 0 {
		if s.pack == nil {
			return nil, nil, badRequest("limbic.steer needs a vector pack, and this server has none")
		}
		specs := make([]steer.Spec, len(p.ext.Steer))
		for i, sp := range p.ext.Steer {
			specs[i] = sp.Spec
			if _, err := s.pack.EmotionIndex(sp.Emotion); err != nil {
				return nil, nil, badRequest("limbic.steer[%d]: %v", i, err)
			}
			ss.steers = append(ss.steers, sp.Spec.String())
		}
		if _, _, err := steer.Hooks(hs, specs, s.pack, opts); err != nil {
			return nil, nil, badRequest("limbic.steer: %v", err)
		}
	}
	ro := &ReadoutOptions{}
	if p.ext != nil && p.ext.Readout != nil {
		ro = p.ext.Readout
	}
	if s.tel == nil || s.cfg.NoTelemetry {
		if p.ext != nil && p.ext.Readout != nil && !ro.Off {
			return nil, nil, badRequest("limbic.readout needs a vector pack and telemetry, and this server has %s", map[bool]string{true: "no pack", false: "telemetry off"}[s.pack == nil])
		}
		return ss, hs, nil
	}
	so := telemetry.SequenceOptions{Layer: -1, PromptLen: len(p.prompt)}
	if ro.Layer != nil {
		so.Layer = *ro.Layer
		if so.Layer < 0 {
			return nil, nil, badRequest("limbic.readout.layer %d: want a layer of the vector pack %v", so.Layer, s.pack.Meta.Layers)
		}
	}
	if ro.Stat != "" {
		m, err := readout.ParseMetric(ro.Stat)
		if err != nil {
			return nil, nil, badRequest("limbic.readout.stat: %v", err)
		}
		so.Stat = m
	}
	for _, e := range ro.Emotions {
		if _, err := s.pack.EmotionIndex(e); err != nil {
			return nil, nil, badRequest("limbic.readout.emotions: %v", err)
		}
	}
	// The telemetry adds the regulate rules' counter-steers after the
	// request's steers and before its readers.
	seq, err := s.tel.NewSequence(hs, so)
	if err != nil {
		return nil, nil, badRequest("limbic.readout: %v", err)
	}
	ss.seq, ss.reader, ss.stat = seq, seq.Reader(), seq.Stat()
	ss.report = ro.Emotions
	if ro.TopK > 0 {
		ss.topK = ro.TopK
	}
	if ro.Every > 0 {
		ss.every = ro.Every
	}
	if ro.Off {
		ss.every = 0
	}
	n := len(ss.reader.Emotions)
	ss.perEmo = make([][]float64, n)
	if ss.reader.HasBaseline() {
		ss.perEmoZ = make([][]float64, n)
	}
	return ss, hs, nil
}

// onToken runs on the batcher goroutine for every sampled token.
func (ss *session) onToken(t model.Token) bool {
	ev := event{id: t.ID, stop: t.Stop}
	if ss.seq != nil {
		last := len(ss.p.prompt) - 1 + ss.nTokens // the position this token was sampled from
		st := ss.seq.Advance(last)
		ev.alerts, ev.points = st.Alerts, st.Points
		if st.Stop && !ss.stop.Load() {
			ss.stoppedBy.Store(ss.seq.StoppedBy())
			ss.stop.Store(true)
		}
		if ss.stop.Load() {
			// An alert stopped the sequence at the position this token was
			// sampled from: the token is not emitted.
			ev.stop, t.Stop = true, true
		} else if !t.Stop {
			ss.recordToken(t, last, st.Scores, &ev)
		}
	}
	if ss.p.logprobs && !t.Stop {
		// The logits are valid only during this call.
		lp, top, err := model.LogProbs(t.Logits, t.ID, ss.p.topLogprobs)
		if err != nil {
			ss.lpErr = err
			ss.stop.Store(true)
			ev.stop, t.Stop = true, true
		} else {
			ev.lp = &tokenLP{logprob: lp, top: top}
		}
	}
	if !t.Stop {
		ss.generated = append(ss.generated, t.ID)
		ss.nTokens++
	}
	select {
	case ss.events <- ev:
	default: // cannot happen: the channel holds max tokens + slack
	}
	return !ss.stop.Load()
}

// lastPos is the position of the last token of the sequence (after done).
func (ss *session) lastPos() int { return len(ss.p.prompt) - 1 + ss.nTokens }

// finish resolves the alerts still firing when the sequence has ended.
func (ss *session) finish() []monitor.Event {
	if ss.seq == nil {
		return nil
	}
	return ss.seq.Finish(ss.lastPos())
}

// recordToken adds a generated token's readout to the summary and, every
// n-th token, to the response (batcher goroutine).
func (ss *session) recordToken(t model.Token, pos int, sc *readout.Scores, ev *event) {
	if sc == nil {
		return
	}
	vals := telemetry.Values(ss.stat, sc)
	ss.mu.Lock()
	for e, v := range vals {
		ss.perEmo[e] = append(ss.perEmo[e], float64(v))
		if ss.perEmoZ != nil {
			ss.perEmoZ[e] = append(ss.perEmoZ[e], float64(sc.Z[e]))
		}
	}
	ss.mu.Unlock()
	if m := ss.s.metrics; m != nil && sc.Z != nil {
		m.ObserveReadout(ss.reader.Emotions, sc.Z)
	}
	if ss.every <= 0 || ss.nTokens%ss.every != 0 {
		return
	}
	tr := &TokenReadout{Index: ss.nTokens, Pos: pos, Token: t.ID, Scores: map[string]float32{}}
	if ss.report != nil {
		for _, name := range ss.report {
			e, _ := ss.s.tel.EmotionIndex(name)
			tr.Scores[name] = vals[e]
		}
	} else {
		idx := make([]int, len(vals))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return vals[idx[a]] > vals[idx[b]] })
		for _, i := range idx[:min(ss.topK, len(idx))] {
			tr.Scores[ss.reader.Emotions[i]] = vals[i]
		}
	}
	ev.readout = tr
}

// run submits the request to the batcher and feeds events until done.
func (ss *session) run(ctx context.Context, hs *hook.Set) {
	go func() {
		res, err := ss.s.batcher.Generate(ctx, model.Request{Prompt: ss.p.prompt, Max: ss.p.max, Sampling: ss.p.sampling,
			Stop: ss.s.m.StopIDs(), Hooks: hs}, ss.onToken)
		ss.events <- event{done: true, result: res, err: err}
	}()
}

// next waits for the next event and returns it with those already queued
// behind it (at most maxBatch, ending at the done event): the request's
// goroutine stores a batch in one commit before it sends any of it.
func (ss *session) next() []event {
	const maxBatch = 64
	evs := []event{<-ss.events}
	for len(evs) < maxBatch && !evs[len(evs)-1].done {
		select {
		case ev := <-ss.events:
			evs = append(evs, ev)
		default:
			return evs
		}
	}
	return evs
}

// traceLog builds a conversation's stored trace: a row for every prompt
// token and every generated token with its text, written no later than the
// token is sent, and the readout values of the positions on the trace
// stride, written when they are read (a row is replaced when its values
// arrive).
type traceLog struct {
	conv      string
	stride    int
	promptLen int
	ids       []int             // the token at each position so far
	texts     []string          // its text
	vals      map[int][]float32 // readouts on the stride, by position
	dirty     []int             // positions to (re)write
}

func newTraceLog(conv string, stride int, prompt []int, tok *tokenizer.Tokenizer) *traceLog {
	tl := &traceLog{conv: conv, stride: max(stride, 1), promptLen: len(prompt), vals: map[int][]float32{}}
	for _, t := range readout.Tokens(tok, prompt) {
		tl.ids = append(tl.ids, t.ID)
		tl.texts = append(tl.texts, t.Text)
		tl.dirty = append(tl.dirty, t.Pos)
	}
	return tl
}

// add records an event: the readouts it carries and, for a generated token
// that is not a stop token, the token and its text.
func (tl *traceLog) add(ev *event, text string) {
	for _, p := range ev.points {
		if p.Pos%tl.stride == 0 && p.Pos < len(tl.ids) {
			tl.vals[p.Pos] = p.Values
			tl.dirty = append(tl.dirty, p.Pos)
		}
	}
	if !ev.done && !ev.stop {
		tl.ids = append(tl.ids, ev.id)
		tl.texts = append(tl.texts, text)
		tl.dirty = append(tl.dirty, len(tl.ids)-1)
	}
}

// rows returns the rows to write and forgets them.
func (tl *traceLog) rows() []store.Point {
	if len(tl.dirty) == 0 {
		return nil
	}
	slices.Sort(tl.dirty)
	tl.dirty = slices.Compact(tl.dirty)
	out := make([]store.Point, len(tl.dirty))
	for i, pos := range tl.dirty {
		out[i] = store.Point{ConversationID: tl.conv, Pos: pos, TokenID: tl.ids[pos], Text: tl.texts[pos],
			Generated: pos >= tl.promptLen, Values: tl.vals[pos]}
	}
	tl.dirty = tl.dirty[:0]
	return out
}

// summary aggregates the chosen statistic over the generated tokens.
func (ss *session) summary() map[string]EmotionSummary {
	if ss.reader == nil {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := map[string]EmotionSummary{}
	for e, name := range ss.reader.Emotions {
		if ss.report != nil && !slices.Contains(ss.report, name) {
			continue
		}
		vs := ss.perEmo[e]
		if len(vs) == 0 {
			continue
		}
		sum, mx := 0.0, math.Inf(-1)
		for _, v := range vs {
			sum += v
			mx = math.Max(mx, v)
		}
		es := EmotionSummary{Mean: sum / float64(len(vs)), Max: mx}
		if ss.perEmoZ != nil {
			z := slices.Max(ss.perEmoZ[e])
			es.ZMax = &z
		}
		out[name] = es
	}
	return out
}

// stopMatcher finds stop strings in streamed text, holding back text that
// might be the start of one.
type stopMatcher struct {
	stops []string
	held  string
}

// push adds text and returns what can be emitted, and whether a stop string ended it.
func (m *stopMatcher) push(text string) (emit string, stopped bool) {
	if len(m.stops) == 0 {
		return text, false
	}
	buf := m.held + text
	for _, s := range m.stops {
		if i := strings.Index(buf, s); i >= 0 {
			m.held = ""
			return buf[:i], true
		}
	}
	// Hold back the longest suffix that is a prefix of some stop string.
	keep := 0
	for _, s := range m.stops {
		for k := min(len(s)-1, len(buf)); k > keep; k-- {
			if strings.HasSuffix(buf, s[:k]) {
				keep = k
				break
			}
		}
	}
	m.held = buf[len(buf)-keep:]
	return buf[:len(buf)-keep], false
}

// flush returns the held text at the end.
func (m *stopMatcher) flush() string { h := m.held; m.held = ""; return h }

func finishReason(res model.Result, stoppedByString, stoppedByAlert bool) string {
	switch {
	case stoppedByAlert:
		return "content_filter"
	case stoppedByString, res.Reason == model.StopEOS:
		return "stop"
	case res.Reason == model.StopLength, res.Reason == model.StopContext:
		return "length"
	}
	return "stop"
}
