package steer

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/testref"
	"github.com/limbic-dev/limbic/science/vecpack"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in     string
		want   string // String() of the result
		layers string
		span   SpanKind
	}{
		{"calm=0.1", "calm=0.1", "", All},
		{"desperate=-0.05@8", "desperate=-0.05@8", "8", All},
		{"happy=0.5@2-4:prompt", "happy=0.5@2-4:prompt", "2-4", Prompt},
		{"at ease=0.2:generated", "at ease=0.2:generated", "", Generated},
		{"sad=1@-1:pos=0-3,7-9", "sad=1@-1:pos=0-3,7-9", "-1", Ranges},
		{"sad=1:0-3,7-9", "sad=1:pos=0-3,7-9", "", Ranges},
		{"calm=0.1@-4:-1", "calm=0.1@-4:-1", "-4:-1", All},
		{"calm=0.1@-4:-1:generated", "calm=0.1@-4:-1:generated", "-4:-1", Generated},
		{"calm=0.1@0,2,-1:prompt", "calm=0.1@0,2,-1:prompt", "0,2,-1", Prompt},
		{"calm=0.1@1:3:all", "calm=0.1@1:3", "1:3", All},
		{"calm=-10", "calm=-10", "", All},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got.String() != tt.want || got.Layers != tt.layers || got.Span.Kind != tt.span {
			t.Errorf("Parse(%q) = %s (layers %q, span %s), want %s (layers %q, span %s)", tt.in, got, got.Layers, got.Span.Kind, tt.want, tt.layers, tt.span)
		}
		back, err := Parse(got.String())
		if err != nil || back.String() != got.String() {
			t.Errorf("Parse(%q) does not read back: %v, %v", got.String(), back, err)
		}
	}
	for _, in := range []string{"calm", "=0.1", "calm=x", "calm=0.1@", "calm=0.1@a", "calm=0.1@-2-4", "calm=0.1:nowhere", "calm=0.1:5-2",
		"calm=NaN", "calm=nan@3", "calm=Inf", "calm=-inf:prompt", "calm=1e308", "calm=10.5", "calm=0.1@-1:0-3", "calm=0.1@1:2:3", "calm=0.1@best"} {
		if sp, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, sp)
		}
	}
	specs, err := ParseAll([]string{"a=0.1;b=-0.2@3", "c=1"})
	if err != nil || len(specs) != 3 || specs[1].Layers != "3" {
		t.Errorf("ParseAll = %v, %v", specs, err)
	}
}

// TestValidate: specs built in code or decoded from JSON (the API, rules)
// are refused by Hooks and Vectors as Parse refuses them.
func TestValidate(t *testing.T) {
	p := testPack(4, 6)
	bad := []Spec{
		{Emotion: "up", Strength: math.NaN()},
		{Emotion: "up", Strength: math.Inf(1)},
		{Emotion: "up", Strength: -1e6},
		{Emotion: "up", Strength: 0.1, Layers: "1:x"},
		{Emotion: "up", Strength: 0.1, Span: Span{Kind: Ranges}},
		{Raw: map[int][]float32{1: {1, 0, 0, 0}}, Strength: math.NaN()},
	}
	for _, s := range bad {
		if _, _, err := Hooks(nil, []Spec{s}, p, Options{NLayers: 6, Dim: 4}); err == nil {
			t.Errorf("Hooks(%+v): no error", s)
		}
		if s.Raw == nil {
			if _, err := Vectors(s, p, Options{NLayers: 6, Dim: 4}); err == nil {
				t.Errorf("Vectors(%+v): no error", s)
			}
		}
	}
	var js Spec
	if err := json.Unmarshal([]byte(`{"emotion": "up", "strength": 0.2, "layers": "-2:-1", "span": "generated"}`), &js); err != nil {
		t.Fatal(err)
	}
	_, added, err := Hooks(nil, []Spec{js}, p, Options{NLayers: 6, Dim: 4})
	if err != nil || len(added) != 2 || added[0].Layer != 4 || added[1].Layer != 5 {
		t.Errorf("JSON spec layers -2:-1: added %v, %v; want layers 4 and 5", added, err)
	}
}

// FuzzParse: steering specs are outside input (CLI, API, rules): no panic;
// an accepted spec is valid, its strength finite and bounded, and it reads
// back from its String form unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"calm=0.1", "happy=0.5@2-4:prompt", "sad=1@-1:pos=0-3,7-9", "calm=0.1@-4:-1:generated", "x=NaN", "a=1@1,2:all", "=", "a=1:", "a=1@:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := Parse(s)
		if err != nil {
			return
		}
		if !(math.Abs(sp.Strength) <= MaxStrength) {
			t.Fatalf("Parse(%q): strength %v accepted", s, sp.Strength)
		}
		if err := sp.Validate(); err != nil {
			t.Fatalf("Parse(%q) = %+v, which does not validate: %v", s, sp, err)
		}
		back, err := Parse(sp.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %s, which does not parse back: %v", s, sp, err)
		}
		if back.String() != sp.String() || back.Layers != sp.Layers || back.Span.Kind != sp.Span.Kind {
			t.Fatalf("Parse(%q) = %s, read back as %s", s, sp, back)
		}
	})
}

