package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/internal/approx"
)

func TestArgmax(t *testing.T) {
	if got := Argmax([]float32{1, 3, 3, -1}); got != 1 {
		t.Errorf("Argmax = %d, want 1", got)
	}
}

func TestSamplerGreedyAndDeterministic(t *testing.T) {
	logits := []float32{0.1, 2, 1.5, -3, 0.7}
	if got, err := NewSampler(Sampling{}).Sample(logits); err != nil || got != 1 {
		t.Errorf("greedy = %d, want 1", got)
	}
	draw := func(seed uint64) []int {
		s := NewSampler(Sampling{Temp: 1, Seed: seed})
		var out []int
		for i := 0; i < 50; i++ {
			id, err := s.Sample(logits)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	same := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed differs at %d", i)
		}
		same = same && a[i] == c[i]
	}
	if same {
		t.Error("different seeds gave identical draws")
	}
}

func TestSamplerDistribution(t *testing.T) {
	logits := []float32{0, float32(math.Log(3))} // p = 1/4, 3/4
	s := NewSampler(Sampling{Temp: 1, Seed: 1})
	n1 := 0
	const n = 20000
	for i := 0; i < n; i++ {
		id, err := s.Sample(logits)
		if err != nil {
			t.Fatal(err)
		}
		n1 += id
	}
	if f := float64(n1) / n; !(approx.Diff(f, 0.75) <= 0.02) {
		t.Errorf("P(1) = %.3f, want 0.75", f)
	}
}

func TestSamplerTopKTopP(t *testing.T) {
	logits := []float32{5, 4, 0, 0, 0, 0}
	sk := NewSampler(Sampling{Temp: 5, TopK: 2, Seed: 3})
	sp := NewSampler(Sampling{Temp: 1, TopP: 0.5, Seed: 3})
	for i := 0; i < 2000; i++ {
		if got, err := sk.Sample(logits); err != nil || got > 1 {
			t.Fatalf("top-k 2 sampled %d (%v)", got, err)
		}
		if got, err := sp.Sample(logits); err != nil || got != 0 {
			t.Fatalf("top-p 0.5 sampled %d (token 0 alone has p≈0.73; %v)", got, err)
		}
	}
	if err := (Sampling{TopP: 1.5}).Validate(); err == nil {
		t.Error("top-p 1.5 accepted")
	}
}

// refSampler is the sampler as it was before the temperature-only fast
// path: every candidate through an index slice, the maximum by math.Max.
// It is the oracle the fast paths must match draw for draw.
type refSampler struct {
	s    Sampling
	rng  *rand.Rand
	idx  []int
	prob []float64
}

func newRefSampler(s Sampling) *refSampler {
	return &refSampler{s: s, rng: rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))}
}

func (sm *refSampler) sample(logits []float32) int {
	s := sm.s
	if s.Temp == 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return best
	}
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

// testLogits returns n logits of spread scale with ties, signed zeros and
// (when mask) some -Inf entries, which are valid (probability 0).
func testLogits(r *rand.Rand, n int, scale float64, mask bool) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
		switch r.IntN(20) {
		case 0:
			x[i] = 0
		case 1:
			x[i] = float32(math.Copysign(0, -1))
		case 2:
			if i > 0 {
				x[i] = x[i-1] // a tie
			}
		case 3:
			if mask && i > 0 {
				x[i] = float32(math.Inf(-1))
			}
		}
	}
	return x
}

// TestSampleMatchesReference: for many seeds, sizes and settings, Sample
// draws exactly what the reference sampler draws, call after call.
func TestSampleMatchesReference(t *testing.T) {
	settings := []Sampling{
		{Temp: 1}, {Temp: 0.7}, {Temp: 1.9}, {Temp: 1e-3}, {},
		{Temp: 1, TopK: 40}, {Temp: 0.8, TopK: 1}, {Temp: 1, TopK: 1 << 20},
		{Temp: 1, TopP: 0.9}, {Temp: 0.6, TopP: 0.5}, {Temp: 1, TopP: 1},
		{Temp: 1.2, TopK: 50, TopP: 0.8},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 7, 300, 32000} {
		for _, st := range settings {
			for seed := uint64(0); seed < 6; seed++ {
				st.Seed = seed*7919 + uint64(n)
				got, want := NewSampler(st), newRefSampler(st)
				draws := 20
				if n == 32000 {
					draws = 3
				}
				for d := 0; d < draws; d++ {
					logits := testLogits(r, n, []float64{0.5, 3, 30}[d%3], d%2 == 1)
					g, err := got.Sample(logits)
					if err != nil {
						t.Fatalf("n=%d %+v draw %d: %v", n, st, d, err)
					}
					if w := want.sample(logits); g != w {
						t.Fatalf("n=%d %+v draw %d: got %d, want %d", n, st, d, g, w)
					}
					// The probabilities too, bit for bit (a draw alone
					// rarely shows a last-bit change).
					if st.Temp != 0 && !slices.Equal(got.prob, want.prob) {
						t.Fatalf("n=%d %+v draw %d: probabilities differ from the reference", n, st, d)
					}
				}
			}
		}
	}
}

// TestSampleBadLogits: a NaN logit is an error in every mode (never a
// silently chosen token), as is an undefined softmax at temperature; -Inf
// logits are tokens of probability 0.
func TestSampleBadLogits(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	ninf := -inf
	modes := []Sampling{{}, {Temp: 1}, {Temp: 0.5, TopK: 3}, {Temp: 1, TopP: 0.9}}
	for _, st := range modes {
		for _, c := range []struct {
			logits []float32
			want   string // error substring; "" = no error
			id     int    // the token when no error
		}{
			{[]float32{nan, 1, 2, 3}, "logit 0 of 4 is NaN", 0},
			{[]float32{1, 2, nan, 3}, "logit 2 of 4 is NaN", 0},
			{[]float32{1, 2, 3, nan}, "logit 3 of 4 is NaN", 0},
			{[]float32{ninf, ninf, 5, ninf}, "", 2},
			{nil, "no logits", 0},
		} {
			id, err := NewSampler(st).Sample(c.logits)
			switch {
			case c.want == "" && (err != nil || id != c.id):
				t.Errorf("%+v %v: got %d, %v; want %d", st, c.logits, id, err, c.id)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("%+v %v: got %d, %v; want an error with %q", st, c.logits, id, err, c.want)
			}
		}
	}
	for _, st := range modes[1:] {
		for _, c := range []struct {
			logits []float32
			want   string
		}{
			{[]float32{1, inf, 2, 3}, "logit 1 of 4 is +Inf"},
			{[]float32{ninf, ninf, ninf, ninf}, "every candidate is -Inf"},
		} {
			if id, err := NewSampler(st).Sample(c.logits); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%+v %v: got %d, %v; want an error with %q", st, c.logits, id, err, c.want)
			}
		}
	}
	// Greedy: +Inf is simply the largest.
	if id, err := NewSampler(Sampling{}).Sample([]float32{1, inf, 2}); err != nil || id != 1 {
		t.Errorf("greedy with +Inf: got %d, %v; want 1", id, err)
	}
}
