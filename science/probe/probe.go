package probe

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	"gonum.org/v1/gonum/optimize"
)

// Defaults for the zero fields of [Options].
const (
	DefaultLambda  = 1e-2
	DefaultMaxIter = 1000
	DefaultTol     = 1e-5
)

// Options tune [Fit]. The zero value gives the documented defaults.
type Options struct {
	// Lambda is the L2 penalty on the weights, relative to the standardised
	// features; 0 means DefaultLambda (for an almost unpenalised fit pass a
	// tiny value such as 1e-12; on separable data the weights then grow
	// until MaxIter). It must not be negative.
	Lambda float64
	// MaxIter caps the L-BFGS iterations; 0 means DefaultMaxIter.
	MaxIter int
	// Tol stops the fit when the largest gradient entry is below it; 0
	// means DefaultTol.
	Tol float64
	// Center, when set, is the fixed centre c subtracted from every row
	// (length = number of features); else the mean of the rows is used.
	Center []float64
	// Unscaled keeps the features' own scale (only centring is done).
	Unscaled bool
}

// Probe is a fitted multinomial logistic-regression probe.
type Probe struct {
	center []float64   // [d] the centre c
	scale  []float64   // [d] the feature scale s
	w      [][]float64 // [k][d] weights on standardised features
	b      []float64   // [k] biases on standardised features

	dirs [][]float64 // [k][d] W_k / s
	bias []float64   // [k] b_k − dirs_k·c

	// Lambda is the penalty used.
	Lambda float64
	// Iterations is the number of L-BFGS major iterations run.
	Iterations int
	// Loss is the final objective (mean NLL + λ/2 ‖W‖²).
	Loss float64
	// Converged is false when the fit stopped at MaxIter.
	Converged bool
	// Status is gonum's reason for stopping.
	Status string
}

// Fit fits a K-class probe to the rows x with labels in [0, k).
func Fit(x [][]float64, labels []int, k int, opt Options) (*Probe, error) {
	d, err := check(x, labels, k)
	if err != nil {
		return nil, err
	}
	lambda := opt.Lambda
	if lambda == 0 {
		lambda = DefaultLambda
	}
	if !(lambda >= 0) || math.IsInf(lambda, 0) {
		return nil, fmt.Errorf("probe: lambda %v, want a finite value ≥ 0", opt.Lambda)
	}
	maxIter := opt.MaxIter
	if maxIter == 0 {
		maxIter = DefaultMaxIter
	}
	if maxIter < 0 {
		return nil, fmt.Errorf("probe: MaxIter %d, want ≥ 0", opt.MaxIter)
	}
	tol := opt.Tol
	if tol == 0 {
		tol = DefaultTol
	}
	if !(tol > 0) || math.IsInf(tol, 0) {
		return nil, fmt.Errorf("probe: Tol %v, want a finite value > 0", opt.Tol)
	}
	center, scale, err := standardisation(x, d, opt)
	if err != nil {
		return nil, err
	}
	o := newObjective(x, labels, k, center, scale, lambda)

	theta := make([]float64, k*d+k)
	prob := optimize.Problem{Func: o.Func, Grad: o.Grad}
	settings := &optimize.Settings{
		GradientThreshold: tol,
		MajorIterations:   maxIter,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-12, Relative: 1e-12, Iterations: 20},
	}
	res, err := optimize.Minimize(prob, theta, settings, &optimize.LBFGS{})
	if err != nil {
		return nil, fmt.Errorf("probe: L-BFGS stopped (%v): %w", statusOf(res), err)
	}
	if !finite(res.X) || math.IsNaN(res.F) || math.IsInf(res.F, 0) {
		return nil, errors.New("probe: L-BFGS returned a non-finite solution")
	}
	p := &Probe{
		center:     center,
		scale:      scale,
		Lambda:     lambda,
		Iterations: res.MajorIterations,
		Loss:       res.F,
		Converged:  res.Status != optimize.IterationLimit,
		Status:     res.Status.String(),
	}
	p.w = make([][]float64, k)
	p.dirs = make([][]float64, k)
	p.b = slices.Clone(res.X[k*d:])
	p.bias = make([]float64, k)
	for c := range k {
		p.w[c] = slices.Clone(res.X[c*d : (c+1)*d])
		p.dirs[c] = make([]float64, d)
		bias := p.b[c]
		for j := range d {
			p.dirs[c][j] = p.w[c][j] / scale[j]
			bias -= p.dirs[c][j] * center[j]
		}
		p.bias[c] = bias
	}
	return p, nil
}

