package scaling

import (
	"fmt"
	"html/template"
	"math"
	"slices"

	"github.com/limbic-dev/limbic/science/report"
)

// Sections are the study's report: the table behind every choice and a
// figure per axis.
func (r *Result) Sections() []report.Section {
	rows := slices.Clone(r.Rows)
	sortRows(rows)
	note := fmt.Sprintf("%s, %d emotions, %d topics. Held out: one story per emotion and topic (the model's own, %d stories in the base setting) and the hand-written stories the model did not write. "+
		"Each setting's figures are at its best layer by validate's rule (model-written top-1 over single layers); \"hand best\" is the hand-written set's best single layer; "+
		"\"mid\" is the mean of layers %v. Time: the estimated stories and extraction time of limbic run for the setting (training stories plus a fifth held out) at the measured rates "+
		"(%.0f generated tokens/s, %.0f read tokens/s). Study wall time %s.",
		r.Model, len(r.Emotions), r.Topics, r.baseHeld(), r.MidLayer, r.Rates.GenRate(), r.Rates.ReadRate(), dur(r.Seconds))
	if r.Best != nil {
		note += fmt.Sprintf(" Best combination: %s: top-1 %.1f%% own / %.1f%% hand-written at layer %d.", r.Best.Label, 100*r.Best.Top1, 100*r.Best.HandTop1, r.Best.BestLayer)
	}
	head := []string{"axis", "setting", "train / emotion", "layer", "top-1 own", "top-5 own", "top-1 hand", "top-5 hand", "hand best (layer)",
		"mid top-1 own / hand", "probe top-1 own / hand", "PC1 ρ", "PC1 share", "ARI", "est. time"}
	var cells [][]report.Cell
	for _, row := range rows {
		mid, midHand := row.at(r.midLabel(), row.PerLayer), row.at(r.midLabel(), row.HandLayer)
		probe := "–"
		if row.Probe != nil {
			probe = fmt.Sprintf("%s / %s", pct(row.Probe.Top1), pct(row.Probe.HandTop1))
		}
		cells = append(cells, []report.Cell{{Text: row.Axis}, {Text: row.Label}, {Text: fmt.Sprint(row.PerEmo)}, {Text: fmt.Sprint(row.BestLayer)},
			{Text: pct(row.Top1), Tone: row.Top1}, {Text: pct(row.Top5)}, {Text: pct(row.HandTop1), Tone: row.HandTop1}, {Text: pct(row.HandTop5)},
			{Text: fmt.Sprintf("%s (%d)", pct(row.BestHand.Top1), row.BestHand.Layer)},
			{Text: fmt.Sprintf("%s / %s", pct(mid), pct(midHand))}, {Text: probe},
			{Text: num(row.PC1Rho)}, {Text: pct(row.PC1Share)}, {Text: num(row.ARI)}, {Text: dur(row.Seconds)}})
	}
	return []report.Section{{ID: "scaling", Title: "Data scaling study", Note: note, Head: head, Rows: cells, JSON: r, Figure: r.figures()}}
}

func (r *Result) baseHeld() int {
	for _, row := range r.Rows {
		if row.Axis == "n" {
			return row.HeldOut
		}
	}
	return 0
}

func (r *Result) midLabel() int {
	if len(r.Layers) == 0 {
		return -1
	}
	return r.Layers[len(r.Layers)-1] + 1
}

func (row *Row) at(layer int, s []Score) float64 {
	for _, x := range s {
		if x.Layer == layer {
			return x.Top1
		}
	}
	return math.NaN()
}

