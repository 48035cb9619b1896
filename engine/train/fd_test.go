package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/kernels"
)

// Finite-difference checks: every op, one block, and whole tiny models, in
// float64, against central differences of a scalar loss.

const (
	fdEps = 1e-5
	fdTol = 1e-6
)

func randVec(r *rand.Rand, n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*r.Float64()
	}
	return v
}

// fdCheck compares analytic, the gradient of f w.r.t. x, with central
// differences, by ‖Δ‖/‖numeric‖ and max|Δ|/max|numeric|.
func fdCheck(t *testing.T, name string, x, analytic []float64, f func() float64) {
	t.Helper()
	if len(analytic) != len(x) {
		t.Fatalf("%s: %d gradient values for %d inputs", name, len(analytic), len(x))
	}
	num := make([]float64, len(x))
	for i := range x {
		v := x[i]
		x[i] = v + fdEps
		fp := f()
		x[i] = v - fdEps
		fm := f()
		x[i] = v
		num[i] = (fp - fm) / (2 * fdEps)
	}
	var d2, n2, dmax, nmax float64
	for i := range num {
		d := analytic[i] - num[i]
		d2 += d * d
		n2 += num[i] * num[i]
		dmax = max(dmax, math.Abs(d))
		nmax = max(nmax, math.Abs(num[i]))
	}
	if !(nmax > 0) {
		t.Errorf("%s: numeric gradient is zero: the check cannot fail", name)
		return
	}
	nr, mr := math.Sqrt(d2/n2), dmax/nmax
	if !(nr <= fdTol) || !(mr <= fdTol) {
		t.Errorf("%s: ‖Δ‖/‖fd‖ %.2e, max|Δ|/max|fd| %.2e, want ≤ %g\nanalytic %.6g\nnumeric  %.6g", name, nr, mr, fdTol, analytic, num)
	}
}

// weighted returns Σ c·y.
func weighted(c, y []float64) float64 {
	var s float64
	for i, v := range y {
		s += c[i] * v
	}
	return s
}

func TestRMSNormFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n, d := 3, 7
	x, w, c := randVec(r, n*d, -2, 2), randVec(r, d, 0.5, 1.5), randVec(r, n*d, -1, 1)
	f := func() float64 {
		y, rs := make([]float64, n*d), make([]float64, n)
		rmsnormFwd(y, rs, x, w, n, d, 1e-5)
		return weighted(c, y)
	}
	y, rs := make([]float64, n*d), make([]float64, n)
	rmsnormFwd(y, rs, x, w, n, d, 1e-5)
	dx, dw := make([]float64, n*d), make([]float64, d)
	rmsnormBwd(dx, dw, c, x, w, rs, n, d)
	fdCheck(t, "dx", x, dx, f)
	fdCheck(t, "dw", w, dw, f)
}

func TestRopeFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		interleaved bool
		rot         int
	}{{false, 6}, {true, 6}, {false, 4}} {
		t.Run(fmt.Sprintf("interleaved=%v/rot=%d", tc.interleaved, tc.rot), func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			heads, hd := 2, 6
			pos := []int{0, 1, 2, 5}
			n := len(pos)
			tab := newRopeTab[float64](kernels.InvFreq(tc.rot, 10000), tc.interleaved)
			tab.reserve(6)
			x, c := randVec(r, n*heads*hd, -1, 1), randVec(r, n*heads*hd, -1, 1)
			f := func() float64 {
				y := slices.Clone(x)
				ropeRows(tab, y, pos, heads, hd, false)
				return weighted(c, y)
			}
			dx := slices.Clone(c)
			ropeRows(tab, dx, pos, heads, hd, true)
			fdCheck(t, "dx", x, dx, f)
		})
	}
}

func TestAttentionFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		heads, kv, window int
	}{{2, 2, 0}, {4, 2, 0}, {4, 1, 2}, {2, 1, 3}} {
		t.Run(fmt.Sprintf("heads=%d/kv=%d/window=%d", tc.heads, tc.kv, tc.window), func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 6))
			hd := 3
			a := &attnShape{heads: tc.heads, kvHeads: tc.kv, hd: hd, scale: 0.7, window: tc.window, off: []int{0, 5, 8}}
			n := 8
			qd, kvd := tc.heads*hd, tc.kv*hd
			q, k, v := randVec(r, n*qd, -1, 1), randVec(r, n*kvd, -1, 1), randVec(r, n*kvd, -1, 1)
			c := randVec(r, n*qd, -1, 1)
			f := func() float64 {
				o := make([]float64, n*qd)
				attnFwd(o, q, k, v, a)
				return weighted(c, o)
			}
			dq, dk, dv := make([]float64, n*qd), make([]float64, n*kvd), make([]float64, n*kvd)
			attnBwd(dq, dk, dv, c, q, k, v, a)
			fdCheck(t, "dq", q, dq, f)
			fdCheck(t, "dk", k, dk, f)
			fdCheck(t, "dv", v, dv, f)
		})
	}
}

func TestSwiGLUFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	n := 11
	g, u, c := randVec(r, n, -4, 4), randVec(r, n, -2, 2), randVec(r, n, -1, 1)
	f := func() float64 {
		h := make([]float64, n)
		swigluFwd(h, g, u)
		return weighted(c, h)
	}
	dg, du := make([]float64, n), make([]float64, n)
	swigluBwd(dg, du, c, g, u)
	fdCheck(t, "dgate", g, dg, f)
	fdCheck(t, "dup", u, du, f)
}

func TestLinearFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	n, in, out := 4, 5, 3
	m := &net[float64]{bufs: map[string][]float64{}}
	li := &linear[float64]{out: out, in: in,
		w: &tparam[float64]{shape: []int{out, in}, data: randVec(r, out*in, -1, 1), grad: make([]float64, out*in)},
		b: &tparam[float64]{shape: []int{out}, data: randVec(r, out, -1, 1), grad: make([]float64, out)}}
	x, c := randVec(r, n*in, -1, 1), randVec(r, n*out, -1, 1)
	st := &step[float64]{n: n}
	f := func() float64 {
		y := make([]float64, n*out)
		li.fwd(m, y, x, nil, st)
		return weighted(c, y)
	}
	dx := make([]float64, n*in)
	xT := make([]float64, n*in)
	transpose(xT, x, n, in)
	li.bwd(m, dx, c, x, xT, false, nil, st)
	fdCheck(t, "dx", x, dx, f)
	fdCheck(t, "dW", li.w.data, li.w.grad, f)
	fdCheck(t, "db", li.b.data, li.b.grad, f)
}

// tinyConfigs are small llama-family shapes that together cover tied and
// untied output, GQA, a sliding window, QKV biases, QK norm, partial and
// interleaved rotary.
func tinyConfigs() map[string]arch.Config {
	base := arch.Config{Arch: "llama", Vocab: 13, Dim: 8, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 4, FFN: 6,
		MaxSeq: 16, NormEps: 1e-5, Gated: true, RopeTheta: 10000, Tied: true}
	qwen2 := base
	qwen2.Arch, qwen2.Tied, qwen2.QKVBias, qwen2.Heads, qwen2.KVHeads = "qwen2", false, true, 4, 2
	qwen2.SlidingWindow, qwen2.Sliding = 3, []bool{false, true}
	qwen3 := base
	qwen3.Arch, qwen3.QKNorm, qwen3.RotaryDim, qwen3.RopeInterleaved = "qwen3", true, 2, true
	return map[string]arch.Config{"llama-tied-gqa": base, "qwen2-untied-bias-sliding": qwen2, "qwen3-qknorm-partial-interleaved": qwen3}
}

// randomNet returns a float64 net of cfg with random weights.
func randomNet(t *testing.T, cfg arch.Config, seed uint64) *net[float64] {
	t.Helper()
	m, err := newNet[float64](cfg, false, false)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	for _, p := range m.params {
		lo, hi := -0.6, 0.6
		if len(p.shape) == 1 && !strings.HasSuffix(p.name, ".bias") {
			lo, hi = 0.6, 1.4
		}
		copy(p.data, randVec(r, len(p.data), lo, hi))
	}
	return m
}

