package behave

import (
	"fmt"
	"html"
	"slices"
	"strings"
)

// lineColors are the series colours of plots.
var lineColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"}

// Plot returns an SVG figure of a scenario's table: the target rate against
// steering strength, one line per emotion (and per layer and span when the
// sweep has several), with the Wilson 95% intervals as error bars. Cells
// with no gradable rollout are left out.
func Plot(r *Result) string {
	const W, H, left, right, top, bottom = 560.0, 340.0, 56.0, 130.0, 30.0, 46.0
	pw, ph := W-left-right, H-top-bottom
	type series struct {
		name  string
		cells []CellResult
	}
	var ss []series
	multi := multiLayerSpan(r.Cells)
	for _, c := range r.Cells {
		name := c.Emotion
		if multi {
			name = fmt.Sprintf("%s @%s:%s", c.Emotion, c.Layer, c.Span)
		}
		i := slices.IndexFunc(ss, func(s series) bool { return s.name == name })
		if i < 0 {
			ss = append(ss, series{name: name})
			i = len(ss) - 1
		}
		ss[i].cells = append(ss[i].cells, c)
	}
	lo, hi := 0.0, 0.0
	for i, c := range r.Cells {
		if i == 0 || c.Strength < lo {
			lo = c.Strength
		}
		if i == 0 || c.Strength > hi {
			hi = c.Strength
		}
	}
	if hi == lo {
		lo, hi = lo-1, hi+1
	}
	pad := (hi - lo) * 0.05 // keep the end points off the frame
	lo, hi = lo-pad, hi+pad
	x := func(v float64) float64 { return left + (v-lo)/(hi-lo)*pw }
	y := func(p float64) float64 { return top + (1-p)*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" font-family="sans-serif" font-size="11">`, W, H, W, H)
	fmt.Fprintf(&b, `<title>%s: rate of %q against steering strength</title>`, html.EscapeString(r.Name), html.EscapeString(r.Target))
	fmt.Fprintf(&b, `<text x="%g" y="16" font-size="13" font-weight="bold">%s</text>`, left, html.EscapeString(r.Name))
	for _, p := range []float64{0, 0.25, 0.5, 0.75, 1} {
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/>`, left, y(p), left+pw, y(p))
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end">%g</text>`, left-6, y(p)+4, p)
	}
	var ticks []float64
	for _, c := range r.Cells {
		if !slices.Contains(ticks, c.Strength) {
			ticks = append(ticks, c.Strength)
		}
	}
	for _, v := range ticks {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#999"/>`, x(v), top+ph, x(v), top+ph+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%g</text>`, x(v), top+ph+16, v)
	}
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#999"/>`, left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">steering strength (fraction of mean residual norm)</text>`, left+pw/2, H-8)
	fmt.Fprintf(&b, `<text transform="translate(14 %g) rotate(-90)" text-anchor="middle">rate of %s (95%% CI)</text>`, top+ph/2, html.EscapeString(r.Target))
	for si, s := range ss {
		col := lineColors[si%len(lineColors)]
		cs := slices.Clone(s.cells)
		slices.SortFunc(cs, func(a, b CellResult) int { return cmpFloat(a.Strength, b.Strength) })
		off := (float64(si) - float64(len(ss)-1)/2) * 3 // keep error bars apart
		var pts []string
		for _, c := range cs {
			if c.Rate == nil {
				continue
			}
			cx := x(c.Strength) + off
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", cx, y(*c.Rate)))
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-opacity="0.6"/>`, cx, y(c.CI[0]), cx, y(c.CI[1]), col)
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %g: %.2f [%.2f, %.2f], n=%d, unclear %d</title></circle>`,
				cx, y(*c.Rate), col, html.EscapeString(s.name), c.Strength, *c.Rate, c.CI[0], c.CI[1], c.N, c.Unclear)
		}
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`, strings.Join(pts, " "), col)
		}
		ly := top + 10 + float64(si)*16
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="2"/>`, left+pw+10, ly, left+pw+28, ly, col)
		fmt.Fprintf(&b, `<text x="%g" y="%g">%s</text>`, left+pw+32, ly+4, html.EscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func multiLayerSpan(cells []CellResult) bool {
	for _, c := range cells {
		if c.Layer != cells[0].Layer || c.Span != cells[0].Span {
			return true
		}
	}
	return false
}
