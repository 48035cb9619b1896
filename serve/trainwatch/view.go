package trainwatch

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"

	"github.com/limbic-dev/limbic/science/report"
	"github.com/limbic-dev/limbic/serve/monitor"
)

// Change is one emotion's change at the last checkpoint against the
// baseline, at the main layer.
type Change struct {
	Emotion string  `json:"emotion"`
	Z0      float64 `json:"z_baseline"` // NaN without a baseline in the pack
	Z       float64 `json:"z"`
	DZ      float64 `json:"dz"`
	Cos0    float64 `json:"cos_baseline"`
	Cos     float64 `json:"cos"`
	DCos    float64 `json:"dcos"`
	// MaxAbs is the largest |dz| (|dcos| without z) over the run, the
	// ranking of "most changed".
	MaxAbs float64 `json:"max_abs_change"`
}

// Changes ranks the emotions at layer by their largest change over the
// history (|dz|, or |dcos| when the pack has no baseline), largest first.
func Changes(history []Record, layer int) []Change {
	if len(history) == 0 {
		return nil
	}
	first, last := history[0], history[len(history)-1]
	l0, ok0 := first.Result.Layer(layer)
	l1, ok1 := last.Result.Layer(layer)
	if !ok0 || !ok1 {
		return nil
	}
	useZ := l1.Z != nil && l0.Z != nil
	out := make([]Change, len(l1.Emotions))
	for i, e := range l1.Emotions {
		c := Change{Emotion: e, Z0: math.NaN(), Z: math.NaN(), DZ: math.NaN(), Cos0: l0.Cos[i], Cos: l1.Cos[i], DCos: l1.Cos[i] - l0.Cos[i]}
		if useZ {
			c.Z0, c.Z, c.DZ = l0.Z[i], l1.Z[i], l1.Z[i]-l0.Z[i]
		}
		for _, r := range history {
			for _, d := range r.Delta {
				if d.Layer != layer {
					continue
				}
				v := d.Cos[i]
				if useZ {
					v = d.Z[i]
				}
				c.MaxAbs = math.Max(c.MaxAbs, math.Abs(v))
			}
		}
		out[i] = c
	}
	slices.SortStableFunc(out, func(a, b Change) int {
		switch {
		case a.MaxAbs > b.MaxAbs:
			return -1
		case a.MaxAbs < b.MaxAbs:
			return 1
		}
		return strings.Compare(a.Emotion, b.Emotion)
	})
	return out
}

