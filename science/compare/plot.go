package compare

import (
	_ "embed"
	"fmt"
	"html"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/limbic-dev/limbic/science/report"
)

//go:embed paper_posttrain.tsv
var paperTSV string

// PaperRow is one emotion of the paper's post-training comparison
// (Sofroniew et al. 2026, Appendix Table 16).
type PaperRow struct {
	Emotion          string
	Diff, Base, Post float64
}

// Paper returns the paper's per-emotion base and post-trained means and
// their difference, sorted by difference, largest first.
func Paper() ([]PaperRow, error) {
	var out []PaperRow
	for i, line := range strings.Split(paperTSV, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "emotion\t") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("compare: paper_posttrain.tsv:%d: %d fields, want 4", i+1, len(f))
		}
		r := PaperRow{Emotion: f[0]}
		for j, p := range []*float64{&r.Diff, &r.Base, &r.Post} {
			v, err := strconv.ParseFloat(f[j+1], 64)
			if err != nil {
				return nil, fmt.Errorf("compare: paper_posttrain.tsv:%d: %w", i+1, err)
			}
			*p = v
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Diff > out[j].Diff })
	return out, nil
}

// Section returns the report section of a comparison: the correlations in
// the note and one row per emotion (largest increase first), the difference
// coloured.
func Section(r *Result) report.Section {
	s := report.Section{
		ID:    "compare",
		Title: fmt.Sprintf("Base vs post-trained: %s → %s", r.A.Name, r.B.Name),
		Note: fmt.Sprintf("Mean cosine between each emotion vector (layer %d, %s) and the residual before the reply, over %d neutral and %d challenging prompts; "+
			"diff = B − A. Profiles r = %s (neutral %s, challenging %s); change vector, neutral vs challenging, r = %s (the paper: 0.90). "+
			"Mean |diff|: neutral %.4f, challenging %.4f.",
			r.Layer, r.Kind, r.Neutral, r.Challenging, r.RProfiles, r.RProfilesNeutral, r.RProfilesChallenging, r.RChange,
			r.MeanAbsDiffNeutral, r.MeanAbsDiffChallenging),
		Head: []string{"emotion", "A", "B", "diff", "diff (neutral)", "diff (challenging)"},
		JSON: r,
	}
	if len(r.Notes) > 0 {
		s.Note += " " + strings.Join(r.Notes, "; ") + "."
	}
	scale := 0.0
	for _, e := range r.Emotions {
		scale = math.Max(scale, math.Abs(e.Diff))
	}
	tone := func(d float64) float64 {
		if scale == 0 {
			return 0
		}
		return d / scale
	}
	for _, e := range r.Emotions {
		s.Rows = append(s.Rows, []report.Cell{
			{Text: e.Emotion}, {Text: fmt.Sprintf("%+.4f", e.A)}, {Text: fmt.Sprintf("%+.4f", e.B)},
			{Text: fmt.Sprintf("%+.4f", e.Diff), Tone: tone(e.Diff)},
			{Text: fmt.Sprintf("%+.4f", e.DiffNeutral)}, {Text: fmt.Sprintf("%+.4f", e.DiffChallenging)},
		})
	}
	return s
}

// bar is one labelled value of a panel.
type bar struct {
	label string
	v     float64
}

// extremes returns the top n and bottom n of bars sorted largest first
// (all of them when there are at most 2n).
func extremes(b []bar, n int) []bar {
	if len(b) <= 2*n {
		return b
	}
	out := append([]bar(nil), b[:n]...)
	return append(out, b[len(b)-n:]...)
}

// Plot returns an SVG figure like the paper's post-training figure: the n
// emotions that rose most and the n that fell most from A to B as
// horizontal bars, and beside them the paper's own numbers (Table 16) as a
// reference panel. n ≤ 0 means 10.
func Plot(r *Result, n int) (string, error) {
	if n <= 0 {
		n = 10
	}
	paper, err := Paper()
	if err != nil {
		return "", err
	}
	var ours, ref []bar
	for _, e := range r.Emotions { // sorted by Diff, largest first
		ours = append(ours, bar{e.Emotion, e.Diff})
	}
	for _, p := range paper {
		ref = append(ref, bar{p.Emotion, p.Diff})
	}
	ours, ref = extremes(ours, n), extremes(ref, n)
	rows := max(len(ours), len(ref))
	const (
		rowH, top, panelW, labelW, gap = 16.0, 48.0, 300.0, 110.0, 40.0
	)
	w := 2*(labelW+panelW) + gap + 20
	h := top + rowH*float64(rows) + 30
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`, w, h, w, h)
	fmt.Fprintf(&sb, `<rect width="100%%" height="100%%" fill="white"/>`)
	panel := func(x0 float64, title string, bars []bar) {
		fmt.Fprintf(&sb, `<text x="%.1f" y="16" font-size="13" font-weight="bold">%s</text>`, x0, html.EscapeString(title))
		fmt.Fprintf(&sb, `<text x="%.1f" y="32" fill="#555">change in mean cosine (B − A)</text>`, x0)
		m := 0.0
		for _, b := range bars {
			m = math.Max(m, math.Abs(b.v))
		}
		if m == 0 || math.IsNaN(m) {
			m = 1
		}
		axis := x0 + labelW + panelW/2
		half := panelW/2 - 48 // room for the value beside the bar
		fmt.Fprintf(&sb, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`, axis, top-4, axis, top+rowH*float64(len(bars)))
		for i, b := range bars {
			y := top + rowH*float64(i)
			bw := half * math.Abs(b.v) / m
			x, fill := axis, "#c0392b"
			if b.v < 0 {
				x, fill = axis-bw, "#2471a3"
			}
			fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %+.4f</title></rect>`,
				x, y+2, bw, rowH-4, fill, html.EscapeString(b.label), b.v)
			fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, x0+labelW-4, y+rowH-4, html.EscapeString(b.label))
			tx, anchor := axis+bw+3, "start"
			if b.v < 0 {
				tx, anchor = axis-bw-3, "end"
			}
			fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" text-anchor="%s" fill="#333">%+.4f</text>`, tx, y+rowH-4, anchor, b.v)
		}
	}
	panel(10, fmt.Sprintf("%s → %s (layer %d)", r.A.Name, r.B.Name, r.Layer), ours)
	panel(10+labelW+panelW+gap, "Paper: base → post-trained (Table 16)", ref)
	fmt.Fprintf(&sb, `<text x="10" y="%.1f" fill="#555">r_profiles %s · r_change (neutral vs challenging) %s (paper 0.90)</text>`,
		h-8, r.RProfiles, r.RChange)
	sb.WriteString("</svg>\n")
	return sb.String(), nil
}