func statusOf(res *optimize.Result) string {
	if res == nil {
		return "no result"
	}
	return res.Status.String()
}

// check validates the input and returns the number of features.
func check(x [][]float64, labels []int, k int) (int, error) {
	if len(x) == 0 {
		return 0, errors.New("probe: no rows")
	}
	if len(labels) != len(x) {
		return 0, fmt.Errorf("probe: %d labels for %d rows", len(labels), len(x))
	}
	if k < 2 {
		return 0, fmt.Errorf("probe: %d classes, want at least 2", k)
	}
	d := len(x[0])
	if d == 0 {
		return 0, errors.New("probe: row 0 has no features")
	}
	count := make([]int, k)
	for i, row := range x {
		if len(row) != d {
			return 0, fmt.Errorf("probe: row %d has %d features, row 0 has %d", i, len(row), d)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("probe: row %d feature %d is %v", i, j, v)
			}
		}
		if labels[i] < 0 || labels[i] >= k {
			return 0, fmt.Errorf("probe: row %d has label %d, want 0..%d", i, labels[i], k-1)
		}
		count[labels[i]]++
	}
	for c, n := range count {
		if n == 0 {
			return 0, fmt.Errorf("probe: class %d has no examples", c)
		}
	}
	return d, nil
}

func finite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// standardisation returns the centre and scale documented in the package.
func standardisation(x [][]float64, d int, opt Options) (center, scale []float64, err error) {
	n := float64(len(x))
	if opt.Center != nil {
		if len(opt.Center) != d {
			return nil, nil, fmt.Errorf("probe: Center has %d features, rows have %d", len(opt.Center), d)
		}
		for j, v := range opt.Center {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("probe: Center feature %d is %v", j, v)
			}
		}
		center = slices.Clone(opt.Center)
	} else {
		center = make([]float64, d)
		for _, row := range x {
			for j, v := range row {
				center[j] += v
			}
		}
		for j := range center {
			center[j] /= n
		}
	}
	scale = make([]float64, d)
	for j := range scale {
		scale[j] = 1
	}
	if opt.Unscaled {
		return center, scale, nil
	}
	ms := make([]float64, d)
	for _, row := range x {
		for j, v := range row {
			t := v - center[j]
			ms[j] += t * t
		}
	}
	largest := 0.0
	for j := range ms {
		ms[j] = math.Sqrt(ms[j] / n)
		largest = max(largest, ms[j])
	}
	for j, s := range ms {
		if s > 1e-12*largest && !math.IsInf(s, 0) {
			scale[j] = s
		}
	}
	return center, scale, nil
}

// objective is the penalised mean negative log-likelihood over parameters
// theta = [W (k×d, row-major), b (k)] on standardised features.
type objective struct {
	n, d, k int
	z       []float64 // [n][d] standardised rows
	labels  []int
	lambda  float64
	impl    gonum.Implementation

	// Cache of the last forward pass, reused by Grad at the same theta.
	at     []float64 // theta of the cached pass (nil: none)
	f      float64
	g      []float64 // [n][k] (p − y)/n
	logits []float64 // [n][k]
}

func newObjective(x [][]float64, labels []int, k int, center, scale []float64, lambda float64) *objective {
	n, d := len(x), len(center)
	z := make([]float64, n*d)
	for i, row := range x {
		for j, v := range row {
			z[i*d+j] = (v - center[j]) / scale[j]
		}
	}
	return &objective{
		n: n, d: d, k: k, z: z, labels: labels, lambda: lambda,
		g: make([]float64, n*k), logits: make([]float64, n*k),
	}
}

