package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// naiveLogProbs is the reference: probabilities normalised directly (shifted
// by the mean, not the max) and every token sorted.
func naiveLogProbs(logits []float32) ([]float64, []int) {
	var mean float64
	for _, l := range logits {
		mean += float64(l)
	}
	mean /= float64(len(logits))
	p := make([]float64, len(logits))
	var sum float64
	for i, l := range logits {
		p[i] = math.Exp(float64(l) - mean)
		sum += p[i]
	}
	lp := make([]float64, len(logits))
	order := make([]int, len(logits))
	for i := range p {
		lp[i] = math.Log(p[i] / sum)
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return logits[order[a]] > logits[order[b]] })
	return lp, order
}

func TestLogProbs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name  string
		vocab int
		k     int
		ties  bool
	}{
		{"k 0", 1000, 0, false},
		{"k 1", 1000, 1, false},
		{"k 5", 32000, 5, false},
		{"k 20", 500, 20, false},
		{"k beyond vocab", 7, 20, false},
		{"ties", 300, 20, true},
	}
	for _, tt := range tests {
		logits := make([]float32, tt.vocab)
		for i := range logits {
			logits[i] = float32(rng.NormFloat64() * 4)
			if tt.ties {
				logits[i] = float32(rng.IntN(5)) // many equal logits
			}
		}
		want, order := naiveLogProbs(logits)
		for _, id := range []int{0, tt.vocab / 2, tt.vocab - 1, order[0]} {
			got, top, err := LogProbs(logits, id, tt.k)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if d := math.Abs(got - want[id]); !(d <= 1e-9) {
				t.Errorf("%s: token %d log-prob %v, want %v", tt.name, id, got, want[id])
			}
			if n := min(tt.k, tt.vocab); len(top) != n {
				t.Fatalf("%s: %d alternatives, want %d", tt.name, len(top), n)
			}
			for r, e := range top {
				if e.ID != order[r] {
					t.Errorf("%s: rank %d is token %d, want %d", tt.name, r, e.ID, order[r])
				}
				if d := math.Abs(e.LogProb - want[e.ID]); !(d <= 1e-9) {
					t.Errorf("%s: rank %d log-prob %v, want %v", tt.name, r, e.LogProb, want[e.ID])
				}
			}
		}
	}
}

func TestLogProbsErrors(t *testing.T) {
	ok := []float32{1, 2, 3}
	tests := []struct {
		name   string
		logits []float32
		id, k  int
	}{
		{"NaN logit", []float32{1, float32(math.NaN()), 3}, 0, 0},
		{"+Inf logit", []float32{1, float32(math.Inf(1)), 3}, 0, 0},
		{"all -Inf", []float32{float32(math.Inf(-1)), float32(math.Inf(-1))}, 0, 0},
		{"id negative", ok, -1, 0},
		{"id past vocab", ok, 3, 0},
		{"k negative", ok, 0, -1},
		{"k over the limit", ok, 0, MaxTopLogProbs + 1},
	}
	for _, tt := range tests {
		if _, _, err := LogProbs(tt.logits, tt.id, tt.k); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	lp, top, err := LogProbs([]float32{0, float32(math.Inf(-1))}, 1, 2)
	if err != nil || !math.IsInf(lp, -1) || len(top) != 2 || top[0].ID != 0 || top[0].LogProb != 0 {
		t.Errorf("-Inf logit: %v %v %v, want -Inf and token 0 first at log-prob 0", lp, top, err)
	}
}

// BenchmarkLogProbs: the cost per generated token over a 32,000-token
// vocabulary, without and with alternatives.
func BenchmarkLogProbs(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 3)
	}
	for _, k := range []int{0, 5, 20} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := LogProbs(logits, 7, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
