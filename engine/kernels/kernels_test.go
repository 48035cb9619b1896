package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// forEachPath runs f once per kernel path this CPU supports.
func forEachPath(t *testing.T, f func(t *testing.T)) {
	for _, name := range Paths() {
		t.Run(name, func(t *testing.T) {
			defer SetPath(name)()
			f(t)
		})
	}
}

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// guarded returns a slice of n values surrounded by guard values, and a
// check that the guards are intact.
func guarded(t *testing.T, n int) ([]float32, func()) {
	const g = 37
	buf := make([]float32, n+2*g)
	sentinel := float32(-12345.678)
	for i := range buf {
		buf[i] = sentinel
	}
	return buf[g : g+n : g+n], func() {
		t.Helper()
		for i := 0; i < g; i++ {
			if buf[i] != sentinel || buf[g+n+i] != sentinel {
				t.Fatalf("write outside the output buffer (guard %d)", i)
			}
		}
	}
}

// testMatrix makes a random [rows, cols] weight matrix of dtype dt and
// returns it with its values widened to float32.
func testMatrix(r *rand.Rand, dt tensor.DType, rows, cols int) (*Matrix, []float32) {
	v := randF32(r, rows*cols)
	t := &tensor.Tensor{Name: "w", DType: dt, Shape: []int{rows, cols}}
	switch dt {
	case tensor.F32:
		t.Data = make([]byte, 4*len(v))
		for i, f := range v {
			b := math.Float32bits(f)
			t.Data[4*i], t.Data[4*i+1], t.Data[4*i+2], t.Data[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
		}
	case tensor.BF16, tensor.F16:
		t.Data = make([]byte, 2*len(v))
		for i, f := range v {
			h := f32ToBF16(f)
			if dt == tensor.F16 {
				h = tensor.F32ToF16(f)
			}
			t.Data[2*i], t.Data[2*i+1] = byte(h), byte(h>>8)
		}
	default:
		t.Data = randBlocks(r, dt, rows*cols)
	}
	m, err := NewMatrix(t)
	if err != nil {
		panic(err)
	}
	w := make([]float32, rows*cols)
	for i := 0; i < rows; i++ {
		m.Row(i, w[i*cols:(i+1)*cols])
	}
	return m, w
}

// checkMatMul compares y = x·Wᵀ against a float64 reference; the error is
// measured against Σ|x·w| so that cancellation does not inflate it.
func checkMatMul(t *testing.T, y, x, w []float32, n, rows, cols int, tol float64) {
	t.Helper()
	worst := 0.0
	for i := 0; i < n; i++ {
		for r := 0; r < rows; r++ {
			var s, a float64
			for k := 0; k < cols; k++ {
				p := float64(x[i*cols+k]) * float64(w[r*cols+k])
				s += p
				a += math.Abs(p)
			}
			e := math.Abs(float64(y[i*rows+r])-s) / (a + 1e-30)
			if !(e <= tol) { // also catches NaN
				t.Fatalf("y[%d,%d] = %g, want %g (error %.3g of Σ|x·w| > %.3g)", i, r, y[i*rows+r], s, e, tol)
			}
			worst = max(worst, e)
		}
	}
}

// roundsX reports whether MatMul of n rows of x against a dt weight of cols
// columns rounds x to bf16 on the current path (the VDPBF16PS kernels).
func roundsX(dt tensor.DType, n, cols int) bool {
	p := cur.Load()
	return dt == tensor.BF16 && (p.gemmBF16 != nil && n > gemvMaxN && cols%2 == 0 || p.gemvRowsBF16Dot != nil && n <= gemvMaxN && cols%32 == 0)
}

// bf16Rounded returns x rounded to bf16 (nearest even), as float32.
func bf16Rounded(x []float32) []float32 {
	r := make([]float32, len(x))
	for i, v := range x {
		r[i] = tensor.BF16ToF32(f32ToBF16(v))
	}
	return r
}

func TestMatMul(t *testing.T) {
	type shape struct{ n, rows, cols int }
	var shapes []shape
	for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 8, 13, 17, 64} {
		for _, rc := range [][2]int{{1, 1}, {3, 7}, {4, 16}, {17, 33}, {31, 17}, {32, 32}, {33, 64}, {65, 100}, {100, 31}, {96, 288}} {
			shapes = append(shapes, shape{n, rc[0], rc[1]})
		}
	}
	shapes = append(shapes, shape{512, 70, 48}, shape{30, 50, 1100}, shape{29, 40, 1030}, shape{200, 300, 96}, shape{5, 7, 1300})
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} { // quantised: TestMatMulQuant
		t.Run(dt.String(), func(t *testing.T) {
			forEachPath(t, func(t *testing.T) {
				r := rand.New(rand.NewPCG(1, uint64(dt)))
				for _, s := range shapes {
					cols := s.cols
					m, w := testMatrix(r, dt, s.rows, cols)
					x := randF32(r, s.n*cols)
					y, check := guarded(t, s.n*s.rows)
					m.MatMul(y, x, s.n)
					check()
					t.Run(fmt.Sprintf("n%d_%dx%d", s.n, s.rows, cols), func(t *testing.T) {
						// The VDPBF16PS kernels multiply x rounded to bf16
						// (exactly, summing in float32).
						xr := x
						if roundsX(dt, s.n, cols) {
							xr = bf16Rounded(x)
						}
						checkMatMul(t, y, xr, w, s.n, s.rows, cols, 2e-6)
					})
				}
			})
		})
	}
}

