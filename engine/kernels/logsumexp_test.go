package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestLogSumExp(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, n := range []int{1, 3, 15, 16, 17, 33, 1000, 32000} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 6)
			}
			orig := append([]float32(nil), x...)
			tmp := make([]float32, n)
			got := LogSumExp(x, tmp)
			var mx float64 = math.Inf(-1)
			for _, v := range x {
				mx = max(mx, float64(v))
			}
			var s float64
			for _, v := range x {
				s += math.Exp(float64(v) - mx)
			}
			want := mx + math.Log(s)
			if d := math.Abs(got - want); !(d <= 1e-5*max(1, math.Abs(want))) {
				t.Errorf("n %d: %v, want %v", n, got, want)
			}
			for i := range x {
				if x[i] != orig[i] {
					t.Fatalf("n %d: x[%d] changed", n, i)
				}
			}
		}
		if v := LogSumExp([]float32{float32(math.Inf(1)), 0}, make([]float32, 2)); !math.IsInf(v, 1) {
			t.Errorf("with +Inf: %v", v)
		}
	})
}
