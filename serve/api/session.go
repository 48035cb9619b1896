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
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/steer"
	"github.com/limbic-dev/limbic/science/vecpack"
	"github.com/limbic-dev/limbic/serve/monitor"
	"github.com/limbic-dev/limbic/serve/store"
)

// genParams are a request's generation settings after validation.
type genParams struct {
	prompt   []int
	max      int
	sampling model.Sampling
	stops    []string
	ext      *Extension
	request  []byte // the request body, stored with the conversation
}

// posReadout holds one position's readouts, by layer, until the monitor
// has seen them.
type posReadout struct {
	pos     int
	byLayer map[int]*readout.Scores
}

// session is one request's generation: its hooks, readouts, alert
// evaluator and the events it sends to the request's goroutine. Fields
// under "batcher goroutine" are touched only from hooks and onToken, which
// all run on the batcher's goroutine.
type session struct {
	s      *Server
	id     string
	p      genParams
	reader *readout.Reader // telemetry reader (nil without a pack or telemetry)
	stat   readout.Metric
	report []string // emotions reported per token (nil: top-k)
	topK   int
	every  int
	steers []string

	// batcher goroutine
	eval       *monitor.Evaluator
	pending    map[int]*posReadout // positions read but not yet evaluated
	evalNext   int                 // next position to evaluate
	leases     []monitor.ActiveSteer
	nTokens    int
	generated  []int
	lastScores *readout.Scores // telemetry readout of the last evaluated position

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
	stop    bool // the id is a stop token
	readout *TokenReadout
	alerts  []monitor.Event
	trace   []store.Point
	done    bool
	result  model.Result
	err     error
}

// newSession validates the extension and builds the hooks.
func (s *Server) newSession(p genParams) (*session, *hook.Set, error) {
	ss := &session{s: s, id: newID("conv-"), p: p, topK: 5, every: 1, pending: map[int]*posReadout{}}
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
	if s.pack == nil || s.cfg.NoTelemetry {
		if p.ext != nil && p.ext.Readout != nil && !ro.Off {
			return nil, nil, badRequest("limbic.readout needs a vector pack and telemetry, and this server has %s", map[bool]string{true: "no pack", false: "telemetry off"}[s.pack == nil])
		}
		return ss, hs, nil
	}
	layer := s.defaultLayer()
	if ro.Layer != nil {
		layer = *ro.Layer
	}
	r, err := s.reader(layer)
	if err != nil {
		return nil, nil, badRequest("limbic.readout: %v", err)
	}
	ss.reader = r
	ss.stat = readout.ZScore
	if !r.HasBaseline() {
		ss.stat = readout.Projection
	}
	if ro.Stat != "" {
		m, err := readout.ParseMetric(ro.Stat)
		if err != nil {
			return nil, nil, badRequest("limbic.readout.stat: %v", err)
		}
		if m == readout.ZScore && !r.HasBaseline() {
			return nil, nil, badRequest("limbic.readout.stat z needs a neutral baseline, which the vector pack lacks")
		}
		ss.stat = m
	}
	for _, e := range ro.Emotions {
		if _, err := s.pack.EmotionIndex(e); err != nil {
			return nil, nil, badRequest("limbic.readout.emotions: %v", err)
		}
	}
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
	n := len(r.Emotions)
	ss.perEmo = make([][]float64, n)
	if r.HasBaseline() {
		ss.perEmoZ = make([][]float64, n)
	}
	// Counter-steers of regulate rules, applied while a lease covers the
	// position (added before the readers so that a regulated layer reads
	// the regulated activations).
	if s.rules != nil {
		ss.eval = s.rules.NewEvaluator()
		for _, rv := range s.regulate {
			for _, lv := range rv.vecs {
				rule, vec := rv.rule, lv.Vec
				hs.Add(hook.Block(lv.Layer, hook.ResidPost), func(a *hook.Act) {
					for _, l := range ss.leases {
						if l.Rule != rule {
							continue
						}
						for i := 0; i < a.Rows; i++ {
							if pos := a.Pos + i; pos >= l.From && pos < l.To {
								row := a.Row(i)
								for j := range row {
									row[j] += vec[j]
								}
							}
						}
					}
				})
			}
		}
	}
	// Readers: the telemetry layer and every layer a rule reads.
	layers := []int{layer}
	for _, l := range s.ruleLayers {
		if !slices.Contains(layers, l) {
			layers = append(layers, l)
		}
	}
	for _, l := range layers {
		rd, err := s.reader(l)
		if err != nil {
			return nil, nil, badRequest("limbic.readout: %v", err)
		}
		hs.Add(rd.Point(), rd.Hook(func(pos int, sc *readout.Scores) { ss.onReadout(l, pos, sc) }))
	}
	return ss, hs, nil
}

