package trainwatch

import (
	"context"
	"slices"
	"time"

	"github.com/limbic-dev/limbic/serve/monitor"
)

// series is the checkpoint series as the rules see it: results in
// evaluation order, their deltas against the first, and the rule
// evaluator's state.
type series struct {
	rev     *monitor.Evaluator // nil: no rules
	history []Record
}

func newSeries(rs *monitor.RuleSet) *series {
	s := &series{}
	if rs != nil {
		s.rev = rs.NewEvaluator()
	}
	return s
}

// add appends a result and returns its record and the alert events it
// causes. The position of a checkpoint is its step; a step at or below the
// last one observed is recorded but not observed by the rules.
func (s *series) add(r Result) (Record, []monitor.Event) {
	rec := Record{Result: r, BaselineStep: r.Step}
	base := r
	if len(s.history) > 0 {
		base = s.history[0].Result
		rec.BaselineStep = base.Step
	}
	for _, l := range r.Layers {
		d := Readout{Layer: l.Layer, Emotions: l.Emotions}
		if b, ok := base.Layer(l.Layer); ok {
			d.Cos, d.Proj, d.Z = sub(l.Cos, b.Cos), sub(l.Proj, b.Proj), sub(l.Z, b.Z)
		}
		rec.Delta = append(rec.Delta, d)
	}
	s.history = append(s.history, rec)
	if s.rev == nil {
		return rec, nil
	}
	return rec, s.rev.Observe(monitor.Sample{Pos: rec.Step, Generated: true, Value: rec.Value})
}

func sub(a, b []float64) []float64 {
	if a == nil || len(a) != len(b) {
		return nil
	}
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// restore rebuilds the series from the database: the stored results in
// evaluation order, replayed through the rules so that their states
// (pending, firing) continue where the last watcher left them. Events the
// replay causes that are not stored yet (the rules changed) are stored.
func restore(ctx context.Context, db *DB, rs *monitor.RuleSet, now time.Time) (*series, error) {
	s := newSeries(rs)
	stored, err := db.Results(ctx)
	if err != nil {
		return nil, err
	}
	var evs []monitor.Event
	for _, st := range stored {
		_, e := s.add(st.Result)
		evs = append(evs, e...)
	}
	if len(evs) > 0 {
		if _, err := db.AddAlerts(ctx, evs, now); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// DefaultRules are drift rules for a fine-tune, over the change since the
// first checkpoint at the main layer: desperate up by more than 1 z, calm
// down by more than 1 z, each held for 2 further checkpoints and resolved
// only once back within 0.5. Rules on emotions the pack lacks are left out
// (Validate would refuse them). The thresholds are starting points, not
// calibrated values.
func DefaultRules(emotions []string) []monitor.Rule {
	clear := func(v float64) *float64 { return &v }
	all := []monitor.Rule{
		{Name: "desperate-drift", Emotion: "desperate", Stat: monitor.DeltaZ, Op: monitor.Above, Threshold: 1, Clear: clear(0.5)},
		{Name: "calm-drift", Emotion: "calm", Stat: monitor.DeltaZ, Op: monitor.Below, Threshold: -1, Clear: clear(-0.5)},
	}
	var out []monitor.Rule
	for _, r := range all {
		if !slices.Contains(emotions, r.Emotion) {
			continue
		}
		r.Layer, r.For, r.Window, r.Severity = monitor.BestLayer, 2, 1, "warning"
		r.Labels = map[string]string{"source": "watch-default"}
		r.Action = monitor.Action{Type: monitor.Record}
		out = append(out, r)
	}
	return out
}
