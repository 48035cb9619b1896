package probe

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// gaussian draws n rows per class: mean means[c], isotropic unit noise plus
// extra noise of standard deviation sigmaU along the unit vector u (nil: none).
func gaussian(rng *rand.Rand, means [][]float64, n int, u []float64, sigmaU float64) ([][]float64, []int) {
	var x [][]float64
	var y []int
	for i := range n {
		_ = i
		for c, m := range means {
			row := make([]float64, len(m))
			e := rng.NormFloat64() * sigmaU
			for j := range row {
				row[j] = m[j] + rng.NormFloat64()
				if u != nil {
					row[j] += e * u[j]
				}
			}
			x = append(x, row)
			y = append(y, c)
		}
	}
	return x, y
}

// diffOfMeans scores like science/validate: v_c = mean_c − centre (centre =
// mean of class means), unit-normalised; a row is centred and the class with
// the highest (x − centre)·v̂_c wins. It returns held-out accuracy.
func diffOfMeans(x [][]float64, y []int, k int, tx [][]float64, ty []int) float64 {
	d := len(x[0])
	means := make([][]float64, k)
	count := make([]float64, k)
	for c := range means {
		means[c] = make([]float64, d)
	}
	for i, row := range x {
		for j, v := range row {
			means[y[i]][j] += v
		}
		count[y[i]]++
	}
	centre := make([]float64, d)
	for c := range means {
		for j := range means[c] {
			means[c][j] /= count[c]
			centre[j] += means[c][j] / float64(k)
		}
	}
	for c := range means {
		norm := 0.0
		for j := range means[c] {
			means[c][j] -= centre[j]
			norm += means[c][j] * means[c][j]
		}
		for j := range means[c] {
			means[c][j] /= math.Sqrt(norm)
		}
	}
	right := 0
	for i, row := range tx {
		best, bestS := -1, math.Inf(-1)
		for c, v := range means {
			s := 0.0
			for j := range row {
				s += (row[j] - centre[j]) * v[j]
			}
			if s > bestS {
				best, bestS = c, s
			}
		}
		if best == ty[i] {
			right++
		}
	}
	return float64(right) / float64(len(tx))
}

func accuracy(p *Probe, x [][]float64, y []int) float64 {
	right := 0
	for i, row := range x {
		if p.Predict(row) == y[i] {
			right++
		}
	}
	return float64(right) / float64(len(x))
}

// TestClassify plants class means and checks held-out accuracy. In the
// "confound" case the class means also differ along a direction u in which
// every example has large noise: difference of means leans on u and drowns,
// the probe learns to ignore u.
func TestClassify(t *testing.T) {
	const k, d = 6, 24
	for _, tc := range []struct {
		name          string
		offset, lean  float64 // planted mean offset along e_c; mean offset along u
		sigmaU        float64
		minProbe      float64 // probe accuracy at least this
		minProbeOverD float64 // probe accuracy minus difference of means at least this
	}{
		{name: "isotropic", offset: 2, minProbe: 0.6, minProbeOverD: -0.03},
		{name: "confound", offset: 2, lean: 3, sigmaU: 30, minProbe: 0.6, minProbeOverD: 0.25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			// u is diagonal, so that per-feature scaling alone cannot find it.
			u := make([]float64, d)
			for j := range u {
				u[j] = 1 / math.Sqrt(d)
			}
			means := make([][]float64, k)
			for c := range means {
				means[c] = make([]float64, d)
				means[c][c] = tc.offset
				means[c][d-1] = 5 // a common offset, removed by centring
				for j := range means[c] {
					means[c][j] += tc.lean * float64(c%2*2-1) * u[j]
				}
			}
			x, y := gaussian(rng, means, 150, u, tc.sigmaU)
			tx, ty := gaussian(rng, means, 150, u, tc.sigmaU)
			p, err := Fit(x, y, k, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := accuracy(p, tx, ty)
			dom := diffOfMeans(x, y, k, tx, ty)
			t.Logf("probe %.3f, difference of means %.3f, chance %.3f, %d iterations (%s)", got, dom, 1.0/k, p.Iterations, p.Status)
			if !(got >= tc.minProbe) {
				t.Errorf("probe held-out accuracy %.3f, want ≥ %.3f", got, tc.minProbe)
			}
			if !(got-dom >= tc.minProbeOverD) {
				t.Errorf("probe %.3f − difference of means %.3f = %.3f, want ≥ %.3f", got, dom, got-dom, tc.minProbeOverD)
			}
			if !p.Converged {
				t.Errorf("fit did not converge: %s after %d iterations", p.Status, p.Iterations)
			}
		})
	}
}