// Func returns the objective at theta.
func (o *objective) Func(theta []float64) float64 {
	o.forward(theta)
	return o.f
}

// Grad stores the gradient at theta in grad.
func (o *objective) Grad(grad, theta []float64) {
	if !slices.Equal(o.at, theta) {
		o.forward(theta)
	}
	n, d, k := o.n, o.d, o.k
	// dW = Gᵀ Z + λW, db = column sums of G.
	o.impl.Dgemm(blas.Trans, blas.NoTrans, k, d, n, 1, o.g, k, o.z, d, 0, grad[:k*d], d)
	for i, w := range theta[:k*d] {
		grad[i] += o.lambda * w
	}
	gb := grad[k*d:]
	clear(gb)
	for i := range n {
		row := o.g[i*k : (i+1)*k]
		for c, v := range row {
			gb[c] += v
		}
	}
}

// forward computes the objective and G = (p − y)/n at theta.
func (o *objective) forward(theta []float64) {
	n, d, k := o.n, o.d, o.k
	w, b := theta[:k*d], theta[k*d:]
	// logits = Z Wᵀ.
	o.impl.Dgemm(blas.NoTrans, blas.Trans, n, k, d, 1, o.z, d, w, d, 0, o.logits, k)
	inv := 1 / float64(n)
	nll := 0.0
	for i := range n {
		l := o.logits[i*k : (i+1)*k]
		g := o.g[i*k : (i+1)*k]
		m := math.Inf(-1)
		for c := range l {
			l[c] += b[c]
			m = max(m, l[c])
		}
		sum := 0.0
		for c := range l {
			g[c] = math.Exp(l[c] - m)
			sum += g[c]
		}
		lse := m + math.Log(sum)
		y := o.labels[i]
		nll += lse - l[y]
		for c := range g {
			g[c] *= inv / sum
		}
		g[y] -= inv
	}
	pen := 0.0
	for _, v := range w {
		pen += v * v
	}
	o.f = nll*inv + 0.5*o.lambda*pen
	o.at = append(o.at[:0], theta...)
}

// Directions returns per class the weight vector in the original feature
// space (W_k / s), usable like a difference-of-means emotion vector. The
// slices are copies.
func (p *Probe) Directions() [][]float64 {
	out := make([][]float64, len(p.dirs))
	for c, v := range p.dirs {
		out[c] = slices.Clone(v)
	}
	return out
}

// Bias returns per class the bias in the original feature space, so that
// the logit of class k for a raw row x is Directions()[k]·x + Bias()[k].
func (p *Probe) Bias() []float64 { return slices.Clone(p.bias) }

// Center returns the centre c used to standardise the features.
func (p *Probe) Center() []float64 { return slices.Clone(p.center) }

// Scale returns the feature scale s used to standardise the features.
func (p *Probe) Scale() []float64 { return slices.Clone(p.scale) }

// Scores returns the logits w_k·x + b_k of a raw row x, one per class. A
// row of the wrong length or with non-finite values gives NaN scores.
func (p *Probe) Scores(x []float64) []float64 {
	out := make([]float64, len(p.dirs))
	if len(x) != len(p.center) {
		for c := range out {
			out[c] = math.NaN()
		}
		return out
	}
	for c, dir := range p.dirs {
		s := p.bias[c]
		for j, v := range x {
			s += dir[j] * v
		}
		out[c] = s
	}
	return out
}

// Predict returns the class with the highest score for a raw row x (ties to
// the lower class), or -1 when the row has the wrong length or non-finite
// scores.
func (p *Probe) Predict(x []float64) int {
	best, bestS := -1, math.Inf(-1)
	for c, s := range p.Scores(x) {
		if math.IsNaN(s) {
			return -1
		}
		if best < 0 || s > bestS {
			best, bestS = c, s
		}
	}
	return best
}