// Section is the training view: the trajectories against step of the k
// most-changed emotions at the main layer (change since the baseline, with
// the checkpoints where an alert fired marked), the held-out loss when
// measured, and a table of every emotion's change at the last checkpoint.
func Section(history []Record, alerts []Alert, layer, k int) report.Section {
	sec := report.Section{ID: "training", Title: "Training: emotion readouts per checkpoint"}
	if len(history) == 0 {
		sec.Note = "No checkpoint evaluated yet."
		return sec
	}
	ch := Changes(history, layer)
	useZ := len(ch) > 0 && !math.IsNaN(ch[0].DZ)
	stat, statName := "dz", "z-score"
	if !useZ {
		stat, statName = "dcos", "cosine"
	}
	last := history[len(history)-1]
	sec.Note = fmt.Sprintf("%d checkpoints, steps %d to %d; baseline checkpoint-%d; readout at layer %d, the mean over %d probes of each emotion's %s at the last prompt token; change = checkpoint minus baseline. Dashed lines: checkpoints where an alert fired.",
		len(history), history[0].Step, last.Step, last.BaselineStep, layer, last.Probes, statName)
	xs := make([]float64, len(history))
	for i, r := range history {
		xs[i] = float64(r.Step)
	}
	chart := report.LineChart{Title: "Most-changed emotions (" + stat + ")", XLabel: "step", YLabel: stat, X: xs}
	for _, c := range ch[:min(k, len(ch))] {
		ys := make([]float64, len(history))
		for i, r := range history {
			ys[i] = math.NaN()
			if v, ok := r.Value(monitor.Key{Emotion: c.Emotion, Layer: layer, Stat: monitor.Stat(stat)}); ok {
				ys[i] = v
			}
		}
		chart.Series = append(chart.Series, report.Series{Name: c.Emotion, Y: ys})
	}
	var firing []string
	for _, a := range alerts {
		if a.Event.Kind == monitor.EventFiring {
			chart.Marks = append(chart.Marks, report.Mark{X: float64(a.Step), Label: a.Event.Rule})
			firing = append(firing, fmt.Sprintf("%s at step %d", a.Event.Rule, a.Step))
		}
	}
	figs := []template.HTML{chart.SVG()}
	if last.Loss != nil {
		ys := make([]float64, len(history))
		for i, r := range history {
			ys[i] = math.NaN()
			if r.Loss != nil {
				ys[i] = *r.Loss
			}
		}
		figs = append(figs, report.LineChart{Title: "Held-out loss", XLabel: "step", YLabel: "nats/token", X: xs, Series: []report.Series{{Name: "loss", Y: ys}}}.SVG())
	}
	figs = append(figs, behaviourCharts(history, xs)...)
	sec.Figure = report.Figures(figs...)
	if len(firing) > 0 {
		sec.Note += " Alerts fired: " + strings.Join(firing, "; ") + "."
	}
	sec.Head = []string{"emotion", "z baseline", "z last", "dz", "cos baseline", "cos last", "dcos", "max |change|"}
	f := func(v float64) string {
		if math.IsNaN(v) {
			return "–"
		}
		return fmt.Sprintf("%+.3f", v)
	}
	scale := 1.0
	if len(ch) > 0 && ch[0].MaxAbs > 0 {
		scale = ch[0].MaxAbs
	}
	for _, c := range ch {
		d := c.DZ
		if !useZ {
			d = c.DCos
		}
		sec.Rows = append(sec.Rows, []report.Cell{{Text: c.Emotion}, {Text: f(c.Z0)}, {Text: f(c.Z)}, {Text: f(c.DZ), Tone: d / scale},
			{Text: f(c.Cos0)}, {Text: f(c.Cos)}, {Text: f(c.DCos)}, {Text: fmt.Sprintf("%.3f", c.MaxAbs)}})
	}
	steps := make([]int, len(history))
	for i, r := range history {
		steps[i] = r.Step
	}
	type jsonChange struct {
		Emotion string   `json:"emotion"`
		DZ      *float64 `json:"dz,omitempty"`
		DCos    float64  `json:"dcos"`
		MaxAbs  float64  `json:"max_abs_change"`
	}
	var js []jsonChange
	for _, c := range ch {
		jc := jsonChange{Emotion: c.Emotion, DCos: c.DCos, MaxAbs: c.MaxAbs}
		if useZ {
			v := c.DZ
			jc.DZ = &v
		}
		js = append(js, jc)
	}
	sec.JSON = map[string]any{"steps": steps, "baseline_step": last.BaselineStep, "layer": layer, "last": js, "alerts": alerts}
	return sec
}

// behaviourCharts draws each scenario's rate against step with its Wilson
// interval as a band.
func behaviourCharts(history []Record, xs []float64) []template.HTML {
	var names []string
	for _, r := range history {
		for _, b := range r.Behaviour {
			if !slices.Contains(names, b.Scenario) {
				names = append(names, b.Scenario)
			}
		}
	}
	var out []template.HTML
	for _, name := range names {
		se := report.Series{Name: name, Y: make([]float64, len(history)), Lo: make([]float64, len(history)), Hi: make([]float64, len(history))}
		target := ""
		for i, r := range history {
			se.Y[i], se.Lo[i], se.Hi[i] = math.NaN(), math.NaN(), math.NaN()
			for _, b := range r.Behaviour {
				if b.Scenario == name && b.Rate != nil {
					se.Y[i], se.Lo[i], se.Hi[i] = *b.Rate, b.CI[0], b.CI[1]
					target = b.Target
				}
			}
		}
		out = append(out, report.LineChart{Title: name + " (unsteered)", XLabel: "step", YLabel: "rate of " + target, X: xs, Series: []report.Series{se}}.SVG())
	}
	return out
}
