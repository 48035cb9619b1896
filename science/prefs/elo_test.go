package prefs

import (
	"github.com/limbic-dev/limbic/science/validate"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// roundRobin gives every ordered pair one outcome from p(i, j).
func roundRobin(n int, p func(i, j int) float64) []Outcome {
	var outs []Outcome
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j {
				outs = append(outs, Outcome{I: i, J: j, P: p(i, j)})
			}
		}
	}
	return outs
}

func centred(x []float64) []float64 {
	var m float64
	for _, v := range x {
		m += v / float64(len(x))
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v - m
	}
	return out
}

func TestFitBTRecoversKnownStrengths(t *testing.T) {
	truth := centred([]float64{2.0, 1.2, 0.7, 0.1, -0.4, -1.1, -1.9, 0.35})
	outs := roundRobin(len(truth), func(i, j int) float64 { return sigmoid(truth[i] - truth[j]) })
	got, err := FitBT(len(truth), outs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range truth {
		if d := math.Abs(got[i] - truth[i]); !(d <= 1e-3) {
			t.Errorf("item %d: θ %.5f, want %.5f", i, got[i], truth[i])
		}
	}
	// On the Elo scale, within a tenth of a point, and centred at 1500.
	elo, want := Elo(got), Elo(truth)
	var mean float64
	for i := range elo {
		mean += elo[i] / float64(len(elo))
		if d := math.Abs(elo[i] - want[i]); !(d <= 0.1) {
			t.Errorf("item %d: Elo %.2f, want %.2f", i, elo[i], want[i])
		}
	}
	if !(math.Abs(mean-1500) <= 1e-9) {
		t.Errorf("mean Elo %v, want 1500", mean)
	}
	// one logit of odds is 400/ln(10) ≈ 173.7 Elo points
	if d := (elo[0] - elo[1]) - EloScale*0.8; !(math.Abs(d) <= 0.1) {
		t.Errorf("Elo gap %.3f, want %.3f", elo[0]-elo[1], EloScale*0.8)
	}
}

func TestFitBTOrderFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	outs := roundRobin(10, func(i, j int) float64 { return rng.Float64() })
	outs = append(outs, roundRobin(10, func(i, j int) float64 { return rng.Float64() })...)
	a, err := FitBT(10, outs)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 5; k++ {
		rng.Shuffle(len(outs), func(x, y int) { outs[x], outs[y] = outs[y], outs[x] })
		b, err := FitBT(10, outs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if d := math.Abs(a[i] - b[i]); !(d <= 1e-12) {
				t.Fatalf("shuffle %d: item %d: %v vs %v", k, i, a[i], b[i])
			}
		}
	}
}

func TestHardCountsWins(t *testing.T) {
	// A strict order: every comparison won by the better item. The soft fit
	// would run to infinity; the ridge keeps it finite and the order exact.
	order := []float64{5, 3, 9, 1, 7, 2}
	outs := Hard(roundRobin(len(order), func(i, j int) float64 { return 0.5 + 0.01*(order[i]-order[j]) }))
	for _, o := range outs {
		if o.P != 0 && o.P != 1 {
			t.Fatalf("hard outcome %v", o)
		}
	}
	th, err := FitBT(len(order), outs)
	if err != nil {
		t.Fatal(err)
	}
	byFit := rank(th)
	byTruth := rank(order)
	if !slices.Equal(byFit, byTruth) {
		t.Errorf("ranking %v, want %v (θ %v)", byFit, byTruth, th)
	}
	for _, x := range th {
		if math.IsInf(x, 0) || math.IsNaN(x) {
			t.Fatalf("θ %v", th)
		}
	}
	if ties := Hard([]Outcome{{0, 1, 0.5}}); ties[0].P != 0.5 {
		t.Errorf("a tie became %v", ties[0].P)
	}
}

func rank(x []float64) []int {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case x[a] > x[b]:
			return -1
		case x[a] < x[b]:
			return 1
		}
		return 0
	})
	return idx
}

func TestPositionBias(t *testing.T) {
	truth := []float64{1, 0, -1, 0.5}
	outs := roundRobin(4, func(i, j int) float64 { return sigmoid(truth[i] - truth[j] + 0.4) })
	b := PositionBias(outs)
	if !(b > 0.05) {
		t.Errorf("bias %v with option A favoured, want clearly positive", b)
	}
	sym := roundRobin(4, func(i, j int) float64 { return sigmoid(truth[i] - truth[j]) })
	if b := PositionBias(sym); !(math.Abs(b) <= 1e-12) {
		t.Errorf("bias %v without one, want 0", b)
	}
}

func TestFitBTErrors(t *testing.T) {
	for _, outs := range [][]Outcome{{{0, 0, 0.5}}, {{0, 3, 0.5}}, {{0, 1, math.NaN()}}, {{0, 1, 1.5}}} {
		if _, err := FitBT(2, outs); err == nil {
			t.Errorf("%v: no error", outs)
		}
	}
	if _, err := FitBT(1, nil); err == nil {
		t.Error("one item: no error")
	}
}

// The bootstrap's 95% intervals cover the true strengths at about the
// nominal rate: simulated tournaments with Bernoulli outcomes.
func TestBootstrapCoverage(t *testing.T) {
	truth := centred([]float64{1.0, 0.6, 0.2, 0, -0.3, -0.7, 0.4, -1.2})
	n := len(truth)
	rng := rand.New(rand.NewPCG(7, 8))
	covered, total := 0, 0
	const sims = 150
	for s := 0; s < sims; s++ {
		var outs []Outcome
		for rep := 0; rep < 6; rep++ {
			outs = append(outs, roundRobin(n, func(i, j int) float64 {
				if rng.Float64() < sigmoid(truth[i]-truth[j]) {
					return 1
				}
				return 0
			})...)
		}
		iv, err := Bootstrap(outs, 200, uint64(s), func(o []Outcome) ([]float64, error) { return FitBT(n, o) })
		if err != nil {
			t.Fatal(err)
		}
		for i := range truth {
			total++
			if iv[i][0] <= truth[i] && truth[i] <= iv[i][1] {
				covered++
			}
		}
	}
	rate := float64(covered) / float64(total)
	t.Logf("coverage %.3f over %d intervals", rate, total)
	if !(rate >= 0.88 && rate <= 0.99) {
		t.Errorf("95%% intervals cover the truth %.1f%% of the time, want about 95%%", 100*rate)
	}
}

func TestPearsonAndPermutation(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	y := []float64{2, 1, 4, 3, 6, 5, 8, 7, 10, 9}
	if r := validate.Pearson(x, y); !(r > 0.9 && r < 1) {
		t.Errorf("r %v", r)
	}
	if p := PermutationP(x, y, 2000, 1); !(p < 0.01) {
		t.Errorf("p %v for a strong correlation", p)
	}
	rng := rand.New(rand.NewPCG(2, 3))
	z := make([]float64, 10)
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	if p := PermutationP(x, z, 2000, 1); !(p > 0.05) {
		t.Errorf("p %v for noise", p)
	}
	if r := validate.Pearson(x, make([]float64, 10)); !math.IsNaN(r) {
		t.Errorf("r of a constant %v, want NaN", r)
	}
}
