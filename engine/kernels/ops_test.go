package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

var opSizes = []int{1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 100, 288, 577}

func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*(1+math.Abs(want))
}

func TestSoftmax(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(4, 4))
		for _, n := range opSizes {
			for _, scale := range []float32{1, 0.125, 30} {
				x := randF32(r, n)
				if n > 3 {
					x[1] = float32(math.Inf(-1))
					x[n-1] = -200
				}
				want := make([]float64, n)
				mx := math.Inf(-1)
				for _, v := range x {
					mx = math.Max(mx, float64(v)*float64(scale))
				}
				var sum float64
				for i, v := range x {
					want[i] = math.Exp(float64(v)*float64(scale) - mx)
					sum += want[i]
				}
				y, check := guarded(t, n)
				copy(y, x)
				if scale == 1 {
					Softmax(y)
				} else {
					softmaxScaled(y, scale)
				}
				check()
				for i := range y {
					// SIMD exp flushes results below the smallest normal float32 to 0.
					w := want[i] / sum
					if w < 0x1p-126 {
						if y[i] != 0 && !near(float64(y[i]), w, 3e-6) {
							t.Fatalf("n=%d scale=%g: y[%d] = %g, want %g or 0", n, scale, i, y[i], w)
						}
						continue
					}
					if !near(float64(y[i]), w, 3e-6) {
						t.Fatalf("n=%d scale=%g: y[%d] = %g, want %g", n, scale, i, y[i], w)
					}
				}
			}
		}
	})
}

func TestSwiGLU(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 5))
		for _, n := range opSizes {
			for _, gelu := range []bool{false, true} {
				g, u := randF32(r, n), randF32(r, n)
				for i := range g {
					g[i] *= 4 // reach the tails of the activations
				}
				if n > 2 {
					g[0], g[1] = 95, -95
				}
				y, check := guarded(t, n)
				SwiGLU(y, g, u, gelu)
				check()
				for i := range y {
					x := float64(g[i])
					var a float64
					if gelu {
						a = 0.5 * x * (1 + math.Tanh(0.7978845608028654*(x+0.044715*x*x*x)))
					} else {
						a = x / (1 + math.Exp(-x))
					}
					want := a * float64(u[i])
					if !(math.Abs(float64(y[i])-want) <= 2e-6*(1+math.Abs(x*float64(u[i])))) {
						t.Fatalf("n=%d gelu=%v: act(%g)·%g = %g, want %g", n, gelu, g[i], u[i], y[i], want)
					}
				}
			}
		}
	})
}

func TestRMSNormAddScale(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(6, 6))
		for _, n := range opSizes {
			x, w := randF32(r, n), randF32(r, n)
			for _, plusOne := range []bool{false, true} {
				var ss float64
				for _, v := range x {
					ss += float64(v) * float64(v)
				}
				inv := 1 / math.Sqrt(ss/float64(n)+1e-5)
				y, check := guarded(t, n)
				RMSNorm(y, x, w, 1e-5, plusOne)
				check()
				for i := range y {
					wi := float64(w[i])
					if plusOne {
						wi++
					}
					if want := float64(x[i]) * inv * wi; !near(float64(y[i]), want, 2e-6) {
						t.Fatalf("RMSNorm n=%d: y[%d] = %g, want %g", n, i, y[i], want)
					}
				}
			}
			y, check := guarded(t, n)
			copy(y, x)
			Add(y, w)
			Scale(y, -0.5)
			check()
			for i := range y {
				if want := (x[i] + w[i]) * -0.5; y[i] != want {
					t.Fatalf("Add+Scale n=%d: y[%d] = %g, want %g", n, i, y[i], want)
				}
			}
		}
	})
}

func TestArgmax(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 9))
		for _, n := range []int{1, 2, 17, 1023, 2048, 2049, 5000, 32000} {
			for trial := 0; trial < 20; trial++ {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(r.IntN(50)) // many ties
				}
				if trial%4 == 1 {
					x[r.IntN(n)] = float32(math.NaN())
				}
				if trial%4 == 2 {
					x[0] = float32(math.NaN())
				}
				if trial%4 == 3 {
					x[r.IntN(n)] = float32(math.Inf(1))
				}
				if got, want := Argmax(x), argmaxGo(x, 0); got != want {
					t.Fatalf("n %d trial %d: Argmax = %d (%g), want %d (%g)", n, trial, got, x[got], want, x[want])
				}
			}
		}
		if got := Argmax(nil); got != -1 {
			t.Errorf("Argmax(nil) = %d, want -1", got)
		}
	})
}
