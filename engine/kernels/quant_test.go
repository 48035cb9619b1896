package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// f16Fields lists where each block type keeps its f16 scales (and mins).
var f16Fields = map[tensor.DType][]int{
	tensor.Q8_0: {0}, tensor.Q4_0: {0}, tensor.Q4_1: {0, 2}, tensor.Q5_0: {0}, tensor.Q5_1: {0, 2},
	tensor.Q2_K: {80, 82}, tensor.Q3_K: {108}, tensor.Q4_K: {0, 2}, tensor.Q5_K: {0, 2}, tensor.Q6_K: {208},
	tensor.IQ4_NL: {0}, tensor.IQ4_XS: {0},
}

// randBlocks returns n values of random blocks of dt: random bytes, with
// the f16 scales set to random values of a realistic size (≈ 1/64).
func randBlocks(r *rand.Rand, dt tensor.DType, n int) []byte {
	size, bytes := dt.Block()
	b := make([]byte, n/size*bytes)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for blk := 0; blk < n/size; blk++ {
		for _, off := range f16Fields[dt] {
			binary.LittleEndian.PutUint16(b[blk*bytes+off:], tensor.F32ToF16(float32(r.Float64()+0.01)/64))
		}
	}
	return b
}

// forEachQuantMode runs f with the exact and with the int8 product.
func forEachQuantMode(t *testing.T, f func(t *testing.T, exact bool)) {
	for _, exact := range []bool{true, false} {
		name := "int8"
		if exact {
			name = "exact"
		}
		t.Run(name, func(t *testing.T) {
			defer SetQuantExact(exact)()
			f(t, exact)
		})
	}
}

// checkMatMulInt8 checks y = x·Wᵀ of the int8 product against a float64
// reference: the error may be what quantising x costs, Σ|w|·(scale/2) per
// block, plus float32 rounding.
func checkMatMulInt8(t *testing.T, y, x, w []float32, n, rows, cols int) {
	t.Helper()
	for i := 0; i < n; i++ {
		// The int8 scale of each block of 32 values of x row i.
		half := make([]float64, cols/32)
		for b := range half {
			a := 0.0
			for _, v := range x[i*cols+32*b : i*cols+32*b+32] {
				a = max(a, math.Abs(float64(v)))
			}
			half[b] = a / 127 / 2
		}
		for r := 0; r < rows; r++ {
			var s, abs, bound float64
			for k := 0; k < cols; k++ {
				wk := float64(w[r*cols+k])
				s += float64(x[i*cols+k]) * wk
				abs += math.Abs(float64(x[i*cols+k]) * wk)
				bound += math.Abs(wk) * half[k/32]
			}
			tol := 1.0001*bound + 2e-6*abs + 1e-30
			if e := math.Abs(float64(y[i*rows+r]) - s); !(e <= tol) {
				t.Fatalf("y[%d,%d] = %g, want %g ± %.3g (int8 bound)", i, r, y[i*rows+r], s, tol)
			}
		}
	}
}

// TestMatMulQuant runs every block type, both products and every path over
// odd shapes (single blocks, runs of blocks longer than the kernels'
// unrolling with a remainder, row counts around the tile sizes, decode and
// prefill n), with guard values around y.
func TestMatMulQuant(t *testing.T) {
	type shape struct{ n, rows int }
	shapes := []shape{{1, 1}, {1, 7}, {2, 33}, {3, 5}, {6, 17}, {7, 31}, {13, 40}, {20, 9}, {64, 65}}
	for _, dt := range tensor.QuantTypes {
		t.Run(dt.String(), func(t *testing.T) {
			forEachPath(t, func(t *testing.T) {
				forEachQuantMode(t, func(t *testing.T, exact bool) {
					r := rand.New(rand.NewPCG(3, uint64(dt)))
					size, _ := dt.Block()
					for _, s := range shapes {
						for _, nb := range []int{1, 3, 9} {
							cols := nb * size
							m, w := testMatrix(r, dt, s.rows, cols)
							x := randF32(r, s.n*cols)
							y, check := guarded(t, s.n*s.rows)
							m.MatMul(y, x, s.n)
							check()
							t.Run(fmt.Sprintf("n%d_%dx%d", s.n, s.rows, cols), func(t *testing.T) {
								if exact {
									checkMatMul(t, y, x, w, s.n, s.rows, cols, 2e-6)
								} else {
									checkMatMulInt8(t, y, x, w, s.n, s.rows, cols)
								}
							})
						}
					}
				})
			})
		})
	}
}

