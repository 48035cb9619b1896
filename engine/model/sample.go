package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/limbic-dev/limbic/engine/kernels"
)

// Sampling configures next-token sampling. Temp 0 is greedy (argmax).
type Sampling struct {
	Temp float64 // temperature; 0 = greedy
	TopP float64 // nucleus mass in (0, 1]; 0 or 1 = off
	TopK int     // keep the K most likely tokens; 0 = off
	Seed uint64  // same seed, same samples
}

// Validate checks the ranges.
func (s Sampling) Validate() error {
	switch {
	case s.Temp < 0 || math.IsNaN(s.Temp):
		return fmt.Errorf("temperature %v must be ≥ 0", s.Temp)
	case s.TopP < 0 || s.TopP > 1 || math.IsNaN(s.TopP):
		return fmt.Errorf("top-p %v must be in [0, 1]", s.TopP)
	case s.TopK < 0:
		return fmt.Errorf("top-k %d must be ≥ 0", s.TopK)
	}
	return nil
}

// Sampler draws tokens from logits. It is deterministic for a given seed and
// sequence of calls.
type Sampler struct {
	s    Sampling
	rng  *rand.Rand
	idx  []int
	prob []float64
}

// NewSampler returns a sampler seeded from s.Seed.
func NewSampler(s Sampling) *Sampler {
	return &Sampler{s: s, rng: rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))}
}

// Argmax returns the index of the largest logit (the first on ties).
func Argmax(logits []float32) int {
	if len(logits) == 0 {
		return 0
	}
	return kernels.Argmax(logits)
}

// Sample picks the next token.
func (sm *Sampler) Sample(logits []float32) int {
	s := sm.s
	if s.Temp == 0 {
		return Argmax(logits)
	}
	// Candidates sorted by logit, cut by top-k.
	sm.idx = sm.idx[:0]
	for i := range logits {
		sm.idx = append(sm.idx, i)
	}
	if s.TopK > 0 && s.TopK < len(sm.idx) {
		sort.Slice(sm.idx, func(a, b int) bool { return logits[sm.idx[a]] > logits[sm.idx[b]] })
		sm.idx = sm.idx[:s.TopK]
	} else if s.TopP > 0 && s.TopP < 1 {
		sort.Slice(sm.idx, func(a, b int) bool { return logits[sm.idx[a]] > logits[sm.idx[b]] })
	}
	// Softmax at temperature over the candidates.
	mx := math.Inf(-1)
	for _, i := range sm.idx {
		mx = math.Max(mx, float64(logits[i]))
	}
	sm.prob = sm.prob[:0]
	var sum float64
	for _, i := range sm.idx {
		p := math.Exp((float64(logits[i]) - mx) / s.Temp)
		sm.prob = append(sm.prob, p)
		sum += p
	}
	// Nucleus: keep the smallest prefix whose mass reaches TopP.
	n := len(sm.prob)
	if s.TopP > 0 && s.TopP < 1 {
		acc := 0.0
		for k, p := range sm.prob {
			acc += p / sum
			if acc >= s.TopP {
				n = k + 1
				break
			}
		}
		sum = 0
		for _, p := range sm.prob[:n] {
			sum += p
		}
	}
	r := sm.rng.Float64() * sum
	for k := 0; k < n; k++ {
		r -= sm.prob[k]
		if r < 0 {
			return sm.idx[k]
		}
	}
	return sm.idx[n-1]
}
