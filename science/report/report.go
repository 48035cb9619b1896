package report

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/validate"
)

// Input is what a report shows.
type Input struct {
	Title  string
	Result *validate.Result
	// Params are the run's parameters (command, model path, generator,
	// seeds, story counts, timings...), shown in a table and saved in the JSON.
	Params map[string]string
	// Sections are further results (the sanity experiments), shown after the
	// validation and saved under "experiments" in the JSON by ID.
	Sections []Section
}

// Section is a further result on the page: a note, a table (cells may be
// coloured by a value in [-1, 1]) and its JSON.
type Section struct {
	ID    string // key in report.json's "experiments"
	Title string
	Note  string
	Head  []string
	Rows  [][]Cell
	JSON  any
	// Steering, when set, marks a result obtained under steering (specs
	// such as "calm=0.1@3"); the page labels the section as steered.
	Steering []string
}

// Cell is a table cell; Tone in [-1, 1] colours it (0: no colour).
type Cell struct {
	Text string
	Tone float64
}

// Style returns the cell's inline background style.
func (c Cell) Style() template.CSS {
	if c.Tone == 0 {
		return ""
	}
	return template.CSS("background:" + diverging(max(-1, min(1, c.Tone))))
}

// Doc is the JSON document saved as report.json: the validation result with
// the run parameters. Its top level carries the fields of validate.Result
// ("core", "best_layer", "layers", ...).
type Doc struct {
	*validate.Result
	Title       string            `json:"title"`
	RunParams   map[string]string `json:"run_params,omitempty"`
	Experiments map[string]any    `json:"experiments,omitempty"`
}

// JSON returns the report's numbers as indented JSON.
func JSON(in Input) ([]byte, error) {
	if in.Result == nil {
		return nil, errors.New("report: no validation result")
	}
	doc := Doc{Result: in.Result, Title: title(in), RunParams: in.Params}
	for _, sec := range in.Sections {
		if sec.ID != "" && sec.JSON != nil {
			if doc.Experiments == nil {
				doc.Experiments = map[string]any{}
			}
			doc.Experiments[sec.ID] = sec.JSON
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

func title(in Input) string {
	if in.Title != "" {
		return in.Title
	}
	id := in.Result.Model.ID
	if id == "" {
		id = "model"
	}
	return "Emotion vectors of " + id
}

//go:embed report.html.tmpl
var pageSrc string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
	"pctp": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100**v)
	},
	"f3": func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"f3p": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.3f", *v)
	},
	"tokens": func(ts []validate.TokenScore) string {
		var s []string
		for _, t := range ts {
			s = append(s, fmt.Sprintf("%q", t.Text))
		}
		return strings.Join(s, " ")
	},
}).Parse(pageSrc))

type section struct {
	Name     string
	Analysis *validate.Analysis
	PCA      template.HTML
	Cosine   template.HTML
	Confuse  template.HTML
}

type view struct {
	Title        string
	R            *validate.Result
	Accuracy     template.HTML
	Sections     []section
	Legend       []legendItem
	CosineBar    template.HTML
	ConfusionBar template.HTML
	Params       [][2]string
	Best         validate.LayerResult
	CoreIsAll    bool // the run is the core set: one set of figures
	Extra        []Section
}

// Write renders the HTML page.
func Write(w io.Writer, in Input) error {
	r := in.Result
	if r == nil || len(r.Layers) == 0 {
		return errors.New("report: no validation result")
	}
	v := view{Title: title(in), R: r, Accuracy: accuracyCurve(r), Legend: legend(), Extra: in.Sections,
		CosineBar: colorBar(diverging, -1, 1, "cosine"), ConfusionBar: colorBar(sequential, 0, 1, "share of the row")}
	infos := map[string]validate.EmotionInfo{}
	for _, e := range r.Emotions {
		infos[e.Name] = e
	}
	for _, l := range r.Layers {
		if l.Layer == r.BestLayer {
			v.Best = l
		}
	}
	if v.Best.All == nil {
		return fmt.Errorf("report: best layer %d has no analysis", r.BestLayer)
	}
	add := func(name string, a *validate.Analysis) {
		v.Sections = append(v.Sections, section{Name: name, Analysis: a, PCA: pcaMap(a, infos),
			Cosine: cosineHeatmap(a, infos), Confuse: confusionHeatmap(a, infos)})
	}
	if v.Best.Core != nil {
		add(fmt.Sprintf("Core set (%d emotions)", len(v.Best.Core.Emotions)), v.Best.Core)
	}
	// Pointer equality does not survive a JSON round trip; a missing core
	// analysis at the best layer with a core summary means the same thing.
	v.CoreIsAll = r.Core != nil && (r.Core == r.All || v.Best.Core == nil)
	if v.CoreIsAll {
		add(fmt.Sprintf("Core set (%d emotions, the whole run)", len(v.Best.All.Emotions)), v.Best.All)
	} else {
		add(fmt.Sprintf("All emotions of the run (%d)", len(v.Best.All.Emotions)), v.Best.All)
	}
	params := map[string]string{}
	for k, x := range r.Params {
		params[k] = fmt.Sprint(x)
	}
	for k, x := range in.Params {
		params[k] = x
	}
	params["model"] = r.Model.ID
	params["model hash"] = r.Model.Hash
	params["d_model / layers"] = fmt.Sprintf("%d / %d", r.Model.DModel, r.Model.NLayers)
	params["vectors"] = r.Kind
	params["held-out stories"] = fmt.Sprint(r.HeldOut)
	for k, x := range params {
		v.Params = append(v.Params, [2]string{k, x})
	}
	sort.Slice(v.Params, func(i, j int) bool { return v.Params[i][0] < v.Params[j][0] })
	return page.Execute(w, v)
}

// WriteFiles writes dir/report.html and dir/report.json, each atomically.
func WriteFiles(dir string, in Input) (htmlPath, jsonPath string, err error) {
	var buf bytes.Buffer
	if err := Write(&buf, in); err != nil {
		return "", "", err
	}
	js, err := JSON(in)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	htmlPath, jsonPath = filepath.Join(dir, "report.html"), filepath.Join(dir, "report.json")
	// 0644: reports are for sharing.
	if err := atomicfile.WriteBytes(htmlPath, 0o644, buf.Bytes()); err != nil {
		return "", "", err
	}
	if err := atomicfile.WriteBytes(jsonPath, 0o644, append(js, '\n')); err != nil {
		return "", "", err
	}
	return htmlPath, jsonPath, nil
}
