package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// svg builds an inline SVG element.
type svg struct {
	b    strings.Builder
	w, h float64
}

func newSVG(w, h float64) *svg {
	s := &svg{w: w, h: h}
	fmt.Fprintf(&s.b, `<svg width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="11">`, w, h, w, h)
	return s
}

func (s *svg) rect(x, y, w, h float64, fill, title string) {
	fmt.Fprintf(&s.b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s">`, x, y, w, h, fill)
	if title != "" {
		fmt.Fprintf(&s.b, `<title>%s</title>`, html.EscapeString(title))
	}
	s.b.WriteString(`</rect>`)
}

func (s *svg) line(x1, y1, x2, y2 float64, stroke string, width float64, dash bool) {
	d := ""
	if dash {
		d = ` stroke-dasharray="4 3"`
	}
	fmt.Fprintf(&s.b, `<line x1="%.2f" y1="%.2f" x2="%.2f" y2="%.2f" stroke="%s" stroke-width="%g"%s/>`, x1, y1, x2, y2, stroke, width, d)
}

func (s *svg) polyline(xs, ys []float64, stroke string, width float64, dash bool) {
	var pts []string
	for i := range xs {
		pts = append(pts, fmt.Sprintf("%.2f,%.2f", xs[i], ys[i]))
	}
	d := ""
	if dash {
		d = ` stroke-dasharray="5 3"`
	}
	fmt.Fprintf(&s.b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%g"%s/>`, strings.Join(pts, " "), stroke, width, d)
}

func (s *svg) circle(x, y, r float64, fill, title string) {
	fmt.Fprintf(&s.b, `<circle cx="%.2f" cy="%.2f" r="%g" fill="%s" stroke="#333" stroke-width="0.5">`, x, y, r, fill)
	if title != "" {
		fmt.Fprintf(&s.b, `<title>%s</title>`, html.EscapeString(title))
	}
	s.b.WriteString(`</circle>`)
}

// text draws a label; anchor is start, middle or end; rot rotates about (x, y).
func (s *svg) text(x, y float64, str, anchor string, size float64, fill string, rot float64) {
	tr := ""
	if rot != 0 {
		tr = fmt.Sprintf(` transform="rotate(%g %.2f %.2f)"`, rot, x, y)
	}
	fmt.Fprintf(&s.b, `<text x="%.2f" y="%.2f" text-anchor="%s" font-size="%g" fill="%s"%s>%s</text>`, x, y, anchor, size, fill, tr, html.EscapeString(str))
}

func (s *svg) html() template.HTML {
	s.b.WriteString(`</svg>`)
	return template.HTML(s.b.String()) // built only from escaped text and numbers
}

// diverging maps v in [-1, 1] to blue (−1) – white (0) – red (+1).
func diverging(v float64) string {
	v = math.Max(-1, math.Min(1, v))
	if math.IsNaN(v) {
		return "#ccc"
	}
	var r, g, b float64
	if v >= 0 {
		r, g, b = 255, 255*(1-v)+60*v, 255*(1-v)+60*v
	} else {
		a := -v
		r, g, b = 255*(1-a)+50*a, 255*(1-a)+100*a, 255
	}
	return fmt.Sprintf("#%02x%02x%02x", int(r), int(g), int(b))
}

// sequential maps v in [0, 1] to white – dark blue.
func sequential(v float64) string {
	v = math.Max(0, math.Min(1, v))
	r := 255 - v*(255-20)
	g := 255 - v*(255-60)
	b := 255 - v*(255-140)
	return fmt.Sprintf("#%02x%02x%02x", int(r), int(g), int(b))
}
