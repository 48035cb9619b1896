package vecpack

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testPack builds a consistent pack with n emotions of width d at layers.
func testPack(n, d int, layers []int) *Pack {
	emotions := []string{"happy", "sad", "angry", "calm", "proud", "bored"}[:n]
	m := NewMeta(ModelInfo{ID: "stories15M", Hash: "sha256:cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a", DModel: d, NLayers: 6}, emotions, layers)
	m.TokenOffset, m.ShortPolicy, m.VarianceFraction = 50, "skip", 0.5
	m.Counts = make([]int, n)
	p := &Pack{Meta: m}
	for i, l := range layers {
		m.Counts[i%n]++
		L := Layer{Raw: make([]float32, n*d), Denoised: make([]float32, n*d), Center: make([]float32, d),
			NeutralMeanRaw: make([]float32, n), NeutralStdRaw: make([]float32, n),
			NeutralMeanDenoised: make([]float32, n), NeutralStdDenoised: make([]float32, n)}
		for j := range L.Raw {
			L.Raw[j] = float32(j%7) - 3 + float32(l)
			L.Denoised[j] = L.Raw[j] / 2
		}
		for j := range L.Center {
			L.Center[j] = float32(j)
		}
		for e := 0; e < n; e++ {
			L.NeutralStdRaw[e], L.NeutralStdDenoised[e] = 1, 0.5
		}
		p.Layers = append(p.Layers, L)
		p.Meta.LayerInfo = append(p.Meta.LayerInfo, LayerInfo{Layer: l, MeanResidNorm: 10 + float64(l), PCsRemoved: 2, VarianceExplained: 0.55})
	}
	return p
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(p *Pack)
		wantErr string
	}{
		{"ok", func(p *Pack) {}, ""},
		{"format", func(p *Pack) { p.Meta.Format = "x" }, "format"},
		{"version", func(p *Pack) { p.Meta.Version = 9 }, "version 9"},
		{"layers order", func(p *Pack) { p.Meta.Layers[0], p.Meta.Layers[1] = 4, 2 }, "not increasing"},
		{"layer beyond model", func(p *Pack) { p.Meta.Layers[1] = 6 }, "not increasing"},
		{"counts", func(p *Pack) { p.Meta.Counts = p.Meta.Counts[:1] }, "counts"},
		{"raw size", func(p *Pack) { p.Layers[0].Raw = p.Layers[0].Raw[:5] }, "raw.2"},
		{"nan", func(p *Pack) { p.Layers[1].Denoised[3] = float32(math.NaN()) }, "non-finite"},
		{"best layer", func(p *Pack) { p.Meta.BestLayer = 3 }, "best layer 3"},
		{"repeated emotion", func(p *Pack) { p.Meta.Emotions[1] = "happy" }, "repeated"},
		{"neutral size", func(p *Pack) { p.Layers[0].NeutralStdRaw = []float32{1} }, "neutral_std.raw.2"},
		{"missing neutral ok", func(p *Pack) { p.Layers[0].NeutralMeanRaw = nil }, ""},
	}
	for _, tt := range tests {
		p := testPack(3, 4, []int{2, 4})
		tt.mutate(p)
		err := p.Check()
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestCheckModel(t *testing.T) {
	p := testPack(3, 288, []int{3})
	tests := []struct {
		name    string
		m       ModelInfo
		wantErr string
	}{
		{"same", ModelInfo{ID: "stories15M", Hash: p.Meta.Model.Hash, DModel: 288, NLayers: 6}, ""},
		{"unknown hash", ModelInfo{ID: "stories15M", DModel: 288}, ""},
		{"width", ModelInfo{ID: "stories42M", Hash: "sha256:00", DModel: 512, NLayers: 8},
			"vector pack was made for model stories15M (d=288), not stories42M (d=512)"},
		{"hash", ModelInfo{ID: "other", Hash: "sha256:1234", DModel: 288, NLayers: 6},
			"vector pack was made for model stories15M (d=288), not other (d=288): weights hash sha256:cd590644d963…, not sha256:1234"},
		{"layers", ModelInfo{ID: "x", DModel: 288, NLayers: 12}, "not x (d=288)"},
	}
	for _, tt := range tests {
		err := p.CheckModel(tt.m)
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestAccessors(t *testing.T) {
	p := testPack(3, 4, []int{2, 4})
	v, err := p.Vector(4, "sad", Raw)
	if err != nil || len(v) != 4 || v[0] != p.Layers[1].Raw[4] {
		t.Fatalf("Vector: %v, %v", v, err)
	}
	v[0] = 99
	if p.Layers[1].Raw[4] == 99 {
		t.Error("Vector shares memory")
	}
	u, _ := p.Unit(4, "sad", Denoised)
	var s float64
	for _, x := range u {
		s += float64(x) * float64(x)
	}
	if !(math.Abs(s-1) <= 1e-6) {
		t.Errorf("unit norm² %v", s)
	}
	if _, err := p.Vector(3, "sad", Raw); err == nil || !strings.Contains(err.Error(), "layer 3 was not extracted") {
		t.Errorf("missing layer: %v", err)
	}
	if _, err := p.Vector(2, "glad", Raw); err == nil || !strings.Contains(err.Error(), `"glad" is not in this pack`) {
		t.Errorf("missing emotion: %v", err)
	}
	if n, _ := p.MeanResidNorm(4); n != 14 {
		t.Errorf("MeanResidNorm %v", n)
	}
	if k, err := ParseKind("RAW"); k != Raw || err != nil {
		t.Error("ParseKind")
	}
	if _, err := ParseKind("cooked"); err == nil {
		t.Error("ParseKind accepted cooked")
	}
	if b, err := p.MetaJSON(); err != nil || !strings.Contains(string(b), `"format": "limbic.emotion-vectors"`) {
		t.Errorf("MetaJSON: %s %v", b, err)
	}
	z := []float32{0, 0}
	if Normalize(z) != 0 || z[0] != 0 {
		t.Error("Normalize of zero")
	}
}

func TestHeldOut(t *testing.T) {
	m := ModelInfo{ID: "x", DModel: 2}
	h := NewHeldOut(m, []string{"a", "b"}, []int{0, 3})
	if err := h.Add("s1", 1, [][]float32{{1, 2}, {3, 4}}); err != nil {
		t.Fatal(err)
	}
	if err := h.Add("s2", 2, [][]float32{{1, 2}, {3, 4}}); err == nil {
		t.Error("bad label accepted")
	}
	if err := h.Add("s2", 0, [][]float32{{1, 2}}); err == nil {
		t.Error("missing layer accepted")
	}
	o := NewHeldOut(m, []string{"a", "b"}, []int{0, 3})
	o.Add("s3", 0, [][]float32{{5, 6}, {7, 8}})
	if err := h.Merge(o); err != nil || h.Len() != 2 || h.Story(1, 1)[1] != 8 || h.Check() != nil {
		t.Errorf("merge: %v, len %d", err, h.Len())
	}
	if err := h.Merge(NewHeldOut(m, []string{"a"}, []int{0, 3})); err == nil {
		t.Error("incompatible merge accepted")
	}
}

func TestHashFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	os.WriteFile(a, []byte("hello"), 0o644)
	os.WriteFile(b, []byte("world"), 0o644)
	got, err := HashFiles(a)
	// sha256("hello")
	if want := "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; err != nil || got != want {
		t.Errorf("one file: %q, %v; want %q", got, err, want)
	}
	ab, _ := HashFiles(a, b)
	ba, _ := HashFiles(b, a)
	if ab != ba || ab == got || !strings.HasPrefix(ab, "sha256:") {
		t.Errorf("sharded hashes %q, %q", ab, ba)
	}
	if _, err := HashFiles(); err == nil {
		t.Error("no files accepted")
	}
	if _, err := HashFiles(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}