// tinyBatch has two rows of different lengths, one target ignored.
func tinyBatch() Batch {
	return Batch{
		Inputs:  [][]int{{1, 5, 2, 9, 3, 3, 12}, {4, 0, 7, 11}},
		Targets: [][]int{{5, 2, 9, 3, 3, 12, 6}, {0, -1, 11, 8}},
	}
}

// lossOf runs b forward through m (no dropout unless seed > 0 asks for
// it) and returns the summed cross-entropy.
func lossOf(t *testing.T, m *net[float64], b Batch, seed uint64) float64 {
	st, err := m.newStep(b)
	if err != nil {
		t.Fatal(err)
	}
	st.seed, st.dropout = seed, seed > 0
	s, _ := m.run(st)
	return s
}

// gradsOf runs b forward and backward with scale 1 into fresh gradients.
func gradsOf(t *testing.T, m *net[float64], b Batch, seed uint64) {
	for _, p := range append(slices.Clone(m.params), m.lora...) {
		clear(p.grad)
	}
	st, err := m.newStep(b)
	if err != nil {
		t.Fatal(err)
	}
	st.backward, st.scale, st.seed, st.dropout = true, 1, seed, seed > 0
	m.run(st)
}

func TestModelFiniteDifferences(t *testing.T) {
	for name, cfg := range tinyConfigs() {
		for _, recompute := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/recompute=%v", name, recompute), func(t *testing.T) {
				m := randomNet(t, cfg, 11)
				m.recompute = recompute
				b := tinyBatch()
				gradsOf(t, m, b, 0)
				for _, p := range m.params {
					fdCheck(t, p.name, p.data, slices.Clone(p.grad), func() float64 { return lossOf(t, m, b, 0) })
				}
			})
		}
	}
}

func TestBlockFiniteDifferences(t *testing.T) {
	cfg := tinyConfigs()["qwen2-untied-bias-sliding"]
	m := randomNet(t, cfg, 12)
	st, err := m.newStep(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	st.backward = true
	l := 1 // the sliding-window layer
	m.layers[l].rope.reserve(st.maxT)
	r := rand.New(rand.NewPCG(13, 14))
	d := cfg.Dim
	x, c := randVec(r, st.n*d, -1, 1), randVec(r, st.n*d, -1, 1)
	f := func() float64 {
		out := make([]float64, st.n*d)
		m.layerFwd(l, m.layerActs(l, st), x, out, st)
		return weighted(c, out)
	}
	f()
	m.prepareTransposes()
	dres := slices.Clone(c)
	m.layerBwd(l, m.layerActs(l, st), x, dres, st)
	fdCheck(t, "dx", x, dres, f)
	for _, p := range m.params {
		if strings.HasPrefix(p.name, "model.layers.1.") {
			fdCheck(t, p.name, p.data, slices.Clone(p.grad), f)
		}
	}
}

func TestTranspose(t *testing.T) {
	for _, sh := range [][4]int{{1, 1, 0, 1}, {3, 5, 0, 5}, {8, 8, 0, 8}, {17, 70, 0, 70}, {67, 131, 9, 100}, {64, 200, 64, 136}} {
		rows, cols, c0, nc := sh[0], sh[1], sh[2], sh[3]
		src := make([]float32, rows*cols)
		for i := range src {
			src[i] = float32(i)
		}
		dst := make([]float32, nc*rows+1)
		dst[nc*rows] = -1 // guard
		transposeCols(dst[:nc*rows], src, rows, cols, c0, nc)
		for c := 0; c < nc; c++ {
			for r := 0; r < rows; r++ {
				if got, want := dst[c*rows+r], src[r*cols+c0+c]; got != want {
					t.Fatalf("%v: dst[%d][%d] = %v, want %v", sh, c, r, got, want)
				}
			}
		}
		if dst[nc*rows] != -1 {
			t.Errorf("%v: wrote past the end", sh)
		}
	}
}
