package patching

import (
	"fmt"
	"html"
	"io"
	"math"

	"github.com/limbic-dev/limbic/internal/atomicfile"
)

// WriteSVG writes the normalised result as a heatmap (atomically): layers
// down, positions across labelled by token, a diverging scale from blue
// (−1) through white (0) to red (+1, the clean value), each cell with its
// value.
func (r *Result) WriteSVG(path string) error {
	return atomicfile.WriteFile(path, 0o644, r.svg)
}

func (r *Result) svg(w io.Writer) error {
	const cell, left, top, legend = 44, 120, 110, 60
	nr, nc := len(r.Points), len(r.Tokens)
	width, height := left+nc*cell+20, top+nr*cell+legend
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%d" y="18" font-size="13">activation patching: %s, %s (clean %.3g, corrupt %.3g)</text>`+"\n",
		10, html.EscapeString(r.Hook), html.EscapeString(r.Metric), r.Clean, r.Corrupt)
	for j, t := range r.Tokens {
		x := left + j*cell + cell/2
		p(`<text transform="translate(%d,%d) rotate(-60)" text-anchor="start">%s</text>`+"\n", x, top-6, html.EscapeString(t))
	}
	for i, pt := range r.Points {
		y := top + i*cell
		p(`<text x="%d" y="%d" text-anchor="end">layer %d</text>`+"\n", left-6, y+cell/2+4, r.Layers[i])
		for j, v := range r.Normalized[i] {
			x := left + j*cell
			p(`<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s pos %d: %.4g (patched %.4g)</title></rect>`+"\n",
				x, y, cell, cell, color(v), html.EscapeString(pt), j, v, r.Patched[i][j])
			p(`<text x="%d" y="%d" text-anchor="middle" font-size="10">%.2f</text>`+"\n", x+cell/2, y+cell/2+4, v)
		}
	}
	ly := top + nr*cell + 20
	for k := 0; k <= 20; k++ {
		v := -1 + float64(k)/10
		p(`<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", left+k*12, ly, color(v))
	}
	p(`<text x="%d" y="%d" text-anchor="end">−1</text><text x="%d" y="%d">+1 (clean)</text>`+"\n", left-4, ly+10, left+21*12+4, ly+10)
	p("</svg>\n")
	return nil
}

// color maps v in [−1, 1] (clamped) to blue–white–red.
func color(v float64) string {
	if math.IsNaN(v) {
		return "#888888"
	}
	v = max(-1, min(1, v))
	c := func(a float64) int { return int(math.Round(255 * a)) }
	if v >= 0 {
		return fmt.Sprintf("#ff%02x%02x", c(1-v), c(1-v))
	}
	return fmt.Sprintf("#%02x%02xff", c(1+v), c(1+v))
}
