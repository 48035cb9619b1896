package api

import (
	"context"
	"fmt"
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
)

// genParams are a request's generation settings after validation.
type genParams struct {
	prompt   []int
	max      int
	sampling model.Sampling
	stops    []string
	ext      *Extension
}

// session is one request's generation: its hooks, readout and events.
type session struct {
	s      *Server
	id     string
	p      genParams
	reader *readout.Reader
	stat   readout.Metric
	report []string // emotions reported per token (nil: top-k)
	topK   int
	every  int
	steers []string

	mu      sync.Mutex
	lastPos int
	last    readout.Scores // readout at lastPos
	perEmo  [][]float64    // generated-token values per reader emotion (chosen stat)
	perEmoZ [][]float64
	stop    atomic.Bool // end generation at the next token
	events  chan event
	nTokens int
}

// event is what the batcher goroutine tells the request's goroutine.
type event struct {
	id      int
	stop    bool // the id is a stop token
	readout *TokenReadout
	done    bool
	result  model.Result
	err     error
}

// newSession validates the extension and builds the hooks.
func (s *Server) newSession(p genParams) (*session, *hook.Set, error) {
	ss := &session{s: s, id: newID("conv-"), p: p, topK: 5, every: 1, lastPos: -1}
	if p.ext != nil && p.ext.ConversationID != "" {
		ss.id = p.ext.ConversationID
	}
	hs := &hook.Set{}
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
		if _, _, err := steer.Hooks(hs, specs, s.pack, steer.Options{Kind: vecpack.Denoised, NLayers: s.m.Layers, Dim: s.m.Dim, PromptLen: len(p.prompt)}); err != nil {
			return nil, nil, badRequest("limbic.steer: %v", err)
		}
	}
	ro := &ReadoutOptions{}
	if p.ext != nil && p.ext.Readout != nil {
		ro = p.ext.Readout
	}
	if s.pack == nil {
		if p.ext != nil && p.ext.Readout != nil && !ro.Off {
			return nil, nil, badRequest("limbic.readout needs a vector pack, and this server has none")
		}
		ss.events = make(chan event, p.max+8)
		return ss, hs, nil
	}
	layer := s.defaultLayer()
	if ro.Layer != nil {
		layer = *ro.Layer
	}
	r, err := readout.NewReader(s.pack, layer, nil, vecpack.Denoised)
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
	hs.Add(r.Point(), r.Hook(ss.onReadout))
	ss.events = make(chan event, p.max+8)
	return ss, hs, nil
}

// onReadout runs on the batcher goroutine for every position read.
func (ss *session) onReadout(pos int, sc *readout.Scores) {
	ss.mu.Lock()
	ss.lastPos = pos
	ss.last.Proj = append(ss.last.Proj[:0], sc.Proj...)
	ss.last.Cos = append(ss.last.Cos[:0], sc.Cos...)
	ss.last.Z = append(ss.last.Z[:0], sc.Z...)
	ss.last.Norm = sc.Norm
	ss.mu.Unlock()
}

func (ss *session) values(sc *readout.Scores) []float32 {
	switch ss.stat {
	case readout.Cosine:
		return sc.Cos
	case readout.ZScore:
		return sc.Z
	}
	return sc.Proj
}

// onToken runs on the batcher goroutine for every sampled token.
func (ss *session) onToken(t model.Token) bool {
	ev := event{id: t.ID, stop: t.Stop}
	if ss.reader != nil && !t.Stop {
		ss.mu.Lock()
		vals := ss.values(&ss.last)
		for e, v := range vals {
			ss.perEmo[e] = append(ss.perEmo[e], float64(v))
			if ss.perEmoZ != nil {
				ss.perEmoZ[e] = append(ss.perEmoZ[e], float64(ss.last.Z[e]))
			}
		}
		if ss.every > 0 && ss.nTokens%ss.every == 0 {
			tr := &TokenReadout{Index: ss.nTokens, Pos: ss.lastPos, Token: t.ID, Scores: map[string]float32{}}
			if ss.report != nil {
				for _, name := range ss.report {
					tr.Scores[name] = vals[slices.Index(ss.reader.Emotions, name)]
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
		ss.mu.Unlock()
	}
	if !t.Stop {
		ss.nTokens++
	}
	select {
	case ss.events <- ev:
	default: // cannot happen: the channel holds max tokens + slack
	}
	return !ss.stop.Load()
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

func finishReason(res model.Result, stoppedByString bool) string {
	switch {
	case stoppedByString, res.Reason == model.StopEOS:
		return "stop"
	case res.Reason == model.StopLength, res.Reason == model.StopContext:
		return "length"
	}
	return "stop"
}

var _ = fmt.Sprintf
