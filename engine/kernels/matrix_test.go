package kernels

import (
	"testing"

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
