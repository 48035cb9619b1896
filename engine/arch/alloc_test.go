package arch

import (
	"testing"
)

// allocConfigs are the tiny family configs widened so that the matrix
// products and norms split across the worker pool, as they do in real
// models.
func allocConfigs(t testing.TB) map[string]Config {
	out := map[string]Config{}
	for name, c := range tinyConfigs(t) {
		c.Dim, c.FFN, c.Vocab = 256, 512, 512
		c.HeadDim = c.Dim / c.Heads
		out[name] = c
	}
	return out
}

// decodeSetup returns a model of config c and a sequence that has gone
// through a prompt and one decode step, so that its cache, scratch and
// logits buffer have reached their steady-state sizes.
func decodeSetup(t testing.TB, c Config) (*Transformer, *Seq) {
	m, _ := randomModel(t, c, 5)
	cache := m.NewCache()
	cache.Reserve(32)
	s := &Seq{Cache: cache, Tokens: []int{1, 2, 3, 4}, Logits: LastLogits}
	if err := m.Forward([]*Seq{s}); err != nil {
		t.Fatal(err)
	}
	s.Tokens = []int{5}
	if err := m.Forward([]*Seq{s}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestDecodeStepAllocatesNothing asserts that a hook-free decode step (one
// token, last logits, reserved cache) makes no heap allocation, and neither
// does a hook-free prefill of 32 tokens with every logit.
func TestDecodeStepAllocatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds models of every family")
	}
	for name, c := range allocConfigs(t) {
		t.Run(name, func(t *testing.T) {
			m, s := decodeSetup(t, c)
			var err error
			allocs := testing.AllocsPerRun(20, func() {
				s.Cache.Truncate(5)
				err = m.Forward([]*Seq{s})
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := allocs; got != 0 {
				t.Errorf("decode step: %v allocations, want 0", got)
			}

			pre := &Seq{Cache: m.NewCache(), Tokens: make([]int, 32), Logits: AllLogits}
			pre.Cache.Reserve(32)
			for i := range pre.Tokens {
				pre.Tokens[i] = (i * 7) % m.Vocab
			}
			if err := m.Forward([]*Seq{pre}); err != nil {
				t.Fatal(err)
			}
			allocs = testing.AllocsPerRun(40, func() {
				pre.Cache.Truncate(0)
				err = m.Forward([]*Seq{pre})
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := allocs; got != 0 {
				t.Errorf("prefill of 32 tokens: %v allocations, want 0", got)
			}
		})
	}
}

// BenchmarkDecodeStep times one hook-free decode step of the widened llama
// config and reports its allocations (0 allocs/op is the contract that
// TestDecodeStepAllocatesNothing enforces).
func BenchmarkDecodeStep(b *testing.B) {
	m, s := decodeSetup(b, allocConfigs(b)["llama"])
	b.ReportAllocs()
	for b.Loop() {
		s.Cache.Truncate(5)
		if err := m.Forward([]*Seq{s}); err != nil {
			b.Fatal(err)
		}
	}
}
