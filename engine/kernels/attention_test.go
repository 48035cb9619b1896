package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestAttention(t *testing.T) {
	type cfg struct{ heads, kvHeads, hd int }
	cfgs := []cfg{{6, 6, 48}, {9, 3, 64}, {4, 1, 20}, {2, 2, 8}, {3, 3, 70}}
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(8, 8))
		for _, c := range cfgs {
			for _, nq := range []int{1, 2, 3, 5, 17, 64, 130} {
				for _, pos0 := range []int{0, 7, 100} {
					for _, variant := range []AttnParams{{}, {Window: 5}, {Window: 40, Softcap: 30}} {
						p := AttnParams{Heads: c.heads, KVHeads: c.kvHeads, HeadDim: c.hd,
							Scale: float32(1 / math.Sqrt(float64(c.hd))), Window: variant.Window, Softcap: variant.Softcap}
						qDim, kvDim := c.heads*c.hd, c.kvHeads*c.hd
						L := pos0 + nq
						q := randF32(r, nq*qDim)
						k := randF32(r, L*kvDim)
						v := randF32(r, L*kvDim)
						want := make([]float32, nq*qDim)
						attentionGo(want, q, k, v, nq, pos0, p)
						out, check := guarded(t, nq*qDim)
						Attention(out, q, k, v, nq, pos0, p)
						check()
						for i := range out {
							if !(math.Abs(float64(out[i]-want[i])) <= 2e-5*(1+math.Abs(float64(want[i])))) {
								t.Fatalf("%s nq=%d pos0=%d window=%d softcap=%g: out[%d] = %g, want %g",
									fmt.Sprint(c), nq, pos0, p.Window, p.Softcap, i, out[i], want[i])
							}
						}
					}
				}
			}
		}
	})
}
