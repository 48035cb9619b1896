package kernels

import "math"

// AttnParams describes causal multi-head attention with grouped-query heads.
type AttnParams struct {
	Heads, KVHeads, HeadDim int
	Scale                   float32 // multiplies q·k (usually 1/sqrt(HeadDim))
	Softcap                 float32 // 0: none; else scores become Softcap·tanh(score/Softcap)
	Window                  int     // 0: none; else position p sees key j only when p-j < Window
}

// Attention computes causal attention for nq query rows at absolute positions
// pos0, pos0+1, …: for each row i and head h,
//
//	out[i, h] = Σ_{j ≤ pos0+i} softmax_j(score(q[i,h], k[j,g])) · v[j,g],  g = h / (Heads/KVHeads)
//
// q and out are [nq, Heads·HeadDim]; k and v are caches [≥ pos0+nq, KVHeads·HeadDim]
// that already hold the keys and values of every position up to pos0+nq-1.
func Attention(out, q, k, v []float32, nq, pos0 int, p AttnParams) {
	qDim := p.Heads * p.HeadDim
	kvDim := p.KVHeads * p.HeadDim
	group := p.Heads / p.KVHeads
	ParallelFor(nq*p.Heads, 1, func(lo, hi int) {
		scores := make([]float32, pos0+nq)
		for t := lo; t < hi; t++ {
			i, h := t/p.Heads, t%p.Heads
			pos := pos0 + i
			g := h / group
			qh := q[i*qDim+h*p.HeadDim : i*qDim+(h+1)*p.HeadDim]
			start := 0
			if p.Window > 0 && pos-p.Window+1 > 0 {
				start = pos - p.Window + 1
			}
			sc := scores[start : pos+1]
			for j := range sc {
				kj := k[(start+j)*kvDim+g*p.HeadDim : (start+j)*kvDim+(g+1)*p.HeadDim]
				s := Dot(qh, kj) * p.Scale
				if p.Softcap != 0 {
					s = p.Softcap * float32(math.Tanh(float64(s/p.Softcap)))
				}
				sc[j] = s
			}
			Softmax(sc)
			o := out[i*qDim+h*p.HeadDim : i*qDim+(h+1)*p.HeadDim]
			clear(o)
			for j, w := range sc {
				Axpy(o, w, v[(start+j)*kvDim+g*p.HeadDim:(start+j)*kvDim+(g+1)*p.HeadDim])
			}
		}
	})
}
