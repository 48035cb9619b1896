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
//
// Logits must describe a distribution: Sample returns an error, and draws
// nothing, when a logit is NaN (in every mode), or, at a temperature above
// 0, when the softmax is undefined because a logit is +Inf or every
// candidate is -Inf. Other -Inf logits are tokens of probability 0.
//
// At temperature only (no top-k below the vocabulary, no top-p below 1) it
// is a single pass over the logits in index order; with top-k or top-p the
// candidates are sorted by logit first. Both give the same draw for the
// same seed as the sorted path would with its identity order: the softmax
// is summed in float64 in candidate order, so a draw depends only on the
// logits, the sampling settings and the seed.
func (sm *Sampler) Sample(logits []float32) (int, error) {
	s := sm.s
	if len(logits) == 0 {
		return 0, fmt.Errorf("sample: no logits")
	}
	if s.Temp == 0 {
		if i := firstNaN(logits); i >= 0 {
			return 0, fmt.Errorf("sample: logit %d of %d is NaN", i, len(logits))
		}
		return Argmax(logits), nil
	}
	topK := s.TopK > 0 && s.TopK < len(logits)
	topP := s.TopP > 0 && s.TopP < 1
	if !topK && !topP {
		return sm.sampleAll(logits)
	}
	// Sorting with a NaN has no defined order: reject it first.
	if i := firstNaN(logits); i >= 0 {
		return 0, fmt.Errorf("sample: logit %d of %d is NaN", i, len(logits))
	}
	// Candidates sorted by logit, cut by top-k.
	sm.idx = sm.idx[:0]
	for i := range logits {
		sm.idx = append(sm.idx, i)
	}
	sort.Slice(sm.idx, func(a, b int) bool { return logits[sm.idx[a]] > logits[sm.idx[b]] })
	if topK {
		sm.idx = sm.idx[:s.TopK]
	}
	// Softmax at temperature over the candidates.
	mx := logits[sm.idx[0]] // the largest, after the sort
	sm.prob = sm.prob[:0]
	var sum float64
	for _, i := range sm.idx {
		p := math.Exp((float64(logits[i]) - float64(mx)) / s.Temp)
		sm.prob = append(sm.prob, p)
		sum += p
	}
	if !(sum >= 1) { // the largest candidate alone gives exp(0) = 1
		return 0, undefinedSoftmax(logits, s.Temp)
	}
	// Nucleus: keep the smallest prefix whose mass reaches TopP.
	n := len(sm.prob)
	if topP {
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
			return sm.idx[k], nil
		}
	}
	return sm.idx[n-1], nil
}

// sampleAll samples from the softmax of all logits at temperature: the
// sorted path with the identity order, without the index slice. The
// maximum is found by comparison (a NaN never wins it; a NaN anywhere makes
// the sum NaN, which is reported), and exp is math.Exp in float64 as on the
// sorted path, so draws are bit for bit the same.
func (sm *Sampler) sampleAll(logits []float32) (int, error) {
	mx := logits[0]
	for _, v := range logits[1:] {
		if v > mx {
			mx = v
		}
	}
	m, t := float64(mx), sm.s.Temp
	if cap(sm.prob) < len(logits) {
		sm.prob = make([]float64, len(logits))
	}
	sm.prob = sm.prob[:len(logits)]
	prob := sm.prob
	var sum float64
	if t == 1 { // x/1 is x exactly: skip the division
		for i, v := range logits {
			p := math.Exp(float64(v) - m)
			prob[i] = p
			sum += p
		}
	} else {
		for i, v := range logits {
			p := math.Exp((float64(v) - m) / t)
			prob[i] = p
			sum += p
		}
	}
	if !(sum >= 1) { // the largest logit alone gives exp(0) = 1
		return 0, undefinedSoftmax(logits, t)
	}
	r := sm.rng.Float64() * sum
	for k, p := range prob {
		r -= p
		if r < 0 {
			return k, nil
		}
	}
	return len(prob) - 1, nil
}

// firstNaN returns the index of the first NaN in x, or -1.
func firstNaN(x []float32) int {
	for i, v := range x {
		if v != v {
			return i
		}
	}
	return -1
}

// undefinedSoftmax says why the softmax of logits at temperature t has no
// finite sum.
func undefinedSoftmax(logits []float32, t float64) error {
	if i := firstNaN(logits); i >= 0 {
		return fmt.Errorf("sample: logit %d of %d is NaN", i, len(logits))
	}
	for i, v := range logits {
		if math.IsInf(float64(v), 1) {
			return fmt.Errorf("sample: logit %d of %d is +Inf (the softmax is undefined)", i, len(logits))
		}
	}
	return fmt.Errorf("sample: the softmax of %d logits at temperature %v is undefined (every candidate is -Inf, or -Inf logits at an infinite temperature)", len(logits), t)
}
