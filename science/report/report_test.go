package report

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/validate"
	"github.com/limbic-dev/limbic/science/vecpack"
)

type fakeLens struct{}

func (fakeLens) Unembed(v []float32) []float32 { return slices.Clone(v) }
func (fakeLens) TokenText(id int) string {
	return []string{"joy", "tears", "<b>", "calm", " rage"}[id%5]
}

// synthResult validates a synthetic pack: emotions planted along a valence
// axis plus their own directions, noisier at the first and last layers.
func synthResult(t testing.TB, emotions []string, seed uint64) *validate.Result {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 9))
	d, nl := 32, 6
	layers := []int{0, 1, 2, 3, 4, 5}
	model := vecpack.ModelInfo{ID: "synthetic-15M", Hash: "sha256:feed", DModel: d, NLayers: nl}
	m := vecpack.NewMeta(model, emotions, layers)
	m.TokenOffset, m.VarianceFraction, m.ShortPolicy = 50, 0.5, "skip"
	m.Counts = make([]int, len(emotions))
	p := &vecpack.Pack{Meta: m}
	h := vecpack.NewHeldOut(model, emotions, layers)
	n := len(emotions)
	stories := map[int][][]float32{}
	var labels []int
	for li := range layers {
		noise := []float64{3, 1.5, 0.8, 0.6, 1, 2}[li]
		raw := make([]float32, n*d)
		for e, name := range emotions {
			m.Counts[e] = 40
			val, _ := catalog.Valence(name)
			raw[e*d] = float32(3 * val)
			for j := 1; j < d; j++ {
				raw[e*d+j] = float32(rng.NormFloat64())
			}
		}
		p.Layers = append(p.Layers, vecpack.Layer{Raw: raw, Denoised: raw, Center: make([]float32, d)})
		p.Meta.LayerInfo = append(p.Meta.LayerInfo, vecpack.LayerInfo{Layer: li})
		s := 0
		for e := range emotions {
			for k := 0; k < 5; k++ {
				x := make([]float32, d)
				for j := range x {
					x[j] = raw[e*d+j] + float32(rng.NormFloat64()*noise)
				}
				stories[s] = append(stories[s], x)
				if li == 0 {
					labels = append(labels, e)
				}
				s++
			}
		}
	}
	for s, e := range labels {
		h.Add("s", e, stories[s])
	}
	r, err := validate.Run(p, h, validate.Options{Unembedder: fakeLens{}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var externalRef = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9]|<script|<link|@import|url\(`)

func TestReportCoreRun(t *testing.T) {
	r := synthResult(t, catalog.CoreNames(), 1)
	var buf bytes.Buffer
	in := Input{Result: r, Params: map[string]string{"command": "limbic run", "stories": "512"}}
	if err := Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if m := externalRef.FindString(page); m != "" {
		t.Errorf("page references something outside itself: %q", m)
	}
	for _, want := range []string{"<svg", "Accuracy per layer", "PCA of the emotion vectors", "Cosine similarity", "Confusion matrix",
		"Logit lens", "&#34;&lt;b&gt;&#34;", "Run parameters", "limbic run", "core top-1", "Exuberant Joy", "sha256:feed", "best layer"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<b>\"") {
		t.Error("token text not escaped")
	}
	if strings.Count(page, "<h2>Core set") != 1 || !strings.Contains(page, "the whole run") {
		t.Error("a core run should have exactly one section, named as the core set")
	}
}

func TestReportFullRunAndFiles(t *testing.T) {
	emotions := catalog.Emotions()
	r := synthResult(t, emotions, 2)
	dir := t.TempDir()
	hp, jp, err := WriteFiles(filepath.Join(dir, "out"), Input{Result: r})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(hp)
	if m := externalRef.Find(page); m != nil {
		t.Errorf("page references something outside itself: %q", m)
	}
	if !bytes.Contains(page, []byte("<h2>Core set (16 emotions)")) || !bytes.Contains(page, []byte("All emotions of the run (171)")) {
		t.Error("full run report lacks the core or the full section")
	}
	js, _ := os.ReadFile(jp)
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	core, _ := doc["core"].(map[string]any)
	for _, k := range []string{"top1", "top5", "pc1_sign_agreement"} {
		if _, ok := core[k]; !ok {
			t.Errorf("report.json core lacks %q", k)
		}
	}
	if _, ok := doc["best_layer"].(float64); !ok {
		t.Error("report.json lacks best_layer")
	}
	if l, _ := doc["layers"].([]any); len(l) != 6 {
		t.Errorf("report.json has %d layers", len(l))
	}
	if os.Getenv("LIMBIC_REPORT_OUT") != "" { // for looking at it
		os.WriteFile(os.Getenv("LIMBIC_REPORT_OUT"), page, 0o644)
	}
}

func TestReportErrors(t *testing.T) {
	if err := Write(&bytes.Buffer{}, Input{}); err == nil {
		t.Error("empty input accepted")
	}
	if _, err := JSON(Input{}); err == nil {
		t.Error("empty input accepted")
	}
}

// TestReportHandwritten checks the hand-written columns of the layer table
// and their absence without hand-written scores.
func TestReportHandwritten(t *testing.T) {
	r := synthResult(t, catalog.CoreNames(), 3)
	render := func() string {
		var buf bytes.Buffer
		if err := Write(&buf, Input{Result: r}); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	if page := render(); strings.Contains(page, "hand-written") {
		t.Error("a result without hand-written scores shows hand-written figures")
	}
	r.Handwritten = &validate.HeldOutScore{Name: "handwritten", Stories: 7, Skipped: 3, Emotions: []string{"happy", "sad"}, Counts: []int{3, 4},
		Layers: []validate.LayerScore{{Layer: 2, Top1: 0.123, Top5: 0.987}}}
	page := render()
	for _, want := range []string{"<th>hand-written top-1</th>", `<td class="n">12.3%</td><td class="n">98.7%</td>`,
		"7 stories written by hand", "2 of the run", "3 stories of other emotions skipped", "top-1, hand-written"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Layers without a hand-written score show dashes after the core
	// columns (dashes too in a core run): 5 of the 6 layers.
	dashes := `<td class="n">–</td><td class="n">–</td>` + "\n"
	if got := strings.Count(page, dashes+dashes); got != 5 {
		t.Errorf("%d rows with hand-written dashes, want 5", got)
	}
}
