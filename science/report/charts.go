package report

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// Series is one curve of a LineChart: Y at the chart's X, and, when Lo and
// Hi are set (same length as Y), a shaded band from Lo to Hi.
type Series struct {
	Name   string
	Color  string // default: the palette in order
	Y      []float64
	Lo, Hi []float64
}

// LineChart is a small plot of curves over shared x values, for a section's
// figure (dose curves and the like).
type LineChart struct {
	Title          string
	XLabel, YLabel string
	X              []float64
	XTicks         []string // tick labels at X (default: the numbers)
	// LogX spaces X logarithmically (all X must be positive).
	LogX   bool
	Series []Series
	// Marks are vertical dashed lines at x values with a short label (e.g.
	// the checkpoints where an alert fired).
	Marks []Mark
}

// Mark is a labelled vertical line of a LineChart.
type Mark struct {
	X     float64
	Label string
	Color string // default red
}

// SVG draws the chart: axes with titles and ticks, each series as a line
// with dots and, when set, its band. Non-finite values are left out.
func (c LineChart) SVG() template.HTML {
	const H, ml, mr, mt, mb = 230.0, 52.0, 30.0, 26.0, 44.0
	// A legend beside the plot when several series have names.
	named := 0
	for _, se := range c.Series {
		if se.Name != "" {
			named++
		}
	}
	legendW := 0.0
	if named > 1 {
		legendW = 140
	}
	W := 350.0 + legendW
	s := newSVG(W, H)
	s.b.WriteString(`<g class="figure-line">`)
	pw, ph := W-legendW-ml-mr, H-mt-mb
	s.text(ml+pw/2, 15, c.Title, "middle", 11.5, "#222", 0)
	xv := func(v float64) float64 {
		if c.LogX {
			return math.Log(v)
		}
		return v
	}
	xlo, xhi := math.Inf(1), math.Inf(-1)
	for _, v := range c.X {
		if f := xv(v); finite(f) {
			xlo, xhi = math.Min(xlo, f), math.Max(xhi, f)
		}
	}
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for _, se := range c.Series {
		for _, arr := range [][]float64{se.Y, se.Lo, se.Hi} {
			for _, v := range arr {
				if finite(v) {
					ylo, yhi = math.Min(ylo, v), math.Max(yhi, v)
				}
			}
		}
	}
	if !finite(xlo) || !finite(ylo) {
		s.text(W/2, H/2, "no data", "middle", 12, "#555", 0)
		s.b.WriteString(`</g>`)
		return s.html()
	}
	if xhi == xlo {
		xlo, xhi = xlo-1, xhi+1
	}
	if yhi-ylo < 1e-9 {
		ylo, yhi = ylo-1, yhi+1
	}
	pad := (yhi - ylo) * 0.06
	ylo, yhi = ylo-pad, yhi+pad
	x := func(v float64) float64 { return ml + pw*(xv(v)-xlo)/(xhi-xlo) }
	y := func(v float64) float64 { return mt + ph*(1-(v-ylo)/(yhi-ylo)) }
	for _, t := range ticks(ylo, yhi, 5) {
		s.line(ml, y(t), ml+pw, y(t), "#eee", 1, false)
		s.text(ml-5, y(t)+3.5, tickText(t), "end", 9.5, "#555", 0)
	}
	if ylo < 0 && yhi > 0 {
		s.line(ml, y(0), ml+pw, y(0), "#aaa", 1, false)
	}
	s.line(ml, mt, ml, mt+ph, "#888", 1, false)
	s.line(ml, mt+ph, ml+pw, mt+ph, "#888", 1, false)
	for i, v := range c.X {
		lab := fmt.Sprintf("%g", v)
		if i < len(c.XTicks) {
			lab = c.XTicks[i]
		}
		// Thin out crowded tick labels, keeping the first and last.
		if step := (len(c.X) + 7) / 8; step > 1 && i%step != 0 && i != len(c.X)-1 {
			continue
		}
		s.line(x(v), mt+ph, x(v), mt+ph+3, "#888", 1, false)
		s.text(x(v), mt+ph+14, lab, "middle", 9, "#555", 0)
	}
	for _, mk := range c.Marks {
		if !finite(xv(mk.X)) {
			continue
		}
		col := mk.Color
		if col == "" {
			col = "#c62828"
		}
		s.line(x(mk.X), mt, x(mk.X), mt+ph, col, 1.2, true)
		s.text(x(mk.X)+2, mt+9, mk.Label, "start", 8.5, col, 0)
	}
	s.text(ml+pw/2, H-6, c.XLabel, "middle", 10.5, "#333", 0)
	s.text(13, mt+ph/2, c.YLabel, "middle", 10.5, "#333", -90)
	for k, se := range c.Series {
		col := se.Color
		if col == "" {
			col = clusterColors[k%len(clusterColors)]
		}
		if len(se.Lo) == len(se.Y) && len(se.Hi) == len(se.Y) {
			var fwd, back []string
			for i := range se.Y {
				if i < len(c.X) && finite(xv(c.X[i])) && finite(se.Lo[i]) && finite(se.Hi[i]) {
					fwd = append(fwd, fmt.Sprintf("%.2f,%.2f", x(c.X[i]), y(se.Hi[i])))
					back = append([]string{fmt.Sprintf("%.2f,%.2f", x(c.X[i]), y(se.Lo[i]))}, back...)
				}
			}
			if len(fwd) > 0 {
				fmt.Fprintf(&s.b, `<polygon class="band" points="%s" fill="%s" fill-opacity="0.2" stroke="none"/>`,
					strings.Join(append(fwd, back...), " "), col)
			}
		}
		var xs, ys []float64
		var tips []string
		for i, v := range se.Y {
			if i < len(c.X) && finite(xv(c.X[i])) && finite(v) {
				xs, ys = append(xs, x(c.X[i])), append(ys, y(v))
				lab := fmt.Sprintf("%g", c.X[i])
				if i < len(c.XTicks) {
					lab = c.XTicks[i]
				}
				tips = append(tips, fmt.Sprintf("%s at %s: %s", se.Name, lab, tickText(v)))
			}
		}
		s.polyline(xs, ys, col, 1.8, false)
		for i := range xs {
			s.circle(xs[i], ys[i], 2.2, col, tips[i])
		}
		if legendW > 0 && se.Name != "" {
			ly := mt + 8 + float64(k)*14
			lx := W - legendW + 4
			s.line(lx, ly-3.5, lx+16, ly-3.5, col, 1.8, false)
			s.text(lx+20, ly, se.Name, "start", 9.5, "#333", 0)
		}
	}
	s.b.WriteString(`</g>`)
	return s.html()
}

