package prefs

import (
	"errors"
	"fmt"
	"github.com/limbic-dev/limbic/science/validate"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"gonum.org/v1/gonum/mat"
)

// Outcome is one ordered comparison: item I was offered first (option A),
// item J second, and P is the probability that I was preferred.
type Outcome struct {
	I, J int
	P    float64
}

// EloScale converts a Bradley–Terry strength (natural-log odds) to Elo
// points: 400·log10(odds).
const EloScale = 400 / math.Ln10

// EloBase is the mean Elo.
const EloBase = 1500

// ridge is a weak Gaussian prior on the strengths (precision), which keeps
// the fit finite when an item wins or loses every comparison (as hard
// outcomes often do) and moves scores that are well determined by well under
// an Elo point.
const ridge = 1e-4

// FitBT fits a Bradley–Terry model to soft outcomes by maximum likelihood:
// P(i preferred to j) = σ(θ_i − θ_j), the log-likelihood
// Σ P·log σ(θ_i−θ_j) + (1−P)·log σ(θ_j−θ_i) maximised by Newton's method,
// with a weak ridge and the strengths centred at 0. It is deterministic and
// does not depend on the order of the outcomes (they are pooled per pair
// first). n is the number of items.
func FitBT(n int, outs []Outcome) ([]float64, error) {
	if n < 2 {
		return nil, fmt.Errorf("prefs: %d items, want at least 2", n)
	}
	// Pool per unordered pair (a < b): wins of a, and comparisons.
	type pool struct{ w, n float64 }
	pairs := map[[2]int]*pool{}
	for k, o := range outs {
		if o.I < 0 || o.I >= n || o.J < 0 || o.J >= n || o.I == o.J {
			return nil, fmt.Errorf("prefs: outcome %d compares items %d and %d of %d", k, o.I, o.J, n)
		}
		if !(o.P >= 0 && o.P <= 1) {
			return nil, fmt.Errorf("prefs: outcome %d (%d vs %d) has probability %v", k, o.I, o.J, o.P)
		}
		a, b, w := o.I, o.J, o.P
		if a > b {
			a, b, w = b, a, 1-o.P
		}
		p := pairs[[2]int{a, b}]
		if p == nil {
			p = &pool{}
			pairs[[2]int{a, b}] = p
		}
		p.w += w
		p.n++
	}
	keys := make([][2]int, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(x, y int) bool {
		if keys[x][0] != keys[y][0] {
			return keys[x][0] < keys[y][0]
		}
		return keys[x][1] < keys[y][1]
	})
	theta := make([]float64, n)
	grad := make([]float64, n)
	hess := mat.NewSymDense(n, nil)
	prev := math.Inf(-1)
	for it := 0; it < 100; it++ {
		for i := range grad {
			grad[i] = -ridge * theta[i]
		}
		hess.Zero()
		for i := 0; i < n; i++ {
			hess.SetSym(i, i, ridge)
		}
		var ll float64
		for _, k := range keys {
			p := pairs[k]
			a, b := k[0], k[1]
			s := sigmoid(theta[a] - theta[b])
			g := p.w - p.n*s
			grad[a] += g
			grad[b] -= g
			h := p.n * s * (1 - s)
			hess.SetSym(a, a, hess.At(a, a)+h)
			hess.SetSym(b, b, hess.At(b, b)+h)
			hess.SetSym(a, b, hess.At(a, b)-h)
			ll += p.w*logSigmoid(theta[a]-theta[b]) + (p.n-p.w)*logSigmoid(theta[b]-theta[a])
		}
		var ch mat.Cholesky
		if !ch.Factorize(hess) {
			return nil, errors.New("prefs: the Bradley–Terry Hessian is not positive definite")
		}
		var step mat.VecDense
		if err := ch.SolveVecTo(&step, mat.NewVecDense(n, grad)); err != nil {
			return nil, fmt.Errorf("prefs: Bradley–Terry step: %w", err)
		}
		var size float64
		for i := range theta {
			theta[i] += step.AtVec(i)
			size = max(size, math.Abs(step.AtVec(i)))
		}
		if size < 1e-10 || math.Abs(ll-prev) < 1e-13*max(1, math.Abs(ll)) {
			break
		}
		prev = ll
	}
	var mean float64
	for _, t := range theta {
		mean += t / float64(n)
	}
	for i := range theta {
		theta[i] -= mean
		if math.IsNaN(theta[i]) || math.IsInf(theta[i], 0) {
			return nil, errors.New("prefs: the Bradley–Terry fit did not converge")
		}
	}
	return theta, nil
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// logSigmoid is log σ(x), stable for large |x|.
func logSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}

