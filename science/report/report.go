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
	"slices"
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
	// Version is limbic's version (the command's main.version), shown with
	// the parameters and saved as "limbic_version" in the JSON.
	Version string
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
	// Figure, when set, is drawn between the note and the table: inline SVG
	// built from escaped text and numbers (LineChart, BarChart, Figures).
	Figure template.HTML
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
	Version     string            `json:"limbic_version,omitempty"`
	RunParams   map[string]string `json:"run_params,omitempty"`
	Experiments map[string]any    `json:"experiments,omitempty"`
}

// JSON returns the report's numbers as indented JSON.
func JSON(in Input) ([]byte, error) {
	if in.Result == nil {
		return nil, errors.New("report: no validation result")
	}
	doc := Doc{Result: in.Result, Title: title(in), Version: in.Version, RunParams: in.Params}
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
	Version      string
}

// Write renders the HTML page.
func Write(w io.Writer, in Input) error {
	r := in.Result
	if r == nil || len(r.Layers) == 0 {
		return errors.New("report: no validation result")
	}
	v := view{Title: title(in), R: r, Accuracy: accuracyCurve(r), Legend: legend(), Extra: in.Sections, Version: in.Version,
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
	v.Params = paramTable(in)
	return page.Execute(w, v)
}

// paramAliases name the same parameter under the vector pack's key and the
// run's: the table shows it once, under the run's name.
var paramAliases = map[string]string{
	"max_tokens":    "max tokens per story",
	"neutral_texts": "neutral texts",
	"per_topic":     "per topic",
}

// paramTable lists every parameter once, sorted: the validation's (from
// the vector pack), the run's (in.Params) and the model's. A parameter
// given under two spellings ("per_topic", "per topic") is one row; if the
// two values differ, the row shows both.
func paramTable(in Input) [][2]string {
	r := in.Result
	norm := func(k string) string {
		if a, ok := paramAliases[k]; ok {
			k = a
		}
		return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(k), "_", " "))
	}
	rows := map[string][2]string{} // normalised key → shown key, values
	// set adds a parameter; the first spelling given is shown.
	set := func(k, x string) {
		n := norm(k)
		old, ok := rows[n]
		switch {
		case !ok:
			rows[n] = [2]string{k, x}
		case !slices.Contains(strings.Split(old[1], "; "), x):
			rows[n] = [2]string{old[0], old[1] + "; " + x}
		}
	}
	keys := func(m map[string]string) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out) // a fixed order, so that a merged row reads the same every time
		return out
	}
	for _, k := range keys(in.Params) {
		set(k, in.Params[k])
	}
	vp := map[string]string{}
	for k, x := range r.Params {
		if a, ok := paramAliases[k]; ok {
			k = a
		}
		vp[strings.ReplaceAll(k, "_", " ")] = fmt.Sprint(x)
	}
	for _, k := range keys(vp) {
		set(k, vp[k])
	}
	set("model", r.Model.ID)
	set("model hash", r.Model.Hash)
	set("d_model / layers", fmt.Sprintf("%d / %d", r.Model.DModel, r.Model.NLayers))
	set("vectors", r.Kind)
	set("held-out stories", fmt.Sprint(r.HeldOut))
	if in.Version != "" {
		set("limbic version", in.Version)
	}
	out := make([][2]string, 0, len(rows))
	for _, row := range rows {
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
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
