package arch

import (
	"math"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/kernels"
)

// attendHooked is kernels.Attention for one sequence of nq new rows at
// positions pos0… whose hooks read or write the attention scores or pattern
// of layer l: a plain loop that materialises both, [nq, Heads, pos0+nq],
// calls the hooks (sequence index seq) on them, and weights the values by
// the pattern as the hooks left it. buf is reused and returned.
//
// Scores are q·k·Scale, soft-capped when the layer caps; keys a row does not
// attend (later positions, outside the sliding window) hold -Inf. The
// softmax runs over each row's attended keys only; the pattern is 0 on the
// others, and the value sum runs over every key, so a hook's writes to the
// pattern all take effect.
func attendHooked(buf, out, q, k, v []float32, nq, pos0 int, p kernels.AttnParams, hs *hook.Set, seq, l int) []float32 {
	hd, heads := p.HeadDim, p.Heads
	qDim, kvDim := heads*hd, p.KVHeads*hd
	group := heads / p.KVHeads
	nk := pos0 + nq
	dim := heads * nk
	if cap(buf) < nq*dim {
		buf = make([]float32, nq*dim)
	}
	a := buf[:nq*dim]
	negInf := float32(math.Inf(-1))
	// attended returns the first and one past the last key row i attends.
	attended := func(i int) (int, int) {
		pos, start := pos0+i, 0
		if p.Window > 0 {
			start = max(0, pos-p.Window+1)
		}
		return start, pos + 1
	}
	for i := 0; i < nq; i++ {
		lo, hi := attended(i)
		for h := 0; h < heads; h++ {
			g := h / group
			qh := q[i*qDim+h*hd : i*qDim+(h+1)*hd]
			row := a[(i*heads+h)*nk : (i*heads+h+1)*nk]
			for j := range row {
				if j < lo || j >= hi {
					row[j] = negInf
					continue
				}
				s := kernels.Dot(qh, k[j*kvDim+g*hd:j*kvDim+(g+1)*hd]) * p.Scale
				if p.Softcap != 0 {
					s = p.Softcap * float32(math.Tanh(float64(s/p.Softcap)))
				}
				row[j] = s
			}
		}
	}
	act := &hook.Act{Point: hook.Block(l, hook.AttnScores), Seq: seq, Pos: pos0, Rows: nq, Dim: dim, Heads: heads, Data: a}
	hs.Run(act)
	for i := 0; i < nq; i++ {
		lo, hi := attended(i)
		for h := 0; h < heads; h++ {
			row := a[(i*heads+h)*nk : (i*heads+h+1)*nk]
			mx := negInf
			for _, s := range row[lo:hi] {
				mx = max(mx, s)
			}
			var sum float64
			for j := lo; j < hi; j++ {
				e := math.Exp(float64(row[j] - mx))
				row[j] = float32(e)
				sum += e
			}
			for j := range row {
				if j < lo || j >= hi {
					row[j] = 0
					continue
				}
				row[j] = float32(float64(row[j]) / sum)
			}
		}
	}
	act.Point = hook.Block(l, hook.AttnPattern)
	hs.Run(act)
	for i := 0; i < nq; i++ {
		for h := 0; h < heads; h++ {
			g := h / group
			row := a[(i*heads+h)*nk : (i*heads+h+1)*nk]
			o := out[i*qDim+h*hd : i*qDim+(h+1)*hd]
			clear(o)
			for j, w := range row {
				if w == 0 {
					continue
				}
				kernels.Axpy(o, w, v[j*kvDim+g*hd:j*kvDim+(g+1)*hd])
			}
		}
	}
	return buf
}
