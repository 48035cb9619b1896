package readout

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"sort"
	"strings"
)

// Grid layout, in pixels.
const (
	gridCellW  = 14.0 // a token's column
	gridCellH  = 13.0 // an emotion's row
	gridLabelW = 110.0
	gridTokenH = 70.0 // rotated token texts above the grid
)

// gridLevels is the number of colour steps per sign: cells are drawn as one
// path per step, which keeps a 171-emotion grid of a long text small.
const gridLevels = 20

// cellColor maps v/scale in [-1, 1] to blue – white – red, as the page's
// token view does.
func cellColor(x float64) string {
	if math.IsNaN(x) {
		return "#cccccc"
	}
	x = math.Max(-1, math.Min(1, x))
	f := func(v float64) int { return int(math.Round(255 - 200*v)) }
	if x >= 0 {
		return fmt.Sprintf("#ff%02x%02x", f(x), f(x))
	}
	return fmt.Sprintf("#%02x%02xff", f(-x), f(-x))
}

func quantize(x float64) float64 {
	if math.IsNaN(x) {
		return x
	}
	return math.Round(math.Max(-1, math.Min(1, x))*gridLevels) / gridLevels
}

// gridSVG draws the emotions × tokens grid: a row per emotion (in the given
// order), a column per non-special token, each cell coloured by the value
// over the trace's scale. Hovering is done by the page's script from the
// data-* attributes.
func gridSVG(tr *Trace, emos []int) template.HTML {
	var cols []int
	for t, tok := range tr.Tokens {
		if !tok.Special {
			cols = append(cols, t)
		}
	}
	W := gridLabelW + gridCellW*float64(len(cols)) + 10
	H := gridTokenH + gridCellH*float64(len(emos)) + 4
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="grid" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="10" data-rows="%d" data-cols="%d">`,
		W, H, W, H, len(emos), len(cols))
	for c, t := range cols {
		x := gridLabelW + gridCellW*(float64(c)+0.5) + 3
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" transform="rotate(-60 %.1f %.1f)" fill="#333">%s</text>`,
			x, gridTokenH-4, x, gridTokenH-4, html.EscapeString(visible(tr.Tokens[t].Text)))
	}
	paths := map[string]*strings.Builder{}
	for r, e := range emos {
		y := gridTokenH + gridCellH*float64(r)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#222">%s</text>`,
			gridLabelW-5, y+gridCellH*0.75, html.EscapeString(tr.Emotions[e]))
		for c, t := range cols {
			v := 0.0
			if tr.Scale > 0 {
				v = float64(tr.Values[e][t]) / tr.Scale
			}
			fill := cellColor(quantize(v))
			p := paths[fill]
			if p == nil {
				p = &strings.Builder{}
				paths[fill] = p
			}
			fmt.Fprintf(p, "M%.1f %.1fh%.1fv%.1fh-%.1fz", gridLabelW+gridCellW*float64(c), y, gridCellW, gridCellH, gridCellW)
		}
	}
	fills := make([]string, 0, len(paths))
	for f := range paths {
		fills = append(fills, f)
	}
	sort.Strings(fills)
	for _, f := range fills {
		fmt.Fprintf(&b, `<path fill="%s" d="%s"/>`, f, paths[f].String())
	}
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#bbb"/>`,
		gridLabelW, gridTokenH, gridCellW*float64(len(cols)), gridCellH*float64(len(emos)))
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // escaped text and numbers only
}

// colorBar draws the grid's colour scale with numbers: −scale, −scale/2,
// 0, +scale/2 and +scale in the trace's metric.
func colorBar(tr *Trace) template.HTML {
	const W, H, x0, w = 360.0, 44.0, 20.0, 300.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="colorbar" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="10">`, W, H, W, H)
	n := 2*gridLevels + 1
	for i := 0; i < n; i++ {
		v := -1 + 2*float64(i)/float64(n-1)
		fmt.Fprintf(&b, `<rect x="%.2f" y="4" width="%.2f" height="12" fill="%s"/>`, x0+w*float64(i)/float64(n), w/float64(n)+0.3, cellColor(v))
	}
	for _, f := range []float64{-1, -0.5, 0, 0.5, 1} {
		x := x0 + w*(f+1)/2
		fmt.Fprintf(&b, `<line x1="%.1f" y1="16" x2="%.1f" y2="20" stroke="#333"/>`, x, x)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="30" text-anchor="middle" fill="#333">%s</text>`, x, html.EscapeString(fmtTick(f*tr.Scale)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="42" text-anchor="middle" fill="#333">%s (colour saturates at ±%s, the 99th percentile)</text>`,
		x0+w/2, html.EscapeString(string(tr.Metric)), html.EscapeString(fmtTick(tr.Scale)))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func fmtTick(v float64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%.3g", v)
}

// visible shows a token's text on one line: spaces as ␣, newlines as ⏎.
func visible(s string) string {
	return strings.NewReplacer(" ", "␣", "\n", "⏎", "\t", "⇥").Replace(s)
}
