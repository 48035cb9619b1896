package curate

import (
	"fmt"
	"html/template"
	"io"
	"text/tabwriter"

	"github.com/limbic-dev/limbic/science/report"
)

// share is n out of of as a percentage (0 for none).
func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// WriteTable writes the profiles before and after selection as a text
// table: per emotion the mean score and its change, and the share of
// documents it dominates.
func WriteTable(w io.Writer, s *Selection) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "emotion\tmean %s before\tafter\tchange\tdominant before\tafter\t\n", s.Before.Metric)
	for i, b := range s.Before.Emotions {
		a := s.After.Emotions[i]
		fmt.Fprintf(tw, "%s\t%+.3f\t%+.3f\t%+.3f\t%.1f%%\t%.1f%%\t\n", b.Emotion, b.Mean, a.Mean, a.Mean-b.Mean,
			share(b.Dominant, s.Before.Docs), share(a.Dominant, s.After.Docs))
	}
	fmt.Fprintf(tw, "documents\t%d\t%d\t\t\t\t\n", s.Before.Docs, s.After.Docs)
	fmt.Fprintf(tw, "tokens\t%d\t%d\t\t\t\t\n", s.Before.Tokens, s.After.Tokens)
	return tw.Flush()
}

var pageTmpl = template.Must(template.New("curate").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{padding:.2em .7em;text-align:right;border-bottom:1px solid #ddd}
td:first-child,th:first-child{text-align:left}.figures{display:flex;flex-wrap:wrap;gap:1em}
</style></head><body>
<h1>{{.Title}}</h1>
<p>{{.Sel.Before.Docs}} documents ({{.Sel.Before.Tokens}} tokens) scored; {{.Sel.After.Docs}} ({{.Sel.After.Tokens}} tokens) kept
{{- if .Sel.Expr}} by <code>{{.Sel.Expr}}</code>{{end}}
{{- if .Sel.PerDominant}}, at most {{.Sel.PerDominant}} per dominant emotion{{end}}.
Scores: the mean {{if eq .Sel.Before.Metric "z"}}z-score against the pack's neutral baseline{{else}}cosine with the emotion vector{{end}} over each document's tokens.</p>
{{.Figure}}
<table><tr><th>emotion</th><th>mean before</th><th>mean after</th><th>change</th><th>dominant before</th><th>dominant after</th></tr>
{{range .Rows}}<tr><td>{{.Emotion}}</td><td>{{printf "%+.3f" .Before}}</td><td>{{printf "%+.3f" .After}}</td><td>{{printf "%+.3f" .Change}}</td><td>{{printf "%.1f%%" .DomBefore}}</td><td>{{printf "%.1f%%" .DomAfter}}</td></tr>
{{end}}</table>
</body></html>
`))

// WriteHTML writes a self-contained page with the profiles before and after
// selection: bar charts of the mean score (with ± one standard deviation
// over documents) and of the share of documents each emotion dominates,
// and the table.
func WriteHTML(w io.Writer, s *Selection, title string) error {
	type row struct {
		Emotion                                    string
		Before, After, Change, DomBefore, DomAfter float64
	}
	var (
		rows           []row
		names          []string
		mb, ma, lb, hb []float64
		la, ha, db, da []float64
	)
	for i, b := range s.Before.Emotions {
		a := s.After.Emotions[i]
		names = append(names, b.Emotion)
		mb, ma = append(mb, b.Mean), append(ma, a.Mean)
		lb, hb = append(lb, b.Mean-b.Std), append(hb, b.Mean+b.Std)
		la, ha = append(la, a.Mean-a.Std), append(ha, a.Mean+a.Std)
		db, da = append(db, share(b.Dominant, s.Before.Docs)), append(da, share(a.Dominant, s.After.Docs))
		rows = append(rows, row{b.Emotion, b.Mean, a.Mean, a.Mean - b.Mean, db[i], da[i]})
	}
	means := report.BarChart{Title: "Mean score per document (whiskers: ± 1 sd)", YLabel: s.Before.Metric, Groups: names,
		Series: []report.BarSeries{{Name: "before", Y: mb, Lo: lb, Hi: hb}, {Name: "after", Y: ma, Lo: la, Hi: ha}}}
	dom := report.BarChart{Title: "Documents each emotion dominates", YLabel: "%", Groups: names,
		Series: []report.BarSeries{{Name: "before", Y: db}, {Name: "after", Y: da}}}
	return pageTmpl.Execute(w, map[string]any{"Title": title, "Sel": s, "Rows": rows, "Figure": report.Figures(means.SVG(), dom.SVG())})
}
