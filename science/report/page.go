package report

import (
	"errors"
	"html/template"
	"io"
)

// pageOnlySrc is a page of sections alone, for results that stand without a
// validation run (limbic watch's training view), in the report's style.
const pageOnlySrc = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0; color: #222; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.25em; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.note { color: #555; font-size: 0.9em; max-width: 860px; }
table { border-collapse: collapse; font-size: 0.88em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
.scroll { overflow-x: auto; }
.figures { display: flex; flex-wrap: wrap; gap: 8px; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>{{with .Version}}
<p class="note">limbic {{.}}</p>{{end}}
{{range .Sections}}
<h2 id="{{.ID}}">{{.Title}}</h2>
{{if .Note}}<p class="note">{{.Note}}</p>{{end}}
{{with .Figure}}<div class="scroll figure">{{.}}</div>{{end}}
{{if .Rows}}<div class="scroll"><table>
<tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td{{with .Style}} style="{{.}}"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</table></div>{{end}}
{{end}}
</main>
</body>
</html>
`

var pageOnly = template.Must(template.New("sections").Parse(pageOnlySrc))

// WriteSections renders a self-contained page of sections alone, without a
// validation result (see Write for the full report).
func WriteSections(w io.Writer, title, version string, sections []Section) error {
	if len(sections) == 0 {
		return errors.New("report: no sections")
	}
	return pageOnly.Execute(w, struct {
		Title, Version string
		Sections       []Section
	}{title, version, sections})
}
