package arch

import (
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/hook"
)

// TestUnembedMatchesForward checks that Unembed of the last block's output
// gives the forward pass's logits for every family (Gemma 2 has a final
// soft-cap), and that a row of the wrong width is an error.
func TestUnembedMatchesForward(t *testing.T) {
	for name, c := range tinyConfigs(t) {
		t.Run(name, func(t *testing.T) {
			m, _ := randomModel(t, c, 3)
			tokens := []int{1, 2, 3, 4}
			var hs hook.Set
			c := &hook.Capture{}
			hs.Add(hook.Block(m.Layers-1, hook.ResidPost), c.Func())
			seq := &Seq{Cache: m.NewCache(), Tokens: tokens, Hooks: &hs, Logits: AllLogits}
			if err := m.Forward([]*Seq{seq}); err != nil {
				t.Fatal(err)
			}
			got, err := m.Unembed(c.Data)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(seq.Out) {
				t.Fatalf("Unembed gave %d logits, want %d", len(got), len(seq.Out))
			}
			for i := range got {
				if d := got[i] - seq.Out[i]; !(d <= 1e-5 && d >= -1e-5) {
					t.Fatalf("logit %d: Unembed %g, forward %g", i, got[i], seq.Out[i])
				}
			}
			for _, n := range []int{0, m.Dim - 1, m.Dim + 1} {
				if _, err := m.Unembed(make([]float32, n)); err == nil || !strings.Contains(err.Error(), "d_model") {
					t.Errorf("Unembed of %d values: error %v, want one naming d_model", n, err)
				}
			}
		})
	}
}
