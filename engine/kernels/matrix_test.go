package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/approx"
)

func TestMatMulMulti(t *testing.T) {
	for _, path := range Paths() {
		restore := SetPath(path)
		for _, n := range []int{1, 3, 9} {
			a := randMatrix(7, 40, 1)
			b := randMatrix(13, 40, 2)
			c := randMatrix(4, 40, 3)
			x := make([]float32, n*40)
			for i := range x {
				x[i] = float32(i%11) - 5
			}
			ys := [][]float32{make([]float32, n*7), make([]float32, n*13), make([]float32, n*4)}
			MatMulMulti(ys, x, n, a, b, c)
			for i, m := range []*Matrix{a, b, c} {
				want := make([]float32, n*m.Rows)
				m.matmulGo(want, x, n)
				for j := range want {
					if d := approx.Diff(ys[i][j], want[j]); !(d <= 1e-3) {
						t.Fatalf("%s n=%d matrix %d [%d]: %v, want %v", path, n, i, j, ys[i][j], want[j])
					}
				}
			}
		}
		restore()
	}
}

func randMatrix(rows, cols int, seed int) *Matrix {
	v := make([]float32, rows*cols)
	for i := range v {
		v[i] = float32((i*7+seed*13)%17)/8 - 1
	}
	return NewF32Matrix(rows, cols, v)
}

// TestMatMulMultiBF16 checks that MatMulMulti over bf16 matrices gives, on
// every path, exactly what MatMul gives for each matrix alone: the same
// kernels per weight row, x rounded to bf16 the same way where the path
// rounds it (avx512bf16's VDPBF16PS decode kernels).
func TestMatMulMultiBF16(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 5))
		for _, n := range []int{1, 2, 3, 6, 9} {
			for _, cols := range []int{64, 96, 40} {
				a, _ := testMatrix(r, tensor.BF16, 37, cols)
				b, _ := testMatrix(r, tensor.BF16, 70, cols)
				x := randF32(r, n*cols)
				ys := [][]float32{make([]float32, n*37), make([]float32, n*70)}
				MatMulMulti(ys, x, n, a, b)
				for i, m := range []*Matrix{a, b} {
					want := make([]float32, n*m.Rows)
					m.MatMul(want, x, n)
					for j := range want {
						if ys[i][j] != want[j] {
							t.Fatalf("n=%d cols=%d matrix %d [%d]: MatMulMulti %v, MatMul %v", n, cols, i, j, ys[i][j], want[j])
						}
					}
				}
			}
		}
	})
}

// TestDecodeMatMulAllocatesNothing: a decode-sized MatMul (n ≤ gemvMaxN)
// makes no heap allocation on any path, for float and quantised weights
// alike: x rounded to bf16 or quantised to int8 lives in pooled buffers and
// the parallel loops are Loop values, not closures. (The plain Go path, the
// reference, widens 16-bit rows into a buffer per chunk; it is not checked.)
func TestDecodeMatMulAllocatesNothing(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		if Path() == "go" {
			t.Skip("the reference path")
		}
		r := rand.New(rand.NewPCG(9, 9))
		for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16, tensor.Q8_0, tensor.Q4_K} {
			m, _ := testMatrix(r, dt, 512, 256)
			for _, n := range []int{1, 3} {
				x := randF32(r, n*256)
				y := make([]float32, n*512)
				m.MatMul(y, x, n)
				if got := testing.AllocsPerRun(50, func() { m.MatMul(y, x, n) }); got != 0 {
					t.Errorf("%v n=%d: %v allocations per MatMul, want 0", dt, n, got)
				}
			}
		}
	})
}
