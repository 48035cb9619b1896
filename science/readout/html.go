package readout

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
)

//go:embed heatmap.html.tmpl
var heatmapTmpl string

var heatmap = template.Must(template.New("heatmap").Parse(heatmapTmpl))

// WriteHTML renders the trace as one self-contained HTML page (inline CSS and
// script, no network): the text as a heatmap for a chosen emotion, switchable
// among the trace's emotions, with each token's top emotions on hover, and
// an emotions × tokens grid with a numeric colour bar. selected is the
// emotion shown first; grid lists the grid's emotions in order (none: all
// of the trace's).
func WriteHTML(w io.Writer, tr *Trace, selected, title string, grid ...string) error {
	if selected == "" && len(tr.Emotions) > 0 {
		selected = tr.TopEmotions(1)[0]
	}
	index := map[string]int{}
	for i, e := range tr.Emotions {
		index[e] = i
	}
	var rows []int
	for _, e := range grid {
		i, ok := index[e]
		if !ok {
			return fmt.Errorf("readout html: grid emotion %q is not in the trace (%d emotions)", e, len(tr.Emotions))
		}
		rows = append(rows, i)
	}
	if len(grid) == 0 {
		for i := range tr.Emotions {
			rows = append(rows, i)
		}
	}
	data, err := json.Marshal(struct {
		Emotions []string    `json:"emotions"`
		Values   [][]float32 `json:"values"`
		Scale    float64     `json:"scale"`
		Tokens   []Token     `json:"tokens"`
		Selected string      `json:"selected"`
		Grid     []int       `json:"grid"`
	}{tr.Emotions, tr.Values, tr.Scale, tr.Tokens, selected, rows})
	if err != nil {
		return err
	}
	return heatmap.Execute(w, map[string]any{
		"Title":    title,
		"Trace":    tr,
		"Selected": selected,
		"Data":     template.JS(data), // json.Marshal escapes <, > and &
		"Grid":     gridSVG(tr, rows),
		"ColorBar": colorBar(tr),
		// The grid's geometry, for the hover script.
		"GridLabelW": gridLabelW, "GridCellW": gridCellW, "GridTokenH": gridTokenH, "GridCellH": gridCellH,
	})
}
