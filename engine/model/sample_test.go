package model

import (
	"math"
	"testing"

	"github.com/limbic-dev/limbic/internal/approx"
)

func TestArgmax(t *testing.T) {
	if got := Argmax([]float32{1, 3, 3, -1}); got != 1 {
		t.Errorf("Argmax = %d, want 1", got)
	}
}

func TestSamplerGreedyAndDeterministic(t *testing.T) {
	logits := []float32{0.1, 2, 1.5, -3, 0.7}
	if got := NewSampler(Sampling{}).Sample(logits); got != 1 {
		t.Errorf("greedy = %d, want 1", got)
	}
	draw := func(seed uint64) []int {
		s := NewSampler(Sampling{Temp: 1, Seed: seed})
		var out []int
		for i := 0; i < 50; i++ {
			out = append(out, s.Sample(logits))
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	same := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed differs at %d", i)
		}
		same = same && a[i] == c[i]
	}
	if same {
		t.Error("different seeds gave identical draws")
	}
}

func TestSamplerDistribution(t *testing.T) {
	logits := []float32{0, float32(math.Log(3))} // p = 1/4, 3/4
	s := NewSampler(Sampling{Temp: 1, Seed: 1})
	n1 := 0
	const n = 20000
	for i := 0; i < n; i++ {
		n1 += s.Sample(logits)
	}
	if f := float64(n1) / n; !(approx.Diff(f, 0.75) <= 0.02) {
		t.Errorf("P(1) = %.3f, want 0.75", f)
	}
}

func TestSamplerTopKTopP(t *testing.T) {
	logits := []float32{5, 4, 0, 0, 0, 0}
	sk := NewSampler(Sampling{Temp: 5, TopK: 2, Seed: 3})
	sp := NewSampler(Sampling{Temp: 1, TopP: 0.5, Seed: 3})
	for i := 0; i < 2000; i++ {
		if got := sk.Sample(logits); got > 1 {
			t.Fatalf("top-k 2 sampled %d", got)
		}
		if got := sp.Sample(logits); got != 0 {
			t.Fatalf("top-p 0.5 sampled %d (token 0 alone has p≈0.73)", got)
		}
	}
	if err := (Sampling{TopP: 1.5}).Validate(); err == nil {
		t.Error("top-p 1.5 accepted")
	}
}