// BarSeries is one bar per group of a BarChart: Y with an interval Lo..Hi
// drawn as a whisker when Lo and Hi are set (same length as Y).
type BarSeries struct {
	Name   string
	Color  string
	Y      []float64
	Lo, Hi []float64
}

// BarChart is a grouped bar chart (one group per label, one bar per series)
// with a legend, for a section's figure.
type BarChart struct {
	Title  string
	YLabel string
	Groups []string
	Series []BarSeries
}

// SVG draws the chart; group labels are rotated when they would not fit.
func (c BarChart) SVG() template.HTML {
	ng, ns := len(c.Groups), max(1, len(c.Series))
	bw := 9.0
	gw := bw*float64(ns) + 8
	const ml, mr, mt = 56.0, 130.0, 28.0
	maxLab := 0
	for _, g := range c.Groups {
		maxLab = max(maxLab, len([]rune(g)))
	}
	mb := 20 + float64(maxLab)*5.6
	pw := math.Max(240, gw*float64(ng))
	W, H := ml+pw+mr, mt+220+mb
	ph := 220.0
	s := newSVG(W, H)
	s.b.WriteString(`<g class="figure-bar">`)
	s.text(ml+pw/2, 16, c.Title, "middle", 11.5, "#222", 0)
	lo, hi := 0.0, 0.0
	for _, se := range c.Series {
		for _, arr := range [][]float64{se.Y, se.Lo, se.Hi} {
			for _, v := range arr {
				if finite(v) {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
		}
	}
	if hi-lo < 1e-9 {
		lo, hi = lo-1, hi+1
	}
	pad := (hi - lo) * 0.06
	lo, hi = lo-pad, hi+pad
	y := func(v float64) float64 { return mt + ph*(1-(v-lo)/(hi-lo)) }
	for _, t := range ticks(lo, hi, 5) {
		s.line(ml, y(t), ml+pw, y(t), "#eee", 1, false)
		s.text(ml-5, y(t)+3.5, tickText(t), "end", 9.5, "#555", 0)
	}
	s.line(ml, mt, ml, mt+ph, "#888", 1, false)
	s.line(ml, y(0), ml+pw, y(0), "#666", 1, false)
	s.text(14, mt+ph/2, c.YLabel, "middle", 10.5, "#333", -90)
	gx := pw / float64(max(ng, 1))
	for g, name := range c.Groups {
		x0 := ml + gx*float64(g) + (gx-bw*float64(ns))/2
		for k, se := range c.Series {
			if g >= len(se.Y) || !finite(se.Y[g]) {
				continue
			}
			col := se.Color
			if col == "" {
				col = clusterColors[k%len(clusterColors)]
			}
			v := se.Y[g]
			top, bot := y(math.Max(v, 0)), y(math.Min(v, 0))
			title := fmt.Sprintf("%s, %s: %s", name, se.Name, tickText(v))
			if len(se.Lo) == len(se.Y) && len(se.Hi) == len(se.Y) && finite(se.Lo[g]) && finite(se.Hi[g]) {
				title += fmt.Sprintf(" (%s … %s)", tickText(se.Lo[g]), tickText(se.Hi[g]))
			}
			xb := x0 + bw*float64(k)
			s.rect(xb, top, bw-1, math.Max(bot-top, 0.5), col, title)
			if len(se.Lo) == len(se.Y) && len(se.Hi) == len(se.Y) && finite(se.Lo[g]) && finite(se.Hi[g]) {
				cx := xb + (bw-1)/2
				s.b.WriteString(`<g class="whisker">`)
				s.line(cx, y(se.Lo[g]), cx, y(se.Hi[g]), "#222", 1, false)
				s.line(cx-2.5, y(se.Lo[g]), cx+2.5, y(se.Lo[g]), "#222", 1, false)
				s.line(cx-2.5, y(se.Hi[g]), cx+2.5, y(se.Hi[g]), "#222", 1, false)
				s.b.WriteString(`</g>`)
			}
		}
		cx := ml + gx*(float64(g)+0.5)
		s.text(cx+3, mt+ph+10, name, "end", 10, "#222", -60)
	}
	for k, se := range c.Series {
		col := se.Color
		if col == "" {
			col = clusterColors[k%len(clusterColors)]
		}
		ly := mt + 10 + float64(k)*16
		s.rect(ml+pw+14, ly-8, 12, 10, col, "")
		s.text(ml+pw+30, ly, se.Name, "start", 10.5, "#333", 0)
	}
	s.b.WriteString(`</g>`)
	return s.html()
}

// Figures lays several figures side by side (wrapping), as one section figure.
func Figures(figs ...template.HTML) template.HTML {
	var b strings.Builder
	b.WriteString(`<div class="figures">`)
	for _, f := range figs {
		b.WriteString(string(f))
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String()) // the parts are escaped SVG
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// ticks returns about n round values covering [lo, hi].
func ticks(lo, hi float64, n int) []float64 {
	raw := (hi - lo) / float64(max(n, 1))
	if !(raw > 0) || !finite(raw) {
		return nil
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step := p
	switch f := raw / p; {
	case f >= 5:
		step = 10 * p
	case f >= 2:
		step = 5 * p
	case f >= 1:
		step = 2 * p
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		out = append(out, v)
	}
	return out
}

func tickText(v float64) string {
	if math.Abs(v) < 5e-4 {
		return "0"
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}