// TestGradient checks the analytic gradient against central differences.
func TestGradient(t *testing.T) {
	const n, d, k = 40, 5, 3
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([][]float64, n)
	y := make([]int, n)
	for i := range x {
		x[i] = make([]float64, d)
		for j := range x[i] {
			x[i][j] = rng.NormFloat64()*float64(j+1) + float64(j)
		}
		y[i] = i % k
	}
	center, scale, err := standardisation(x, d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := newObjective(x, y, k, center, scale, 0.3)
	theta := make([]float64, k*d+k)
	for i := range theta {
		theta[i] = rng.NormFloat64()
	}
	grad := make([]float64, len(theta))
	o.Grad(grad, theta)
	const h = 1e-5
	num, den := 0.0, 0.0
	for i := range theta {
		tp := slices.Clone(theta)
		tp[i] += h
		fp := o.Func(tp)
		tp[i] -= 2 * h
		fm := o.Func(tp)
		fd := (fp - fm) / (2 * h)
		num += (fd - grad[i]) * (fd - grad[i])
		den += grad[i] * grad[i]
	}
	rel := math.Sqrt(num / den)
	t.Logf("relative gradient error %.3g", rel)
	if !(rel <= 1e-6) || !(den > 0) {
		t.Errorf("‖grad − finite differences‖/‖grad‖ = %g (‖grad‖² = %g), want ≤ 1e-6", rel, den)
	}
	// Func then Grad at the same theta (the cached path) agrees with a fresh Grad.
	g2 := make([]float64, len(theta))
	o.Func(theta)
	o.Grad(g2, theta)
	if !slices.Equal(grad, g2) {
		t.Error("gradient after a cached forward pass differs from a fresh one")
	}
}

// TestScoresMatchObjective checks that the back-mapped directions and biases
// give the logits of the fitted model on standardised features.
func TestScoresMatchObjective(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	means := [][]float64{{1, 0, 3}, {0, 2, 3}, {-1, -1, 3}}
	x, y := gaussian(rng, means, 30, nil, 0)
	for i := range x {
		x[i][2] *= 10 // a feature with a larger scale
	}
	for _, opt := range []Options{{}, {Unscaled: true}, {Center: []float64{1, 1, 1}}} {
		p, err := Fit(x, y, 3, opt)
		if err != nil {
			t.Fatal(err)
		}
		o := newObjective(x, y, 3, p.center, p.scale, p.Lambda)
		theta := slices.Concat(slices.Concat(p.w...), p.b)
		o.forward(theta)
		dirs, bias := p.Directions(), p.Bias()
		for i, row := range x {
			s := p.Scores(row)
			for c := range s {
				want := o.logits[i*3+c]
				manual := bias[c]
				for j := range row {
					manual += dirs[c][j] * row[j]
				}
				if d := math.Abs(s[c] - want); !(d <= 1e-9*(1+math.Abs(want))) {
					t.Fatalf("opt %+v row %d class %d: Scores %v, model logit %v", opt, i, c, s[c], want)
				}
				if d := math.Abs(manual - want); !(d <= 1e-9*(1+math.Abs(want))) {
					t.Fatalf("opt %+v row %d class %d: Directions·x+Bias %v, model logit %v", opt, i, c, manual, want)
				}
			}
		}
		if opt.Center != nil && !slices.Equal(p.Center(), opt.Center) {
			t.Errorf("Center() = %v, want the fixed %v", p.Center(), opt.Center)
		}
		if opt.Unscaled && !slices.Equal(p.Scale(), []float64{1, 1, 1}) {
			t.Errorf("Unscaled: Scale() = %v, want ones", p.Scale())
		}
		if !opt.Unscaled && !(p.Scale()[2] > 5*p.Scale()[0]) {
			t.Errorf("Scale() = %v, want feature 2 scaled about 10× feature 0", p.Scale())
		}
	}
	p, _ := Fit(x, y, 3, Options{})
	if got := p.Predict([]float64{1, 2}); got != -1 {
		t.Errorf("Predict of a short row = %d, want -1", got)
	}
	if got := p.Predict([]float64{math.NaN(), 0, 0}); got != -1 {
		t.Errorf("Predict of a NaN row = %d, want -1", got)
	}
}

func TestErrors(t *testing.T) {
	good := [][]float64{{0, 1}, {1, 0}, {2, 2}}
	for _, tc := range []struct {
		name   string
		x      [][]float64
		labels []int
		k      int
		opt    Options
		want   string
	}{
		{"empty", nil, nil, 2, Options{}, "no rows"},
		{"labels count", good, []int{0, 1}, 2, Options{}, "2 labels for 3 rows"},
		{"one class", good, []int{0, 0, 0}, 1, Options{}, "1 classes"},
		{"no features", [][]float64{{}, {}}, []int{0, 1}, 2, Options{}, "row 0 has no features"},
		{"ragged", [][]float64{{0, 1}, {1}, {2, 2}}, []int{0, 1, 0}, 2, Options{}, "row 1 has 1 features, row 0 has 2"},
		{"label high", good, []int{0, 1, 2}, 2, Options{}, "row 2 has label 2, want 0..1"},
		{"label negative", good, []int{0, -1, 1}, 2, Options{}, "row 1 has label -1"},
		{"empty class", good, []int{0, 0, 2}, 3, Options{}, "class 1 has no examples"},
		{"NaN", [][]float64{{0, 1}, {1, 0}, {2, math.NaN()}}, []int{0, 1, 0}, 2, Options{}, "row 2 feature 1 is NaN"},
		{"Inf", [][]float64{{math.Inf(-1), 1}, {1, 0}, {2, 2}}, []int{0, 1, 0}, 2, Options{}, "row 0 feature 0 is -Inf"},
		{"negative lambda", good, []int{0, 1, 0}, 2, Options{Lambda: -1}, "lambda -1"},
		{"NaN lambda", good, []int{0, 1, 0}, 2, Options{Lambda: math.NaN()}, "lambda NaN"},
		{"negative MaxIter", good, []int{0, 1, 0}, 2, Options{MaxIter: -3}, "MaxIter -3"},
		{"bad Tol", good, []int{0, 1, 0}, 2, Options{Tol: -1}, "Tol -1"},
		{"center length", good, []int{0, 1, 0}, 2, Options{Center: []float64{1}}, "Center has 1 features, rows have 2"},
		{"center NaN", good, []int{0, 1, 0}, 2, Options{Center: []float64{1, math.NaN()}}, "Center feature 1 is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Fit(tc.x, tc.labels, tc.k, tc.opt)
			if err == nil {
				t.Fatalf("Fit succeeded (%v), want an error containing %q", p != nil, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestDeterministic fits twice, at a size where gonum's matrix products
// split the work over goroutines (more than 4 blocks of 64), and wants equal
// bits.
func TestDeterministic(t *testing.T) {
	const d = 260
	rng := rand.New(rand.NewPCG(7, 8))
	means := make([][]float64, 3)
	for c := range means {
		means[c] = make([]float64, d)
		means[c][c] = 1
	}
	x, y := gaussian(rng, means, 100, nil, 0)
	a, err := Fit(x, y, 3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Fit(x, y, 3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	da, db := a.Directions(), b.Directions()
	for c := range da {
		if !slices.Equal(da[c], db[c]) {
			t.Errorf("class %d: directions differ between two fits: %v vs %v", c, da[c], db[c])
		}
	}
	if !slices.Equal(a.Bias(), b.Bias()) || a.Loss != b.Loss || a.Iterations != b.Iterations {
		t.Errorf("fits differ: bias %v vs %v, loss %v vs %v, iterations %d vs %d",
			a.Bias(), b.Bias(), a.Loss, b.Loss, a.Iterations, b.Iterations)
	}
}

func TestLambdaShrinks(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	means := [][]float64{{2, 0, 0}, {0, 2, 0}, {0, 0, 2}}
	x, y := gaussian(rng, means, 40, nil, 0)
	prev := math.Inf(1)
	for _, l := range []float64{1e-3, 1e-1, 10, 1e3, 1e5} {
		p, err := Fit(x, y, 3, Options{Lambda: l})
		if err != nil {
			t.Fatal(err)
		}
		norm := 0.0
		for _, w := range p.w {
			for _, v := range w {
				norm += v * v
			}
		}
		norm = math.Sqrt(norm)
		t.Logf("λ=%g ‖W‖=%.6g", l, norm)
		if !(norm < prev) {
			t.Errorf("λ=%g: ‖W‖ = %g, want below %g (the smaller λ's)", l, norm, prev)
		}
		prev = norm
	}
	if !(prev <= 1e-3) {
		t.Errorf("λ=1e5: ‖W‖ = %g, want ≤ 1e-3", prev)
	}
}

func TestCrossValidateLambda(t *testing.T) {
	// The confound of TestClassify: a huge λ shrinks the probe towards the
	// difference of means (in standardised space), which the noisy shared
	// direction defeats; a small λ learns to ignore it.
	rng := rand.New(rand.NewPCG(11, 12))
	u := []float64{0.5, 0.5, 0.5, 0.5}
	means := [][]float64{{3.5, 1.5, 1.5, 1.5}, {-1.5, 0.5, -1.5, -1.5}, {1.5, 1.5, 3.5, 1.5}} // 2e_c ± 3u
	x, y := gaussian(rng, means, 40, u, 30)
	lambdas := []float64{1e-2, 1, 1e6}
	best, acc, err := CrossValidateLambda(x, y, 3, lambdas, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracies %v, best λ %g", acc, best)
	if best == 1e6 {
		t.Errorf("best λ = %g, want one of the smaller (accuracies %v)", best, acc)
	}
	if !(acc[0] >= 0.6) || !(acc[2] <= acc[0]-0.1) {
		t.Errorf("accuracies %v, want λ=1e-2 ≥ 0.6 and at least 0.1 above λ=1e6", acc)
	}
	best2, acc2, _ := CrossValidateLambda(x, y, 3, lambdas, 5)
	if best2 != best || !slices.Equal(acc, acc2) {
		t.Errorf("second run: best %g accuracies %v, first %g %v", best2, acc2, best, acc)
	}
	for _, tc := range []struct {
		name    string
		lambdas []float64
		folds   int
		labels  []int
		want    string
	}{
		{"no lambdas", nil, 5, y, "no lambdas"},
		{"zero lambda", []float64{0}, 5, y, "lambda 0 is 0"},
		{"one fold", lambdas, 1, y, "1 folds"},
		{"singleton class", lambdas, 5, append([]int{2}, slices.Repeat([]int{0, 1}, len(y)/2)[:len(y)-1]...), "class 2 has 1 example"},
	} {
		if _, _, err := CrossValidateLambda(x, tc.labels, 3, tc.lambdas, tc.folds); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

// BenchmarkFit fits the stories15M size: 16 classes × 2,048 points × 288
// dimensions.
func BenchmarkFit(b *testing.B) {
	const k, per, d = 16, 128, 288
	rng := rand.New(rand.NewPCG(13, 14))
	means := make([][]float64, k)
	for c := range means {
		means[c] = make([]float64, d)
		for j := range means[c] {
			means[c][j] = 0.3 * rng.NormFloat64()
		}
	}
	x, y := gaussian(rng, means, per, nil, 0)
	b.ResetTimer()
	for b.Loop() {
		p, err := Fit(x, y, k, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(p.Iterations), "iters")
	}
}

// TestMaxIter checks that a fit cut short says so.
func TestMaxIter(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	means := [][]float64{{2, 0, 0}, {0, 2, 0}, {0, 0, 2}}
	x, y := gaussian(rng, means, 40, nil, 0)
	for _, tc := range []struct {
		maxIter       int
		wantConverged bool
	}{{2, false}, {0, true}} {
		p, err := Fit(x, y, 3, Options{MaxIter: tc.maxIter, Lambda: 1e-4, Tol: 1e-8})
		if err != nil {
			t.Fatalf("MaxIter %d: %v", tc.maxIter, err)
		}
		if p.Converged != tc.wantConverged {
			t.Errorf("MaxIter %d: Converged = %v after %d iterations (%s), want %v", tc.maxIter, p.Converged, p.Iterations, p.Status, tc.wantConverged)
		}
	}
}