// TestMatMulMultiQuant checks that MatMulMulti over quantised matrices of
// mixed types (and an f32 one) gives what MatMul gives for each.
func TestMatMulMultiQuant(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		forEachQuantMode(t, func(t *testing.T, exact bool) {
			r := rand.New(rand.NewPCG(5, 6))
			a, _ := testMatrix(r, tensor.Q4_K, 9, 512)
			b, _ := testMatrix(r, tensor.Q6_K, 20, 512)
			c, _ := testMatrix(r, tensor.Q8_0, 3, 512)
			d, _ := testMatrix(r, tensor.F32, 5, 512)
			for _, n := range []int{1, 4} {
				x := randF32(r, n*512)
				ys := [][]float32{make([]float32, n*9), make([]float32, n*20), make([]float32, n*3), make([]float32, n*5)}
				MatMulMulti(ys, x, n, a, b, c, d)
				for i, m := range []*Matrix{a, b, c, d} {
					want := make([]float32, n*m.Rows)
					m.MatMul(want, x, n)
					for j := range want {
						if d := math.Abs(float64(want[j] - ys[i][j])); !(d <= 1e-4*(1+math.Abs(float64(want[j])))) {
							t.Fatalf("n=%d matrix %d [%d]: %v, want %v", n, i, j, ys[i][j], want[j])
						}
					}
				}
			}
		})
	})
}

// TestNewMatrixQuantErrors checks the errors for rows that are not whole
// blocks and for short data.
func TestNewMatrixQuantErrors(t *testing.T) {
	for _, tt := range []*tensor.Tensor{
		{Name: "partial", DType: tensor.Q4_0, Shape: []int{2, 48}, Data: make([]byte, 3*18)},
		{Name: "short", DType: tensor.Q4_K, Shape: []int{2, 256}, Data: make([]byte, 143)},
	} {
		if _, err := NewMatrix(tt); err == nil {
			t.Errorf("%s: NewMatrix accepted %v %v with %d bytes", tt.Name, tt.DType, tt.Shape, len(tt.Data))
		}
	}
}

// BenchmarkMatMulQuant measures decode (n = 1) and a small prefill over a
// 4096×4096 matrix of each type that llama.cpp's Q4_K_M mix uses (Q5_0 and
// Q8_0 where a row is not whole super-blocks) and a few others, with f32 for
// comparison.
func BenchmarkMatMulQuant(b *testing.B) {
	const R, C = 4096, 4096
	r := rand.New(rand.NewPCG(1, 2))
	for _, dt := range []tensor.DType{tensor.F32, tensor.Q8_0, tensor.Q4_0, tensor.Q5_0, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K, tensor.IQ4_XS, tensor.Q3_K} {
		m, _ := testMatrix(r, dt, R, C)
		for _, n := range []int{1, 16, 128} {
			x := randF32(r, n*C)
			y := make([]float32, n*R)
			modes := []bool{true, false}
			if dt == tensor.F32 {
				modes = modes[:1]
			}
			for _, exact := range modes {
				name := fmt.Sprintf("%v/n%d", dt, n)
				if dt != tensor.F32 {
					name += map[bool]string{true: "/exact", false: "/int8"}[exact]
				}
				b.Run(name, func(b *testing.B) {
					defer SetQuantExact(exact)()
					b.SetBytes(int64(m.Bytes()))
					for i := 0; i < b.N; i++ {
						m.MatMul(y, x, n)
					}
				})
			}
		}
	}
}

// FuzzMatMulQuant multiplies a matrix made of arbitrary block bytes, of
// every type, on every path with both products: nothing may panic, and the
// products must agree with the exact Go reference wherever that is finite
// and the inputs are ordinary (checked by TestMatMulQuant; here only that
// they run and write every output).
func FuzzMatMulQuant(f *testing.F) {
	f.Add(uint8(0), uint8(1), []byte{1, 2, 3})
	f.Add(uint8(9), uint8(2), make([]byte, 600))
	f.Fuzz(func(t *testing.T, sel, rows uint8, data []byte) {
		dt := tensor.QuantTypes[int(sel)%len(tensor.QuantTypes)]
		size, bytes := dt.Block()
		r := int(rows%4) + 1
		nb := max(1, len(data)/(r*bytes))
		b := make([]byte, r*nb*bytes)
		copy(b, data)
		m, err := NewMatrix(&tensor.Tensor{Name: "w", DType: dt, Shape: []int{r, nb * size}, Data: b})
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 2*nb*size)
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		for _, path := range Paths() {
			for _, exact := range []bool{true, false} {
				restorePath, restoreMode := SetPath(path), SetQuantExact(exact)
				y := make([]float32, 2*r)
				for i := range y {
					y[i] = -12345
				}
				m.MatMul(y, x, 2)
				restoreMode()
				restorePath()
				for i, v := range y {
					if v == -12345 {
						t.Fatalf("%v %s exact=%v: y[%d] not written", dt, path, exact, i)
					}
				}
			}
		}
	})
}
