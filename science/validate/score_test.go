package validate

import (
	"slices"
	"testing"

	"github.com/limbic-dev/limbic/internal/approx"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// basisPack returns a pack whose vectors at every layer are the basis
// vectors e_0..e_{n-1} of R^n (d = n), with a non-zero centre, and a
// held-out set for it. The stories of a layer are given by their
// coefficients on the basis, added to the centre the scorer uses (pack
// centre plus the mean raw vector): their ranking is then the order of the
// coefficients, since every centred unit vector is (e_i - mean)/c with one c.
func basisPack(t *testing.T, emotions []string, layers []int, labels []int, coefs [][][]float64) (*vecpack.Pack, *vecpack.HeldOut) {
	t.Helper()
	n := len(emotions)
	model := vecpack.ModelInfo{ID: "basis", DModel: n, NLayers: 4}
	m := vecpack.NewMeta(model, emotions, layers)
	m.Counts = make([]int, n)
	p := &vecpack.Pack{Meta: m}
	center := make([]float32, n)
	for j := range center {
		center[j] = float32(j) - 2.5
	}
	for _, l := range layers {
		raw := make([]float32, n*n)
		for e := 0; e < n; e++ {
			raw[e*n+e] = 1
		}
		p.Layers = append(p.Layers, vecpack.Layer{Raw: raw, Denoised: slices.Clone(raw), Center: center})
		p.Meta.LayerInfo = append(p.Meta.LayerInfo, vecpack.LayerInfo{Layer: l})
	}
	h := vecpack.NewHeldOut(model, emotions, layers)
	for s, label := range labels {
		means := make([][]float32, len(layers))
		for li := range layers {
			x := make([]float32, n)
			for j := range x {
				x[j] = center[j] + 1/float32(n) + float32(coefs[li][s][j])
			}
			means[li] = x
		}
		if err := h.Add("s", label, means); err != nil {
			t.Fatal(err)
		}
	}
	return p, h
}

func TestScorePlanted(t *testing.T) {
	emotions := []string{"happy", "sad", "angry", "scared", "calm", "bored"}
	labels := []int{0, 1, 2, 3}
	coefs := [][][]float64{
		{ // layer 0
			{1, 0, 0, 0, 0, 0}, // happy: rank 0
			{0, 1, 2, 0, 0, 0}, // sad: rank 1 (angry first)
			{0, 0, 1, 0, 0, 0}, // angry: rank 0
			{6, 5, 4, 1, 3, 2}, // scared: rank 5, outside the top 5
		},
		{ // layer 2: every story on its own vector
			{1, 0, 0, 0, 0, 0}, {0, 1, 0, 0, 0, 0}, {0, 0, 1, 0, 0, 0}, {0, 0, 0, 1, 0, 0},
		},
	}
	p, h := basisPack(t, emotions, []int{0, 2}, labels, coefs)
	s, err := Score(p, h, "handwritten", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Stories != 4 || !slices.Equal(s.Emotions, emotions[:4]) || !slices.Equal(s.Counts, []int{1, 1, 1, 1}) {
		t.Errorf("stories %d, emotions %v, counts %v; want 4, %v, [1 1 1 1]", s.Stories, s.Emotions, s.Counts, emotions[:4])
	}
	tests := []struct {
		layer      int
		top1, top5 float64
		perEmotion []float64
	}{
		{0, 0.5, 0.75, []float64{1, 0, 1, 0}},
		{2, 1, 1, []float64{1, 1, 1, 1}},
	}
	for _, tt := range tests {
		got := s.At(tt.layer)
		if got == nil {
			t.Errorf("layer %d: no score", tt.layer)
			continue
		}
		if !(approx.Diff(got.Top1, tt.top1) <= 1e-12) || !(approx.Diff(got.Top5, tt.top5) <= 1e-12) {
			t.Errorf("layer %d: top1 %v top5 %v, want %v %v", tt.layer, got.Top1, got.Top5, tt.top1, tt.top5)
		}
		if !slices.Equal(got.PerEmotionTop1, tt.perEmotion) {
			t.Errorf("layer %d: per-emotion top1 %v, want %v", tt.layer, got.PerEmotionTop1, tt.perEmotion)
		}
		if !(approx.Diff(got.Chance, 1.0/6) <= 1e-12) {
			t.Errorf("layer %d: chance %v, want 1/6", tt.layer, got.Chance)
		}
	}
	if s.At(1) != nil {
		t.Error("At(1) should be nil: layer 1 was not scored")
	}

	// Errors: emotions in another order, a layer the set lacks.
	h2 := vecpack.NewHeldOut(h.Model, slices.Concat(emotions[1:], emotions[:1]), h.Layers)
	h2.IDs, h2.Labels, h2.Means = h.IDs, h.Labels, h.Means
	if _, err := Score(p, h2, "handwritten", Options{}); err == nil {
		t.Error("emotions in another order: no error")
	}
	if _, err := Score(p, h, "handwritten", Options{Layers: []int{1}}); err == nil {
		t.Error("a layer the pack lacks: no error")
	}
	if _, err := Score(p, vecpack.NewHeldOut(h.Model, emotions, h.Layers), "handwritten", Options{}); err == nil {
		t.Error("an empty set: no error")
	}
}

// TestScoreMatchesRun checks that Score classifies the model-written
// held-out set exactly as Run does at every layer.
func TestScoreMatchesRun(t *testing.T) {
	emotions := []string{"happy", "sad", "angry", "scared", "calm", "bored", "proud", "lonely"}
	p, h := synthPack(t, emotions, 12, []int{0, 1, 2}, []float64{3, 1, 0.3}, 5)
	res, err := Run(p, h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Score(p, h, "same", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Layers) != len(res.Layers) {
		t.Fatalf("%d layers scored, want %d", len(s.Layers), len(res.Layers))
	}
	for i, lr := range res.Layers {
		got := s.Layers[i]
		if got.Layer != lr.Layer || !(approx.Diff(got.Top1, lr.All.Top1) <= 1e-12) || !(approx.Diff(got.Top5, lr.All.Top5) <= 1e-12) {
			t.Errorf("layer %d: Score top1 %v top5 %v, Run top1 %v top5 %v", lr.Layer, got.Top1, got.Top5, lr.All.Top1, lr.All.Top5)
		}
	}
}