// onReadout keeps a position's readout at one layer (batcher goroutine).
func (ss *session) onReadout(layer, pos int, sc *readout.Scores) {
	pr := ss.pending[pos]
	if pr == nil {
		pr = &posReadout{pos: pos, byLayer: map[int]*readout.Scores{}}
		ss.pending[pos] = pr
	}
	c := &readout.Scores{Proj: slices.Clone(sc.Proj), Cos: slices.Clone(sc.Cos), Z: slices.Clone(sc.Z), Norm: sc.Norm}
	pr.byLayer[layer] = c
}

func statValues(st readout.Metric, sc *readout.Scores) []float32 {
	switch st {
	case readout.Cosine:
		return sc.Cos
	case readout.ZScore:
		return sc.Z
	}
	return sc.Proj
}

// evaluate feeds the monitor every read position up to last, in order, and
// returns the alert events and the trace points (batcher goroutine).
func (ss *session) evaluate(last int, ids func(pos int) int) ([]monitor.Event, []store.Point) {
	var evs []monitor.Event
	var pts []store.Point
	promptLen := len(ss.p.prompt)
	for ; ss.evalNext <= last; ss.evalNext++ {
		pos := ss.evalNext
		pr := ss.pending[pos]
		if pr == nil {
			if pos == last {
				ss.lastScores = nil
			}
			continue
		}
		delete(ss.pending, pos)
		if pos == last {
			ss.lastScores = pr.byLayer[ss.reader.Layer]
		}
		if ss.eval != nil {
			value := func(k monitor.Key) (float64, bool) {
				sc := pr.byLayer[k.Layer]
				if sc == nil {
					return 0, false
				}
				e, ok := ss.s.emoIndex[k.Emotion]
				vs := statValues(readout.Metric(k.Stat), sc)
				if !ok || e >= len(vs) {
					return 0, false
				}
				return float64(vs[e]), true
			}
			for _, ev := range ss.eval.Observe(monitor.Sample{Pos: pos, Generated: pos >= promptLen-1, Value: value}) {
				evs = append(evs, ev)
				if ev.Stop() {
					ss.stop.Store(true)
					ss.stoppedBy.Store(ev.Rule)
				}
			}
		}
		if stride := ss.s.cfg.TraceStride; ss.s.store != nil && stride > 0 && pos%stride == 0 {
			if sc := pr.byLayer[ss.reader.Layer]; sc != nil {
				pts = append(pts, store.Point{ConversationID: ss.id, Pos: pos, TokenID: ids(pos), Generated: pos >= promptLen,
					Values: slices.Clone(statValues(ss.stat, sc))})
			}
		}
	}
	if ss.eval != nil {
		ss.leases = ss.eval.Steers(last + 1)
	}
	return evs, pts
}

// onToken runs on the batcher goroutine for every sampled token.
func (ss *session) onToken(t model.Token) bool {
	ev := event{id: t.ID, stop: t.Stop}
	if ss.reader != nil {
		last := len(ss.p.prompt) - 1 + ss.nTokens // the position this token was sampled from
		ev.alerts, ev.trace = ss.evaluate(last, func(pos int) int {
			if pos < len(ss.p.prompt) {
				return ss.p.prompt[pos]
			}
			return ss.generated[pos-len(ss.p.prompt)]
		})
		if ss.stop.Load() {
			// An alert stopped the sequence at the position this token was
			// sampled from: the token is not emitted.
			ev.stop, t.Stop = true, true
		} else if !t.Stop {
			ss.recordToken(t, last, &ev)
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

// recordToken adds a generated token's readout to the summary and, every
// n-th token, to the response (batcher goroutine).
func (ss *session) recordToken(t model.Token, pos int, ev *event) {
	sc := ss.lastScores
	if sc == nil {
		return
	}
	vals := statValues(ss.stat, sc)
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
			tr.Scores[name] = vals[ss.s.emoIndex[name]]
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
