package pipeline

import (
	"context"
	"math"
	"testing"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/testref"
)

// TestLensAtLastLayerIsTheModelsLogits reads the residual stream after the
// last block of the synthetic Gemma 2 reference (which has a final logit
// soft-cap) through the logit lens: it must give the model's own logits.
func TestLensAtLastLayerIsTheModelsLogits(t *testing.T) {
	m, err := model.Load(context.Background(), testref.Path("synthetic", "gemma2"), model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.FinalSoftcap; !(got > 0) {
		t.Fatalf("synthetic gemma2 final soft-cap = %v, want positive (the test needs it)", got)
	}
	tokens := []int{1, 17, 42, 99, 3, 250, 8}
	last := m.Layers - 1
	c, err := model.Capture(m.Transformer, tokens, []string{"blocks.-1.hook_resid_post"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.Hooks), 1; got != want {
		t.Fatalf("%d hooks captured, want %d", got, want)
	}
	h := c.Hooks[0]
	if got, want := h.Point.Layer, last; got != want {
		t.Fatalf("captured layer %d, want %d", got, want)
	}
	d, v := m.Dim, m.Vocab
	lens := Lens{M: m}
	for pos := range tokens {
		got := lens.Unembed(h.Data[pos*d : (pos+1)*d])
		want := c.Logits[pos*v : (pos+1)*v]
		if len(got) != len(want) {
			t.Fatalf("pos %d: %d logits, want %d", pos, len(got), len(want))
		}
		for i := range want {
			if diff := math.Abs(float64(got[i] - want[i])); !(diff <= 1e-4) {
				t.Errorf("pos %d token %d: lens %g, model %g, want within 1e-4", pos, i, got[i], want[i])
				break
			}
		}
	}
}
