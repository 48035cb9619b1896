package telemetry

import (
	"fmt"
	"slices"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/serve/monitor"
)

// SequenceOptions configure one sequence's telemetry.
type SequenceOptions struct {
	// Layer is the telemetry layer, whose readout Advance reports; -1 is the
	// pack's default layer.
	Layer int
	// Stat is the statistic of Point.Values; "" is z with a neutral baseline
	// and proj without.
	Stat readout.Metric
	// PromptLen is the number of prompt tokens: the rules' assistant scope
	// starts at the position the first token is sampled from, PromptLen-1.
	PromptLen int
	// NoRules skips the monitor's rules for this sequence.
	NoRules bool
}

// Sequence is the telemetry of one sequence. Its hooks and Advance run on
// the goroutine of the forward passes; Finish and StoppedBy are for after
// the sequence has ended.
type Sequence struct {
	m         *Monitor
	reader    *readout.Reader
	stat      readout.Metric
	promptLen int
	eval      *monitor.Evaluator

	pending   map[int]map[int]*readout.Scores // position → layer → readout, read but not yet evaluated
	next      int                             // next position to evaluate
	leases    []monitor.ActiveSteer           // counter-steers over the next forward's positions
	stoppedBy string
}

// Point is the readout of one position at the telemetry layer.
type Point struct {
	Pos    int
	Values []float32 // the sequence's Stat, parallel to the pack's emotions
}

// Step is what Advance reports for one sampled token.
type Step struct {
	// Points are the positions read since the last step, in order.
	Points []Point
	// Alerts are the rule events of those positions, in order.
	Alerts []monitor.Event
	// Scores is the telemetry layer's readout at the position the token was
	// sampled from (nil when it was not read).
	Scores *readout.Scores
	// Stop: a stop rule fired; the token sampled from this position must not
	// be emitted.
	Stop bool
}

// NewSequence adds a sequence's hooks to hs: the counter-steers of the
// regulate rules (added first, so a layer that is both regulated and read
// reads the regulated activations) and the readers of the telemetry layer
// and of every layer a rule reads.
func (m *Monitor) NewSequence(hs *hook.Set, o SequenceOptions) (*Sequence, error) {
	if hs == nil {
		return nil, fmt.Errorf("telemetry: no hook set")
	}
	layer := o.Layer
	if layer < 0 {
		layer = m.defaultLayer
	}
	r, err := m.Reader(layer)
	if err != nil {
		return nil, err
	}
	stat := o.Stat
	switch stat {
	case "":
		stat = readout.Projection
		if r.HasBaseline() {
			stat = readout.ZScore
		}
	case readout.ZScore:
		if !r.HasBaseline() {
			return nil, fmt.Errorf("telemetry: stat z needs a neutral baseline, which the vector pack lacks")
		}
	case readout.Projection, readout.Cosine:
	default:
		return nil, fmt.Errorf("telemetry: stat %q: want z, proj or cos", stat)
	}
	s := &Sequence{m: m, reader: r, stat: stat, promptLen: o.PromptLen, pending: map[int]map[int]*readout.Scores{}}
	layers := []int{layer}
	if m.rules != nil && !o.NoRules {
		s.eval = m.rules.NewEvaluator()
		for _, rv := range m.regulate {
			for _, lv := range rv.vecs {
				hs.Add(hook.Block(lv.Layer, hook.ResidPost), s.regulateHook(rv.rule, lv.Vec))
			}
		}
		for _, l := range m.ruleLayers {
			if !slices.Contains(layers, l) {
				layers = append(layers, l)
			}
		}
	}
	for _, l := range layers {
		rd, err := m.Reader(l)
		if err != nil {
			return nil, err
		}
		hs.Add(rd.Point(), rd.Hook(func(pos int, sc *readout.Scores) { s.keep(l, pos, sc) }))
	}
	return s, nil
}

// regulateHook adds vec over the positions of the rule's current lease: a
// steering hook whose span is the lease.
func (s *Sequence) regulateHook(rule string, vec []float32) hook.Func {
	return func(a *hook.Act) {
		for _, l := range s.leases {
			if l.Rule == rule {
				hook.AddVector(vec, hook.Spans{{From: l.From, To: l.To}})(a)
			}
		}
	}
}

// keep copies a position's readout at one layer until it is evaluated.
func (s *Sequence) keep(layer, pos int, sc *readout.Scores) {
	byLayer := s.pending[pos]
	if byLayer == nil {
		byLayer = map[int]*readout.Scores{}
		s.pending[pos] = byLayer
	}
	byLayer[layer] = &readout.Scores{Proj: slices.Clone(sc.Proj), Cos: slices.Clone(sc.Cos), Z: slices.Clone(sc.Z), Norm: sc.Norm}
}

// Reader returns the telemetry layer's reader.
func (s *Sequence) Reader() *readout.Reader { return s.reader }

// Layer returns the telemetry layer.
func (s *Sequence) Layer() int { return s.reader.Layer }

// Stat returns the statistic of the points' values.
func (s *Sequence) Stat() readout.Metric { return s.stat }

// Advance evaluates every position read up to last, the position the new
// token was sampled from, and sets the counter-steers for the next forward
// pass (position last+1).
func (s *Sequence) Advance(last int) Step {
	var st Step
	for ; s.next <= last; s.next++ {
		pos := s.next
		byLayer := s.pending[pos]
		if byLayer == nil {
			continue
		}
		delete(s.pending, pos)
		sc := byLayer[s.reader.Layer]
		if sc != nil {
			st.Points = append(st.Points, Point{Pos: pos, Values: Values(s.stat, sc)})
			if pos == last {
				st.Scores = sc
			}
		}
		if s.eval == nil {
			continue
		}
		value := func(k monitor.Key) (float64, bool) {
			sc := byLayer[k.Layer]
			e, ok := s.m.emoIndex[k.Emotion]
			if sc == nil || !ok {
				return 0, false
			}
			vs := Values(readout.Metric(k.Stat), sc)
			if e >= len(vs) {
				return 0, false
			}
			return float64(vs[e]), true
		}
		for _, ev := range s.eval.Observe(monitor.Sample{Pos: pos, Generated: pos >= s.promptLen-1, Value: value}) {
			st.Alerts = append(st.Alerts, ev)
			if ev.Stop() && s.stoppedBy == "" {
				s.stoppedBy = ev.Rule
			}
		}
	}
	if s.eval != nil {
		s.leases = s.eval.Steers(last + 1)
	}
	st.Stop = s.stoppedBy != ""
	return st
}

// Finish ends the sequence at last, the position of its last token: the
// alerts still firing resolve (reason "ended").
func (s *Sequence) Finish(last int) []monitor.Event {
	if s.eval == nil {
		return nil
	}
	return s.eval.Finish(last)
}

// StoppedBy returns the name of the stop rule that ended the sequence ("" if
// none did).
func (s *Sequence) StoppedBy() string { return s.stoppedBy }
