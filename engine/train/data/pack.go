package data

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/limbic-dev/limbic/engine/train"
)

// Row is L+1 tokens of the packed stream (fewer for the last row) and
// whether each is a target with loss.
type Row struct {
	Tokens []int
	Loss   []bool
}

// Pack concatenates exs in order and cuts the stream into rows of seqLen+1
// tokens overlapping by one (row k is stream[k·seqLen : k·seqLen+seqLen+1]).
// A last row shorter than two tokens, or rows without any loss, are left
// out.
func Pack(exs []Example, seqLen int) ([]Row, error) {
	if seqLen < 1 {
		return nil, fmt.Errorf("data: sequence length %d, want ≥ 1", seqLen)
	}
	var toks []int
	var loss []bool
	for _, e := range exs {
		toks = append(toks, e.Tokens...)
		loss = append(loss, e.Loss...)
	}
	var rows []Row
	for k := 0; k*seqLen+1 < len(toks); k++ {
		a, b := k*seqLen, min(k*seqLen+seqLen+1, len(toks))
		r := Row{Tokens: toks[a:b:b], Loss: loss[a:b:b]}
		if r.targets() > 0 {
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func (r Row) targets() int {
	n := 0
	for _, l := range r.Loss[1:] {
		if l {
			n++
		}
	}
	return n
}

// add appends r to b as inputs and targets.
func (r Row) add(b *train.Batch) {
	n := len(r.Tokens) - 1
	in, tg := make([]int, n), make([]int, n)
	copy(in, r.Tokens[:n])
	for j := range n {
		tg[j] = -1
		if r.Loss[j+1] {
			tg[j] = r.Tokens[j+1]
		}
	}
	b.Inputs = append(b.Inputs, in)
	b.Targets = append(b.Targets, tg)
}

// Batches groups rows, in order, into batches of at most size rows (for
// validation).
func Batches(rows []Row, size int) []train.Batch {
	var out []train.Batch
	for i := 0; i < len(rows); i += max(size, 1) {
		var b train.Batch
		for _, r := range rows[i:min(i+max(size, 1), len(rows))] {
			r.add(&b)
		}
		out = append(out, b)
	}
	return out
}

// Split puts whole examples aside for validation: val < 1 is a fraction of
// them (rounded, at least one), val ≥ 1 a count; 0 puts none aside. Which
// ones depends on seed only; both parts keep the file order.
func Split(exs []Example, val float64, seed uint64) (trainSet, valSet []Example, err error) {
	if !(val >= 0) || math.IsInf(val, 0) || val >= 1 && val != math.Trunc(val) {
		return nil, nil, fmt.Errorf("data: validation split %v: want a fraction in [0, 1) or a whole count", val)
	}
	k := int(val)
	if val < 1 {
		k = int(math.Round(val * float64(len(exs))))
		if val > 0 {
			k = max(k, 1)
		}
	}
	if k >= len(exs) {
		return nil, nil, fmt.Errorf("data: validation split of %d leaves none of the %d examples to train on", k, len(exs))
	}
	held := make([]bool, len(exs))
	for _, i := range perm(len(exs), mix(seed, 0x76616c))[:k] {
		held[i] = true
	}
	for i, e := range exs {
		if held[i] {
			valSet = append(valSet, e)
		} else {
			trainSet = append(trainSet, e)
		}
	}
	return trainSet, valSet, nil
}

// Set serves training batches from rows: a train.Data. Row g of the run
// (g = (step·GradAccum + micro)·RowsPer + j) is row perm_e[g mod N] with
// e = g / N and perm_e a permutation drawn from (Seed, e).
type Set struct {
	Rows      []Row
	RowsPer   int // rows per micro-batch
	GradAccum int // micro-batches per step
	Seed      uint64

	mu    sync.Mutex
	perms map[int][]int
}

// NewSet returns a Set over rows.
func NewSet(rows []Row, batch, gradAccum int, seed uint64) (*Set, error) {
	if len(rows) == 0 {
		return nil, errors.New("data: no rows to train on (is the data shorter than two tokens?)")
	}
	if batch < 1 || gradAccum < 1 {
		return nil, fmt.Errorf("data: batch %d and gradient accumulation %d must be ≥ 1", batch, gradAccum)
	}
	return &Set{Rows: rows, RowsPer: batch, GradAccum: gradAccum, Seed: seed}, nil
}

// Batch returns micro-batch micro of step.
func (s *Set) Batch(step, micro int) (train.Batch, error) {
	if step < 0 || micro < 0 || micro >= s.GradAccum {
		return train.Batch{}, fmt.Errorf("data: no micro-batch %d of step %d", micro, step)
	}
	var b train.Batch
	n := len(s.Rows)
	g0 := (step*s.GradAccum + micro) * s.RowsPer
	for j := range s.RowsPer {
		g := g0 + j
		s.Rows[s.perm(g / n)[g%n]].add(&b)
	}
	return b, nil
}

func (s *Set) perm(epoch int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.perms[epoch]; ok {
		return p
	}
	if s.perms == nil {
		s.perms = map[int][]int{}
	}
	delete(s.perms, epoch-2) // keep the current and previous epoch
	p := perm(len(s.Rows), mix(s.Seed, uint64(epoch)))
	s.perms[epoch] = p
	return p
}

// Epoch returns the passes over the rows the first steps steps make.
func (s *Set) Epoch(steps int) float64 {
	return float64(steps*s.GradAccum*s.RowsPer) / float64(len(s.Rows))
}

// StepsFor returns the steps that make epochs passes over the rows
// (rounded up).
func (s *Set) StepsFor(epochs float64) int {
	return int(math.Ceil(epochs * float64(len(s.Rows)) / float64(s.GradAccum*s.RowsPer)))
}

// perm is a Fisher–Yates permutation of 0..n-1 driven by splitmix64 from
// seed (written out here so that it never changes under a Go release).
func perm(n int, seed uint64) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	s := seed
	for i := n - 1; i > 0; i-- {
		s += 0x9E3779B97F4A7C15
		j := int(splitmix(s) % uint64(i+1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

func splitmix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func mix(a, b uint64) uint64 { return splitmix(a + 0x9E3779B97F4A7C15*(b+1)) }
