package readout

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"io"
)

//go:embed heatmap.html.tmpl
var heatmapTmpl string

var heatmap = template.Must(template.New("heatmap").Parse(heatmapTmpl))

// WriteHTML renders the trace as one self-contained HTML page (inline CSS and
// script, no network): the text as a heatmap for a chosen emotion, switchable
// among the trace's emotions, with each token's top emotions on hover.
// selected is the emotion shown first.
func WriteHTML(w io.Writer, tr *Trace, selected, title string) error {
	if selected == "" && len(tr.Emotions) > 0 {
		selected = tr.TopEmotions(1)[0]
	}
	data, err := json.Marshal(struct {
		Emotions []string    `json:"emotions"`
		Values   [][]float32 `json:"values"`
		Scale    float64     `json:"scale"`
		Tokens   []Token     `json:"tokens"`
		Selected string      `json:"selected"`
	}{tr.Emotions, tr.Values, tr.Scale, tr.Tokens, selected})
	if err != nil {
		return err
	}
	return heatmap.Execute(w, map[string]any{
		"Title":    title,
		"Trace":    tr,
		"Selected": selected,
		"Data":     template.JS(data), // json.Marshal escapes <, > and &
	})
}