// Elo converts strengths to the Elo scale: 1500 + 400·log10(odds).
func Elo(theta []float64) []float64 {
	out := make([]float64, len(theta))
	for i, t := range theta {
		out[i] = EloBase + EloScale*t
	}
	return out
}

// Hard turns soft outcomes into wins: P > 0.5 is a win, < 0.5 a loss, and
// exactly 0.5 half of each (the "hard" Elo that counts wins).
func Hard(outs []Outcome) []Outcome {
	h := make([]Outcome, len(outs))
	for i, o := range outs {
		h[i] = o
		switch {
		case o.P > 0.5:
			h[i].P = 1
		case o.P < 0.5:
			h[i].P = 0
		default:
			h[i].P = 0.5
		}
	}
	return h
}

// PositionBias is the mean probability of choosing the option offered first,
// minus one half: positive when the model favours option A.
func PositionBias(outs []Outcome) float64 {
	if len(outs) == 0 {
		return 0
	}
	var s float64
	for _, o := range outs {
		s += o.P
	}
	return s/float64(len(outs)) - 0.5
}

// Interval is a 95% interval.
type Interval [2]float64

// Bootstrap resamples the unordered pairs of items with replacement (both
// orders of a pair go together), refits each replicate with fit, and
// returns for each output the 2.5th and 97.5th percentiles over reps
// replicates. fit gets the resampled outcomes and returns one value per
// output (Elo per item, say); seed makes it reproducible.
func Bootstrap(outs []Outcome, reps int, seed uint64, fit func([]Outcome) ([]float64, error)) ([]Interval, error) {
	groups := map[[2]int][]Outcome{}
	for _, o := range outs {
		k := [2]int{min(o.I, o.J), max(o.I, o.J)}
		groups[k] = append(groups[k], o)
	}
	keys := make([][2]int, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(x, y int) bool {
		if keys[x][0] != keys[y][0] {
			return keys[x][0] < keys[y][0]
		}
		return keys[x][1] < keys[y][1]
	})
	rng := rand.New(rand.NewPCG(seed, 0x626f6f74)) // "boot"
	var samples [][]float64
	sample := make([]Outcome, 0, len(outs))
	for r := 0; r < reps; r++ {
		sample = sample[:0]
		for range keys {
			sample = append(sample, groups[keys[rng.IntN(len(keys))]]...)
		}
		v, err := fit(sample)
		if err != nil {
			return nil, err
		}
		if samples == nil {
			samples = make([][]float64, len(v))
		}
		for i, x := range v {
			samples[i] = append(samples[i], x)
		}
	}
	out := make([]Interval, len(samples))
	for i, s := range samples {
		slices.Sort(s)
		out[i] = Interval{quantile(s, 0.025), quantile(s, 0.975)}
	}
	return out, nil
}

// quantile is the q-quantile of sorted xs, interpolating linearly.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	p := q * float64(len(xs)-1)
	lo := int(math.Floor(p))
	hi := min(lo+1, len(xs)-1)
	return xs[lo] + (p-float64(lo))*(xs[hi]-xs[lo])
}

// PermutationP is the two-sided permutation p-value of validate.Pearson(x, y): the
// share of reps random shufflings of y whose |r| reaches the observed |r|,
// counting the observed one ((k+1)/(reps+1)).
func PermutationP(x, y []float64, reps int, seed uint64) float64 {
	r := validate.Pearson(x, y)
	if math.IsNaN(r) {
		return math.NaN()
	}
	rng := rand.New(rand.NewPCG(seed, 0x7065726d)) // "perm"
	ys := slices.Clone(y)
	k := 0
	for i := 0; i < reps; i++ {
		rng.Shuffle(len(ys), func(a, b int) { ys[a], ys[b] = ys[b], ys[a] })
		if math.Abs(validate.Pearson(x, ys)) >= math.Abs(r)-1e-12 {
			k++
		}
	}
	return float64(k+1) / float64(reps+1)
}
