package arch

import (
	"testing"
)

// TestForwardFollowsConfigFlags checks that the forward pass picks a
// family's optional steps by its Config flags, not by which weights happen
// to be bound: clearing a flag on a built model must change its logits.
func TestForwardFollowsConfigFlags(t *testing.T) {
	cfgs := tinyConfigs(t)
	for _, tc := range []struct {
		family, flag string
		clear        func(c *Config)
	}{
		{"llama", "Gated", func(c *Config) { c.Gated = false }},
		{"qwen3", "QKNorm", func(c *Config) { c.QKNorm = false }},
		{"gemma2", "SandwichNorm", func(c *Config) { c.SandwichNorm = false }},
		{"gemma3", "QKNorm", func(c *Config) { c.QKNorm = false }},
		{"gpt2", "PosEmbed", func(c *Config) { c.PosEmbed = false }},
	} {
		t.Run(tc.family+"/"+tc.flag, func(t *testing.T) {
			m, _ := randomModel(t, cfgs[tc.family], 7)
			run := func() []float32 {
				s := &Seq{Cache: m.NewCache(), Tokens: []int{1, 2, 3, 4, 5}, Logits: AllLogits}
				if err := m.Forward([]*Seq{s}); err != nil {
					t.Fatal(err)
				}
				return s.Out
			}
			with := run()
			tc.clear(&m.Config)
			without := run()
			if len(with) != len(without) || len(with) == 0 {
				t.Fatalf("%d and %d logits", len(with), len(without))
			}
			same := true
			for i := range with {
				if d := with[i] - without[i]; !(d <= 1e-6 && d >= -1e-6) {
					same = false
					break
				}
			}
			if same {
				t.Errorf("clearing %s left the logits unchanged: the forward pass does not consult it", tc.flag)
			}
		})
	}
}
