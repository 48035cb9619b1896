// Package toy is a tiny Trainable for the training loop's tests: a bigram
// model whose logits for the next token after x are W[x] + b, with optional
// dropout on W[x] seeded per call, and an analytic gradient.
package toy

import (
	"fmt"
	"math"

	"github.com/limbic-dev/limbic/engine/train"
)

// Model is the bigram model: W [V, V] (decayed) and b [V] (not decayed).
type Model struct {
	V       int
	Dropout float64 // probability of zeroing an entry of W[x] in Accumulate
	W, B    train.Param
}

// New returns a model over vocab v with small weights drawn from seed.
func New(v int, seed uint64) *Model {
	m := &Model{V: v}
	m.W = train.Param{Name: "model.toy.weight", Shape: []int{v, v}, Data: make([]float32, v*v), Grad: make([]float32, v*v), Decay: true}
	m.B = train.Param{Name: "model.toy.bias", Shape: []int{v}, Data: make([]float32, v), Grad: make([]float32, v)}
	r := seed*0x9E3779B97F4A7C15 + 1
	for i := range m.W.Data {
		m.W.Data[i] = float32(uniform(&r)-0.5) * 0.2
	}
	return m
}

// uniform is splitmix64 mapped to [0, 1).
func uniform(s *uint64) float64 {
	*s += 0x9E3779B97F4A7C15
	z := *s
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// Params returns W and b.
func (m *Model) Params() []*train.Param { return []*train.Param{&m.W, &m.B} }

// Accumulate adds scale times the gradient of the summed cross-entropy.
func (m *Model) Accumulate(b train.Batch, scale float64, seed uint64) (float64, int, error) {
	return m.run(b, scale, seed, true)
}

// Loss is the summed cross-entropy without dropout.
func (m *Model) Loss(b train.Batch) (float64, int, error) { return m.run(b, 0, 0, false) }

func (m *Model) run(b train.Batch, scale float64, seed uint64, grad bool) (float64, int, error) {
	if len(b.Inputs) != len(b.Targets) {
		return 0, 0, fmt.Errorf("toy: %d input rows, %d target rows", len(b.Inputs), len(b.Targets))
	}
	v := m.V
	z := make([]float64, v)
	mask := make([]float64, v)
	r := seed
	var sum float64
	n := 0
	for i, in := range b.Inputs {
		tg := b.Targets[i]
		if len(in) != len(tg) {
			return 0, 0, fmt.Errorf("toy: row %d: %d inputs, %d targets", i, len(in), len(tg))
		}
		for j, x := range in {
			y := tg[j]
			if x < 0 || x >= v || y >= v {
				return 0, 0, fmt.Errorf("toy: row %d position %d: token out of range", i, j)
			}
			if y < 0 {
				continue
			}
			w := m.W.Data[x*v : (x+1)*v]
			mx := math.Inf(-1)
			for k := range z {
				mask[k] = 1
				if grad && m.Dropout > 0 {
					if uniform(&r) < m.Dropout {
						mask[k] = 0
					} else {
						mask[k] = 1 / (1 - m.Dropout)
					}
				}
				z[k] = float64(w[k])*mask[k] + float64(m.B.Data[k])
				mx = max(mx, z[k])
			}
			var se float64
			for k := range z {
				se += math.Exp(z[k] - mx)
			}
			lse := mx + math.Log(se)
			sum += lse - z[y]
			n++
			if !grad {
				continue
			}
			gw := m.W.Grad[x*v : (x+1)*v]
			for k := range z {
				d := math.Exp(z[k] - lse)
				if k == y {
					d--
				}
				gw[k] += float32(scale * d * mask[k])
				m.B.Grad[k] += float32(scale * d)
			}
		}
	}
	return sum, n, nil
}