func (r *Result) figures() template.HTML {
	var figs []template.HTML
	axis := func(name, title, xlabel string, x func(Row) float64, tick func(Row) string, logX bool) {
		var xs, own, hand, own5 []float64
		var ticks []string
		for _, row := range r.Rows {
			if row.Axis != name {
				continue
			}
			xs = append(xs, x(row))
			ticks = append(ticks, tick(row))
			own, hand, own5 = append(own, row.Top1), append(hand, row.HandTop1), append(own5, row.Top5)
		}
		if len(xs) < 2 {
			return
		}
		figs = append(figs, report.LineChart{Title: title, XLabel: xlabel, YLabel: "held-out accuracy", X: xs, XTicks: ticks, LogX: logX,
			Series: []report.Series{{Name: "top-1, own stories", Y: own}, {Name: "top-1, hand-written", Y: hand}, {Name: "top-5, own stories", Y: own5}}}.SVG())
	}
	axis("n", "Stories per emotion", "training stories per emotion", func(w Row) float64 { return float64(w.PerEmo) },
		func(w Row) string { return fmt.Sprint(w.PerEmo) }, true)
	// Sizes at each length read from the main pool.
	byLen := map[int][2][]float64{}
	var lens []int
	for _, row := range r.Rows {
		if row.Axis != "n×length" && !(row.Axis == "n" && row.Length > 0) {
			continue
		}
		v, ok := byLen[row.Length]
		if !ok {
			lens = append(lens, row.Length)
		}
		v[0], v[1] = append(v[0], row.Top1), append(v[1], row.HandTop1)
		byLen[row.Length] = v
	}
	if len(lens) > 1 {
		slices.Sort(lens)
		var xs []float64
		var ticks []string
		for _, row := range r.Rows {
			if row.Axis == "n" {
				xs = append(xs, float64(row.PerEmo))
				ticks = append(ticks, fmt.Sprint(row.PerEmo))
			}
		}
		var ser []report.Series
		for _, l := range lens {
			if v := byLen[l]; len(v[0]) == len(xs) {
				ser = append(ser, report.Series{Name: fmt.Sprintf("own, %d tokens", l), Y: v[0]}, report.Series{Name: fmt.Sprintf("hand, %d tokens", l), Y: v[1]})
			}
		}
		if len(ser) > 0 {
			figs = append(figs, report.LineChart{Title: "Stories per emotion at each length (top-1)", XLabel: "training stories per emotion", YLabel: "top-1",
				X: xs, XTicks: ticks, LogX: true, Series: ser}.SVG())
		}
	}
	axis("length", "Continuation length", "tokens per story", func(w Row) float64 { return float64(w.Length) },
		func(w Row) string { return fmt.Sprint(w.Length) }, false)
	axis("offset", "Token offset", "first averaged token", func(w Row) float64 { return float64(w.Offset) },
		func(w Row) string { return fmt.Sprint(w.Offset) }, false)
	axis("denoise", "Neutral variance removed", "share of neutral variance", func(w Row) float64 { return w.Fraction },
		func(w Row) string {
			if w.Fraction == 0 {
				return "off"
			}
			return fmt.Sprintf("%.0f%%", 100*w.Fraction)
		}, false)
	var groups []string
	var own, hand []float64
	for _, row := range r.Rows {
		if row.Axis == "openings" {
			groups = append(groups, row.Label)
			own, hand = append(own, row.Top1), append(hand, row.HandTop1)
		}
	}
	if len(groups) > 0 {
		figs = append(figs, report.BarChart{Title: "Opening variety", YLabel: "top-1", Groups: groups,
			Series: []report.BarSeries{{Name: "own stories", Y: own}, {Name: "hand-written", Y: hand}}}.SVG())
	}
	// Layers: the base setting's curve over the layers, mid last.
	for _, row := range r.Rows {
		if row.Axis != "n" || len(row.PerLayer) < 2 {
			continue
		}
		if row.PerEmo != r.baseN() {
			continue
		}
		var xs, own, hand []float64
		var ticks []string
		for i, sc := range row.PerLayer {
			xs = append(xs, float64(i))
			own = append(own, sc.Top1)
			hand = append(hand, row.at(sc.Layer, row.HandLayer))
			t := fmt.Sprint(sc.Layer)
			if sc.Layer == r.midLabel() {
				t = "mid"
			}
			ticks = append(ticks, t)
		}
		figs = append(figs, report.LineChart{Title: "Layer (base setting)", XLabel: "layer", YLabel: "top-1", X: xs, XTicks: ticks,
			Series: []report.Series{{Name: "own stories", Y: own}, {Name: "hand-written", Y: hand}}}.SVG())
		break
	}
	if len(figs) == 0 {
		return ""
	}
	return report.Figures(figs...)
}

// baseN is the training size of the base setting (the offset axis's).
func (r *Result) baseN() int {
	for _, row := range r.Rows {
		if row.Axis == "offset" {
			return row.PerEmo
		}
	}
	return 0
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

func num(v *float64) string {
	if v == nil || math.IsNaN(*v) {
		return "–"
	}
	return fmt.Sprintf("%.2f", *v)
}

func dur(sec float64) string {
	if !(sec > 0) {
		return "–"
	}
	if sec < 90 {
		return fmt.Sprintf("%.0f s", sec)
	}
	return fmt.Sprintf("%.1f min", sec/60)
}