func TestSpanJSON(t *testing.T) {
	var s struct {
		Span Span `json:"span"`
	}
	if err := json.Unmarshal([]byte(`{"span": "2-3"}`), &s); err != nil || s.Span.Kind != Ranges || s.Span.Ranges[0].To != 3 {
		t.Errorf("string span: %+v %v", s, err)
	}
	if err := json.Unmarshal([]byte(`{"span": {"kind": "prompt"}}`), &s); err != nil || s.Span.Kind != Prompt {
		t.Errorf("object span: %+v %v", s, err)
	}
	if err := json.Unmarshal([]byte(`{"span": {"kind": "later"}}`), &s); err == nil {
		t.Error("bad kind accepted")
	}
	sp := Span{Kind: Prompt}.Spans(4)
	if !sp.Contains(3) || sp.Contains(4) {
		t.Errorf("prompt spans %v", sp)
	}
	gen := Span{Kind: Generated}.Spans(4)
	if gen.Contains(3) || !gen.Contains(100) {
		t.Errorf("generated spans %v", gen)
	}
	if (Span{Kind: Prompt}).Spans(0).Contains(0) {
		t.Error("empty prompt span selects position 0")
	}
}

// testPack builds a pack whose vectors for "up" and "down" at every layer are
// ±e_0 scaled, with mean residual norm 10·(layer+1).
func testPack(d, nLayers int) *vecpack.Pack {
	layers := make([]int, nLayers)
	for i := range layers {
		layers[i] = i
	}
	p := &vecpack.Pack{Meta: vecpack.NewMeta(vecpack.ModelInfo{ID: "test", DModel: d, NLayers: nLayers}, []string{"up", "down"}, layers)}
	p.Meta.Counts = []int{1, 1}
	p.Meta.BestLayer = 2
	for l := range layers {
		p.Meta.LayerInfo = append(p.Meta.LayerInfo, vecpack.LayerInfo{Layer: l, MeanResidNorm: 10 * float64(l+1)})
		raw := make([]float32, 2*d)
		raw[0], raw[d+1] = 3, -2 // up = 3·e0, down = -2·e1
		p.Layers = append(p.Layers, vecpack.Layer{Raw: raw, Denoised: raw, Center: make([]float32, d)})
	}
	return p
}

func TestHooksScaleAndLayers(t *testing.T) {
	p := testPack(4, 6)
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	specs, _ := ParseAll([]string{"up=0.5@1-2", "down=-0.1"})
	hs, added, err := Hooks(nil, specs, p, Options{NLayers: 6, Dim: 4, PromptLen: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 3 {
		t.Fatalf("added %v", added)
	}
	// up at layer 1: 0.5 · 20 · e0.
	a := &hook.Act{Point: hook.Block(1, hook.ResidPost), Rows: 1, Dim: 4, Data: make([]float32, 4)}
	hs.Run(a)
	if a.Data[0] != 10 || a.Data[1] != 0 {
		t.Errorf("layer 1 got %v, want [10 0 0 0]", a.Data)
	}
	// down at the best layer (2) with -0.1: -0.1 · 30 · (-e1) = +3 e1, plus up 0.5·30·e0 = 15.
	a = &hook.Act{Point: hook.Block(2, hook.ResidPost), Rows: 1, Dim: 4, Data: make([]float32, 4)}
	hs.Run(a)
	if math.Abs(float64(a.Data[0]-15)) > 1e-5 || math.Abs(float64(a.Data[1]-3)) > 1e-5 {
		t.Errorf("layer 2 got %v, want [15 3 0 0]", a.Data)
	}
	for _, bad := range []string{"nope=0.1", "up=0.1@9"} {
		s, _ := ParseAll([]string{bad})
		if _, _, err := Hooks(nil, s, p, Options{NLayers: 6, Dim: 4}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	s, _ := ParseAll([]string{"up=0.1"})
	if _, _, err := Hooks(nil, s, p, Options{NLayers: 6, Dim: 8}); err == nil || !strings.Contains(err.Error(), "width") {
		t.Errorf("width mismatch: %v", err)
	}
}

// TestSteeredForward: on the embedded model, the steered forward equals
// the unsteered one plus the added vector at the steered layer, only inside
// the span.
func TestSteeredForward(t *testing.T) {
	testref.Stories15M(t)
	m, err := model.Load(context.Background(), model.Default, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := testPack(m.Dim, m.Layers)
	toks := m.Tok.Encode("The little bird was scared of the storm.", true)
	run := func(specs []Spec) ([]float32, []float32) {
		hs, _, err := Hooks(nil, specs, p, Options{NLayers: m.Layers, Dim: m.Dim, PromptLen: 4})
		if err != nil {
			t.Fatal(err)
		}
		c3, c5 := &hook.Capture{}, &hook.Capture{}
		hs.Add(hook.Block(3, hook.ResidPost), c3.Func())
		hs.Add(hook.Block(5, hook.ResidPost), c5.Func())
		if err := m.Forward([]*arch.Seq{{Cache: m.NewCache(), Tokens: toks, Hooks: hs}}); err != nil {
			t.Fatal(err)
		}
		return c3.Data, c5.Data
	}
	base, base5 := run(nil)
	specs, _ := ParseAll([]string{"up=0.5@3:prompt"})
	steered, steered5 := run(specs)
	d := m.Dim
	want := float32(0.5 * 40) // 0.5 · mean norm of layer 3 (10·4) · e0
	for r := range toks {
		for j := 0; j < d; j++ {
			diff := steered[r*d+j] - base[r*d+j]
			exp := float32(0)
			if r < 4 && j == 0 {
				exp = want
			}
			if math.Abs(float64(diff-exp)) > 1e-4 {
				t.Fatalf("row %d dim %d: shift %g, want %g", r, j, diff, exp)
			}
		}
	}
	// Rows after the prompt are not steered but see the steered prompt
	// through attention in later layers, so they move there.
	moved := false
	for j := 0; j < d; j++ {
		if steered5[5*d+j] != base5[5*d+j] {
			moved = true
		}
	}
	if !moved {
		t.Error("later positions did not react to the steered prompt")
	}
}