func TestMatMulConcurrent(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 7))
		type job struct {
			m    *Matrix
			x, y []float32
			n    int
		}
		var jobs []job
		for i, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F32, tensor.F16, tensor.F32, tensor.BF16} {
			n := []int{1, 3, 40, 64, 2, 33}[i]
			m, _ := testMatrix(r, dt, 97, 130)
			x := randF32(r, n*130)
			y := make([]float32, n*97)
			m.MatMul(y, x, n)
			jobs = append(jobs, job{m, x, y, n})
		}
		var wg sync.WaitGroup
		errs := make(chan string, 64)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for it := 0; it < 20; it++ {
					j := jobs[(g+it)%len(jobs)]
					y := make([]float32, len(j.y))
					j.m.MatMul(y, j.x, j.n)
					for i := range y {
						if y[i] != j.y[i] {
							errs <- fmt.Sprintf("goroutine %d: y[%d] = %g, want %g", g, i, y[i], j.y[i])
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})
}

func TestParallelForNested(t *testing.T) {
	var mu sync.Mutex
	seen := make([]int, 64*64)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ParallelFor(64, 1, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					ParallelFor(64, 1, func(lo2, hi2 int) {
						mu.Lock()
						for j := lo2; j < hi2; j++ {
							seen[i*64+j]++
						}
						mu.Unlock()
					})
				}
			})
		}()
	}
	wg.Wait()
	for i, c := range seen {
		if c != 4 {
			t.Fatalf("item %d ran %d times, want 4", i, c)
		}
	}
}

func TestDotAxpy(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 3))
		for _, n := range []int{0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 48, 63, 64, 65, 100, 257} {
			a, b := randF32(r, n), randF32(r, n)
			var s, abs float64
			for i := range a {
				s += float64(a[i]) * float64(b[i])
				abs += math.Abs(float64(a[i]) * float64(b[i]))
			}
			if got := Dot(a, b); !(math.Abs(float64(got)-s) <= 1e-6*abs+1e-7) {
				t.Errorf("Dot n=%d: %g, want %g", n, got, s)
			}
			y, check := guarded(t, n)
			y0 := randF32(r, n)
			copy(y, y0)
			Axpy(y, 0.75, a)
			check()
			for i := range y {
				if want := y0[i] + 0.75*a[i]; !(math.Abs(float64(y[i]-want)) <= 1e-6*(math.Abs(float64(want))+1)) {
					t.Fatalf("Axpy n=%d: y[%d] = %g, want %g", n, i, y[i], want)
				}
			}
		}
	})
}

// After a job a worker spins, watching for the next one; after spinTime
// without work it parks: an idle process must not keep a core busy.
func TestPoolSpinsThenParks(t *testing.T) {
	if Workers() < 2 {
		t.Skip("one worker: nothing spins")
	}
	var sink [16]int64
	job := func() {
		ParallelFor(16, 1, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				sink[c]++
			}
		})
	}
	deadline := time.Now().Add(2 * time.Second)
	for spinners.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no worker spins after a job")
		}
		job()
		runtime.Gosched()
	}
	deadline = time.Now().Add(2 * time.Second)
	for spinners.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still spinning 2 s after the last job (spinTime %v)", spinners.Load(), spinTime)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPrefetch(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		x := randF32(rand.New(rand.NewPCG(1, 1)), 1000)
		want := append([]float32(nil), x...)
		for _, n := range []int{0, 1, 15, 17, 1000} {
			Prefetch(x[1 : 1+min(n, 999)])
		}
		for i := range x {
			if x[i] != want[i] {
				t.Fatalf("x[%d] changed", i)
			}
		}
	})
}

// TestGemmSwappedMatchesBlocked: for F32 weights and a batched decode's n,
// MatMul (gemmSwapped) gives bit for bit what the packed GEMM gives, over
// shapes with edge tiles, several x panels and several K blocks, and writes
// nothing outside y.
func TestGemmSwappedMatchesBlocked(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		p := cur.Load()
		if p.gemm == nil {
			t.Skip("no GEMM kernels on this path")
		}
		r := rand.New(rand.NewPCG(3, 4))
		ran := 0
		for _, n := range []int{gemvMaxN + 1, 8, 13, 31, 32, 33, 50, gemmSwapMaxN} {
			for _, rc := range [][2]int{{1, 1}, {5, 7}, {12, 16}, {13, 33}, {100, 288}, {37, 1100}, {25, 1030}, {997, 24}, {1000, 40}} { // the last two: several staged blocks per chunk
				rows, cols := rc[0], rc[1]
				m, _ := testMatrix(r, tensor.F32, rows, cols)
				x := randF32(r, n*cols)
				got, check := guarded(t, n*rows)
				m.MatMul(got, x, n)
				check()
				want := make([]float32, n*rows)
				m.gemmBlocked(p, want, x, n)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d %dx%d: y[%d] = %g, want %g (the packed GEMM's)", n, rows, cols, i, got[i], want[i])
					}
				}
				ran++
			}
		}
		if ran == 0 {
			t.Fatal("no shapes ran")
		}
	})
}
