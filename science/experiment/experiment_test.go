package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/approx"
	"github.com/limbic-dev/limbic/internal/testref"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/steer"
	"github.com/limbic-dev/limbic/science/vecpack"
)

func TestSpearman(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		x, y []float64
		want float64 // NaN: undefined
	}{
		{[]float64{1, 2, 3, 4}, []float64{10, 20, 25, 100}, 1},
		{[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		{[]float64{1, 2, 3, 4, 5}, []float64{2, 1, 4, 3, 5}, 0.8},
		// A constant series has no ranking: undefined, not 0.
		{[]float64{1, 2, 3}, []float64{1, 1, 1}, nan},
		{[]float64{1}, []float64{2}, nan},
	}
	for _, tt := range tests {
		got := Spearman(tt.x, tt.y)
		if math.IsNaN(tt.want) != math.IsNaN(got) || !math.IsNaN(tt.want) && !(approx.Diff(got, tt.want) <= 1e-9) {
			t.Errorf("Spearman(%v, %v) = %v, want %v", tt.x, tt.y, got, tt.want)
		}
	}
}

// unembedPack builds a pack whose vector for each emotion, at every layer,
// is the (tied) embedding row of the word's first token: adding it late in
// the model raises that word's logit, so Feel must find every word rising
// when added and falling when subtracted.
func unembedPack(t *testing.T, m *model.Model, emos []string) *vecpack.Pack {
	t.Helper()
	ls := make([]int, m.Layers)
	for i := range ls {
		ls[i] = i
	}
	p := &vecpack.Pack{Meta: vecpack.NewMeta(vecpack.ModelInfo{ID: "t", DModel: m.Dim, NLayers: m.Layers}, emos, ls)}
	p.Meta.Counts = make([]int, len(emos))
	p.Meta.BestLayer = m.Layers - 1
	rows := make([]float32, len(emos)*m.Dim)
	env := &Env{Model: m}
	for i, e := range emos {
		ids, err := env.continuation("He felt", e)
		if err != nil {
			t.Fatal(err)
		}
		m.W.Output.Row(ids[0], rows[i*m.Dim:(i+1)*m.Dim])
	}
	for range ls {
		p.Meta.LayerInfo = append(p.Meta.LayerInfo, vecpack.LayerInfo{MeanResidNorm: 10})
		p.Layers = append(p.Layers, vecpack.Layer{Raw: rows, Denoised: rows, Center: make([]float32, m.Dim)})
	}
	for i := range p.Meta.LayerInfo {
		p.Meta.LayerInfo[i].Layer = i
	}
	return p
}

func loadModel(t *testing.T) *model.Model {
	testref.Stories15M(t)
	m, err := model.Load(context.Background(), model.Default, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestFeelFindsPlantedDirections(t *testing.T) {
	m := loadModel(t)
	emos := []string{"happy", "sad", "angry", "scared"}
	env := &Env{Model: m, Pack: unembedPack(t, m, emos), Layer: readout.Best}
	res, err := Feel(context.Background(), env, FeelOptions{Strength: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if res.RaiseRate != 1 || res.LowerRate != 1 {
		t.Errorf("raise %.2f lower %.2f (not raised %v, not lowered %v); matrix %v", res.RaiseRate, res.LowerRate, res.NotRaised, res.NotLowered, res.Plus)
	}
	for i, r := range res.DiagonalRank {
		if r != 0 {
			t.Errorf("%s: own word ranks %d among the risers", emos[i], r)
		}
	}
	if len(res.Layers) != 1 || res.Layers[0] != m.Layers-1 || len(res.Prompts) != 2 {
		t.Errorf("layers %v prompts %v", res.Layers, res.Prompts)
	}
	// The per-prompt own-word changes average to the matrices' diagonals.
	if len(res.OwnPlus) != len(emos) || len(res.OwnMinus) != len(emos) {
		t.Fatalf("own per prompt: %d and %d rows, want %d", len(res.OwnPlus), len(res.OwnMinus), len(emos))
	}
	for e := range emos {
		for _, c := range []struct {
			name string
			per  []float64
			mean float64
		}{{"plus", res.OwnPlus[e], res.Plus[e][e]}, {"minus", res.OwnMinus[e], res.Minus[e][e]}} {
			if len(c.per) != len(res.Prompts) {
				t.Fatalf("%s %s: %d prompts, want %d", emos[e], c.name, len(c.per), len(res.Prompts))
			}
			sum := 0.0
			for _, v := range c.per {
				sum += v
			}
			if d := math.Abs(sum/float64(len(c.per)) - c.mean); !(d <= 1e-9) {
				t.Errorf("%s %s: per-prompt %v average to %g, diagonal %g", emos[e], c.name, c.per, sum/float64(len(c.per)), c.mean)
			}
		}
	}
}

func TestDoseAndImplicitRun(t *testing.T) {
	m := loadModel(t)
	emos := []string{"happy", "sad", "scared", "lonely", "bored", "proud", "frustrated"}
	p := unembedPack(t, m, emos)
	env := &Env{Model: m, Pack: p, Layer: 3}
	d, err := Dose(context.Background(), env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Templates) != len(BaseDoseTemplates()) || d.Layer != 3 || d.Metric != "proj" {
		t.Fatalf("dose: %d templates, layer %d, metric %s", len(d.Templates), d.Layer, d.Metric)
	}
	monotone := 0
	for _, c := range d.Templates {
		if len(c.Readout) != len(c.X) {
			t.Errorf("%s: %d readouts for %d values", c.Name, len(c.Readout), len(c.X))
		}
		// The per-name readouts average to the curve.
		if len(c.ByName) != len(c.X) {
			t.Errorf("%s: %d per-name rows for %d values", c.Name, len(c.ByName), len(c.X))
		}
		for v, per := range c.ByName {
			if len(per) != len(c.Names) {
				t.Errorf("%s value %d: %d names' readouts, want %d", c.Name, v, len(per), len(c.Names))
				continue
			}
			sum := 0.0
			for _, x := range per {
				sum += x
			}
			if d := math.Abs(sum/float64(len(per)) - c.Readout[v]); !(d <= 1e-9) {
				t.Errorf("%s value %d: names average to %g, readout %g", c.Name, v, sum/float64(len(per)), c.Readout[v])
			}
		}
		if rho := Spearman(c.X, c.Readout); math.IsNaN(rho) != (c.Spearman == nil) || c.Spearman != nil && *c.Spearman != rho {
			t.Errorf("%s: ρ %s, want %v (nil for NaN)", c.Name, rhoString(c.Spearman), rho)
		}
		if want := c.Spearman != nil && *c.Spearman*float64(c.ExpectedSign) >= 0.8; c.Monotone != want {
			t.Errorf("%s: monotone %v with ρ %s, sign %+d; want %v", c.Name, c.Monotone, rhoString(c.Spearman), c.ExpectedSign, want)
		}
		if c.Monotone {
			monotone++
		}
	}
	if d.Monotone != monotone {
		t.Errorf("dose: %d monotone, curves say %d", d.Monotone, monotone)
	}
	// A planted dose: the pack's happy vector is happy's embedding row, so
	// the readout at layer 3 of a prompt ending in "happy" is far above one
	// ending in "sad" (and the other way round for sad). Each curve must
	// come out monotone in its expected direction.
	planted := []DoseTemplate{
		{Name: "happy-rises", Emotion: "happy", ExpectedSign: +1, Text: "Then he felt {X}", Values: []string{"sad", "happy"}, X: []float64{1, 2}},
		{Name: "sad-falls", Emotion: "sad", ExpectedSign: -1, Text: "Then he felt {X}", Values: []string{"sad", "happy"}, X: []float64{1, 2}},
	}
	pd, err := Dose(context.Background(), env, planted)
	if err != nil {
		t.Fatal(err)
	}
	if len(pd.Templates) != 2 || pd.Monotone != 2 {
		t.Errorf("planted dose: %d of %d curves monotone, want 2 of 2", pd.Monotone, len(pd.Templates))
	}
	for _, c := range pd.Templates {
		if c.Spearman == nil || *c.Spearman != float64(c.ExpectedSign) {
			t.Errorf("planted %s: readouts %v, ρ %s, want %+d", c.Name, c.Readout, rhoString(c.Spearman), c.ExpectedSign)
		}
	}
	// A readout that cannot move (the same text at every value) has no ρ:
	// nil, not monotone, and the result still serializes.
	flat, err := Dose(context.Background(), env, []DoseTemplate{{Name: "flat", Emotion: "happy", ExpectedSign: +1, Text: "He felt happy{X}", Values: []string{"", "", ""}, X: []float64{1, 2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if c := flat.Templates[0]; c.Spearman != nil || c.Monotone || flat.Monotone != 0 {
		t.Errorf("flat dose: ρ %s, monotone %v (%d), want nil, false (0)", rhoString(c.Spearman), c.Monotone, flat.Monotone)
	}
	if b, err := json.Marshal(flat); err != nil || !strings.Contains(string(b), `"spearman":null`) {
		t.Errorf("flat dose JSON: %s, %v; want \"spearman\":null", b, err)
	}
	im, err := Implicit(context.Background(), env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Items) != 7 || len(im.Items[0].Top) != 3 || !(im.Top3 >= im.Top1) {
		t.Errorf("implicit: %d items, top1 %v top3 %v", len(im.Items), im.Top1, im.Top3)
	}
	// The env's steering applies to every forward pass: +happy at the read
	// layer raises happy's score on every prompt.
	env.Steer = func(n int) (*hook.Set, error) {
		hs, _, err := steer.Hooks(nil, []steer.Spec{{Emotion: "happy", Strength: 1, Layers: "3", Span: steer.Span{Kind: steer.All}}}, p,
			steer.Options{NLayers: m.Layers, Dim: m.Dim, PromptLen: n})
		return hs, err
	}
	st, err := Implicit(context.Background(), env, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range im.Items {
		if !(st.Items[i].Scores[0] > im.Items[i].Scores[0]) {
			t.Errorf("%s: happy %.3f steered, %.3f not", im.Items[i].Emotion, st.Items[i].Scores[0], im.Items[i].Scores[0])
		}
	}
	env.Steer = nil
	if _, err := Dose(context.Background(), env, []DoseTemplate{{Name: "bad", Emotion: "happy", Text: "no x", Values: []string{"1"}, X: []float64{1}}}); err == nil {
		t.Error("template without {X} accepted")
	}
}

func rhoString(p *float64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}
