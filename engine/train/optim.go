package train

import (
	"fmt"
	"math"
)

// AdamW is torch.optim.AdamW (amsgrad off): for every Param, each Step does
//
//	if p.Decay:  p -= lr·wd·p                      decoupled weight decay, first
//	m = β1·m + (1−β1)·g;   v = β2·v + (1−β2)·g²
//	p -= (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + eps)   eps after √v̂
//
// with t = 1, 2, … counted by the optimizer. The moments are kept in f32 like
// the weights; each element's update is computed in float64 and rounded
// once. The state (T, M, V) is plain data, so a checkpoint can store it and
// a resumed run continues bit for bit.
type AdamW struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64

	// T is the number of steps taken.
	T int
	// M and V are the first and second moments, one slice per Param in the
	// order of Params(), each len(Param.Data); nil before the first step.
	M, V [][]float32
}

// NewAdamW returns AdamW with torch's defaults for the moments (β 0.9,
// 0.999, eps 1e-8) and the given weight decay.
func NewAdamW(weightDecay float64) *AdamW {
	return &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
}

// Check reports whether the settings are usable.
func (o *AdamW) Check() error {
	switch {
	case !(o.Beta1 >= 0 && o.Beta1 < 1):
		return fmt.Errorf("adamw: beta1 %v not in [0, 1)", o.Beta1)
	case !(o.Beta2 >= 0 && o.Beta2 < 1):
		return fmt.Errorf("adamw: beta2 %v not in [0, 1)", o.Beta2)
	case !(o.Eps > 0):
		return fmt.Errorf("adamw: eps %v must be positive", o.Eps)
	case !(o.WeightDecay >= 0) || math.IsInf(o.WeightDecay, 0):
		return fmt.Errorf("adamw: weight decay %v must be finite and ≥ 0", o.WeightDecay)
	}
	return nil
}

// init allocates zero moments for ps, or checks that the moments loaded
// into o fit them.
func (o *AdamW) init(ps []*Param) error {
	if o.M == nil && o.V == nil {
		o.M = make([][]float32, len(ps))
		o.V = make([][]float32, len(ps))
		for i, p := range ps {
			o.M[i] = make([]float32, len(p.Data))
			o.V[i] = make([]float32, len(p.Data))
		}
		return nil
	}
	if len(o.M) != len(ps) || len(o.V) != len(ps) {
		return fmt.Errorf("adamw: state has %d/%d moments for %d params", len(o.M), len(o.V), len(ps))
	}
	for i, p := range ps {
		if len(o.M[i]) != len(p.Data) || len(o.V[i]) != len(p.Data) {
			return fmt.Errorf("adamw: param %q has %d values, its moments %d/%d", p.Name, len(p.Data), len(o.M[i]), len(o.V[i]))
		}
	}
	return nil
}

// Step applies one update with learning rate lr to ps (the same Params, in
// the same order, at every step), using their Grad.
func (o *AdamW) Step(ps []*Param, lr float64) error {
	if err := o.Check(); err != nil {
		return err
	}
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return fmt.Errorf("adamw: learning rate %v must be finite and ≥ 0", lr)
	}
	if err := o.init(ps); err != nil {
		return err
	}
	for _, p := range ps {
		if len(p.Grad) != len(p.Data) {
			return fmt.Errorf("adamw: param %q has %d values and %d gradients", p.Name, len(p.Data), len(p.Grad))
		}
	}
	o.T++
	t := float64(o.T)
	b1, b2 := o.Beta1, o.Beta2
	stepSize := lr / (1 - math.Pow(b1, t))
	bc2 := math.Sqrt(1 - math.Pow(b2, t))
	for i, p := range ps {
		m, v := o.M[i], o.V[i]
		decay := 1.0
		if p.Decay {
			decay = 1 - lr*o.WeightDecay
		}
		for j, g32 := range p.Grad {
			g := float64(g32)
			mj := b1*float64(m[j]) + (1-b1)*g
			vj := b2*float64(v[j]) + (1-b2)*g*g
			m[j], v[j] = float32(mj), float32(vj)
			pj := float64(p.Data[j]) * decay
			p.Data[j] = float32(pj - stepSize*mj/(math.Sqrt(vj)/bc2+o.Eps))
		}
	}
	return nil
}

// ZeroGrad sets every gradient of ps to zero.
func ZeroGrad(ps []*Param) {
	for _, p := range ps {
		clear(p.Grad)
	}
}

// GradNorm returns the global L2 norm of the gradients of ps, summed in
// float64.
func GradNorm(ps []*Param) float64 {
	var s float64
	for _, p := range ps {
		for _, g := range p.Grad {
			s += float64(g) * float64(g)
		}
	}
	return math.Sqrt(s)
}

// ClipGradNorm is torch.nn.utils.clip_grad_norm_: it computes the global
// norm N of the gradients in float64 and, when coef = max/(N+1e-6) is below
// 1, multiplies every gradient by coef. It returns N, the norm before
// clipping. max ≤ 0 only measures.
func ClipGradNorm(ps []*Param, max float64) float64 {
	n := GradNorm(ps)
	if !(max > 0) {
		return n
	}
	coef := max / (n + 1e-6)
	if coef < 1 {
		for _, p := range ps {
			for j, g := range p.Grad {
				p.Grad[j] = float32(float64(g) * coef)
			}
		}
	}
	return n
}

// Schedule is a learning rate that warms up linearly then decays along a
// cosine: at step s (0-based, the s-th update),
//
//	s < Warmup:  LR·(s+1)/Warmup
//	after:       Min + (LR−Min)·(1 + cos(π·d))/2,  d = (s−Warmup)/(Total−Warmup)
//
// so the first update after warm-up uses LR and the last approaches Min.
// Total ≤ Warmup keeps LR after the warm-up.
type Schedule struct {
	LR, Min       float64
	Warmup, Total int
}

// At returns the learning rate of step s (0-based).
func (c Schedule) At(s int) float64 {
	if s < c.Warmup {
		return c.LR * float64(s+1) / float64(c.Warmup)
	}
	if c.Total <= c.Warmup {
		return c.LR
	}
	d := float64(s-c.Warmup) / float64(c.Total-c.Warmup)
	d = min(d, 1)
	return c.Min + (c.LR-c.Min)*(1+math.Cos(math.Pi*d))/2
}

// Check reports whether the schedule is usable.
func (c Schedule) Check() error {
	switch {
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("learning rate %v must be positive and finite", c.LR)
	case !(c.Min >= 0 && c.Min <= c.LR):
		return fmt.Errorf("minimum learning rate %v must be in [0, %v]", c.Min, c.LR)
	case c.Warmup < 0:
		return fmt.Errorf("warm-up %d steps must be ≥ 0", c.Warmup)
	}
	return nil
}
