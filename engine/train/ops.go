package train

import (
	"math"
	"sync"

	"github.com/limbic-dev/limbic/engine/kernels"
)

// Float is the working precision of the ops: float32 for training (the
// engine's SIMD kernels), float64 for the finite-difference tests.
//
// Every op here writes disjoint outputs from each parallel chunk and sums
// reductions in a fixed order, so results do not depend on the thread count.
type Float interface{ float32 | float64 }

// matmul computes y[n, out] = x[n, in]·wᵀ for w [out, in], overwriting y.
// float32 runs the engine's SIMD GEMM (kernels.Matrix.MatMul).
func matmul[F Float](y, x, w []F, n, out, in int) {
	if n <= 0 || out <= 0 {
		return
	}
	switch yy := any(y).(type) {
	case []float32:
		kernels.NewF32Matrix(out, in, any(w).([]float32)[:out*in]).MatMul(yy, any(x).([]float32), n)
	case []float64:
		xx, ww := any(x).([]float64), any(w).([]float64)
		kernels.ParallelFor(n, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				xr := xx[i*in : (i+1)*in]
				for o := 0; o < out; o++ {
					wr := ww[o*in : (o+1)*in]
					var s float64
					for k, v := range xr {
						s += v * wr[k]
					}
					yy[i*out+o] = s
				}
			}
		})
	}
}

// transpose writes src [rows, cols] transposed into dst [cols, rows].
func transpose[F Float](dst, src []F, rows, cols int) {
	transposeCols(dst, src, rows, cols, 0, cols)
}

// transposeCols writes columns [c0, c0+nc) of src [rows, cols] transposed
// into dst [nc, rows], in 8×8 tiles grouped into 64×64 blocks (plain
// loops for the edges).
func transposeCols[F Float | uint16](dst, src []F, rows, cols, c0, nc int) {
	const b = 64
	r8, c8 := rows&^7, nc&^7
	kernels.ParallelFor((nc+b-1)/b, 1, func(lo, hi int) {
		for cb := lo * b; cb < min(hi*b, nc); cb += b {
			ce := min(cb+b, nc)
			ce8 := min(ce, c8)
			for rb := 0; rb < r8; rb += b {
				re := min(rb+b, r8)
				for r := rb; r < re; r += 8 {
					for c := cb; c < ce8; c += 8 {
						o := r*cols + c0 + c
						s0, s1 := (*[8]F)(src[o:]), (*[8]F)(src[o+cols:])
						s2, s3 := (*[8]F)(src[o+2*cols:]), (*[8]F)(src[o+3*cols:])
						s4, s5 := (*[8]F)(src[o+4*cols:]), (*[8]F)(src[o+5*cols:])
						s6, s7 := (*[8]F)(src[o+6*cols:]), (*[8]F)(src[o+7*cols:])
						for j := 0; j < 8; j++ {
							d := (*[8]F)(dst[(c+j)*rows+r:])
							d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = s0[j], s1[j], s2[j], s3[j], s4[j], s5[j], s6[j], s7[j]
						}
					}
				}
			}
			// Edges: columns past the last whole tile, rows past r8.
			for c := max(cb, c8); c < ce; c++ {
				for r := 0; r < rows; r++ {
					dst[c*rows+r] = src[r*cols+c0+c]
				}
			}
			for c := cb; c < ce8; c++ {
				for r := r8; r < rows; r++ {
					dst[c*rows+r] = src[r*cols+c0+c]
				}
			}
		}
	})
}

// addTo computes y += x.
func addTo[F Float](y, x []F) {
	if yy, ok := any(y).([]float32); ok {
		xx := any(x).([]float32)
		kernels.ParallelFor(len(yy), 1<<14, func(lo, hi int) { kernels.Add(yy[lo:hi], xx[lo:hi]) })
		return
	}
	x = x[:len(y)]
	for i := range y {
		y[i] += x[i]
	}
}

// dot returns a·b.
func dot[F Float](a, b []F) F {
	if aa, ok := any(a).([]float32); ok {
		return F(kernels.Dot(aa, any(b).([]float32)))
	}
	b = b[:len(a)]
	var s F
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// axpy computes y += a·x.
func axpy[F Float](y []F, a F, x []F) {
	if yy, ok := any(y).([]float32); ok {
		kernels.Axpy(yy, float32(a), any(x).([]float32))
		return
	}
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// softmax normalises x in place (the SIMD kernel for float32).
func softmax[F Float](x []F) {
	if xx, ok := any(x).([]float32); ok {
		kernels.Softmax(xx)
		return
	}
	mx := x[0]
	for _, v := range x {
		mx = max(mx, v)
	}
	var s F
	for i, v := range x {
		e := F(math.Exp(float64(v - mx)))
		x[i] = e
		s += e
	}
	for i := range x {
		x[i] /= s
	}
}

// rmsnormFwd normalises n rows of width d: y = x·rs·w with
// rs = 1/√(mean(x²)+eps), saved per row in rs. y may not alias x.
func rmsnormFwd[F Float](y, rs, x, w []F, n, d int, eps float64) {
	kernels.ParallelFor(n, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*d:(r+1)*d], y[r*d:(r+1)*d]
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			s := F(1 / math.Sqrt(ss/float64(d)+eps))
			rs[r] = s
			for j, v := range xr {
				yr[j] = v * s * w[j]
			}
		}
	})
}

// rmsnormApply recomputes rmsnormFwd's output from its saved rs, bit for
// bit (the same products in the same order).
func rmsnormApply[F Float](y, rs, x, w []F, n, d int) {
	kernels.ParallelFor(n, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr, s := x[r*d:(r+1)*d], y[r*d:(r+1)*d], rs[r]
			for j, v := range xr {
				yr[j] = v * s * w[j]
			}
		}
	})
}

// rmsnormBwd adds the gradient of rmsnormFwd w.r.t. x to dx, and w.r.t. w to
// dw (when dw is not nil), given dy. With g = dy·w:
// dx = rs·(g − x·rs²·mean(g·x)), dw = Σ_rows dy·x·rs.
func rmsnormBwd[F Float](dx, dw, dy, x, w, rs []F, n, d int) {
	kernels.ParallelFor(n, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, gr, dxr := x[r*d:(r+1)*d], dy[r*d:(r+1)*d], dx[r*d:(r+1)*d]
			var gx float64
			for j, v := range xr {
				gx += float64(gr[j]) * float64(w[j]) * float64(v)
			}
			s := rs[r]
			c := F(gx/float64(d)) * s * s
			for j, v := range xr {
				dxr[j] += s * (gr[j]*w[j] - v*c)
			}
		}
	})
	if dw == nil {
		return
	}
	acc := make([]float64, d)
	for r := 0; r < n; r++ {
		xr, gr := x[r*d:(r+1)*d], dy[r*d:(r+1)*d]
		s := float64(rs[r])
		for j, v := range xr {
			acc[j] += float64(gr[j]) * float64(v) * s
		}
	}
	for j, v := range acc {
		dw[j] += F(v)
	}
}

// colSums adds the column sums of y [n, d] to g (a bias gradient).
func colSums[F Float](g, y []F, n, d int) {
	acc := make([]float64, d)
	for r := 0; r < n; r++ {
		for j, v := range y[r*d : (r+1)*d] {
			acc[j] += float64(v)
		}
	}
	for j, v := range acc {
		g[j] += F(v)
	}
}

// ropeTab holds cos and sin of pos·freq for positions [0, n).
type ropeTab[F Float] struct {
	inv         []float64
	half        int
	interleaved bool
	cos, sin    []F // [n, half]
}

func newRopeTab[F Float](inv []float64, interleaved bool) *ropeTab[F] {
	return &ropeTab[F]{inv: inv, half: len(inv), interleaved: interleaved}
}

// reserve grows the tables to cover positions [0, n).
func (t *ropeTab[F]) reserve(n int) {
	have := len(t.cos) / max(t.half, 1)
	if t.half == 0 || n <= have {
		return
	}
	for p := have; p < n; p++ {
		for _, f := range t.inv {
			a := float64(p) * f
			t.cos = append(t.cos, F(math.Cos(a)))
			t.sin = append(t.sin, F(math.Sin(a)))
		}
	}
}

// apply rotates the heads of one row x (heads·hd values) at position pos;
// inverse rotates the other way (the backward pass: the transpose of a
// rotation is its inverse).
func (t *ropeTab[F]) apply(x []F, heads, hd, pos int, inverse bool) {
	h2 := t.half
	c, s := t.cos[pos*h2:(pos+1)*h2], t.sin[pos*h2:(pos+1)*h2]
	for h := 0; h < heads; h++ {
		v := x[h*hd : (h+1)*hd]
		for i := 0; i < h2; i++ {
			ia, ib := i, i+h2
			if t.interleaved {
				ia, ib = 2*i, 2*i+1
			}
			a, b, si := v[ia], v[ib], s[i]
			if inverse {
				si = -si
			}
			v[ia] = a*c[i] - b*si
			v[ib] = a*si + b*c[i]
		}
	}
}

// ropeRows rotates n rows of x (heads·hd each) at positions pos.
func ropeRows[F Float](t *ropeTab[F], x []F, pos []int, heads, hd int, inverse bool) {
	w := heads * hd
	kernels.ParallelFor(len(pos), 32, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t.apply(x[r*w:(r+1)*w], heads, hd, pos[r], inverse)
		}
	})
}

// attnShape describes causal grouped-query attention over packed rows.
type attnShape struct {
	heads, kvHeads, hd int
	scale              float64
	window             int   // 0: none; else query p sees key j when p-j < window
	off                []int // first row of each sequence, plus the total
}

// keys returns the first key query i (0-based within its sequence) sees.
func (a *attnShape) first(i int) int {
	if a.window > 0 && i-a.window+1 > 0 {
		return i - a.window + 1
	}
	return 0
}

// attnFwd computes out [n, heads·hd] from q [n, heads·hd] and k, v
// [n, kvHeads·hd], each sequence causal over its own rows. Each (sequence,
// head) is three GEMMs on the engine's kernels: S = Q·Kᵀ, P = softmax of
// S's causal part, O = P·V.
func attnFwd[F Float](out, q, k, v []F, a *attnShape) {
	H := a.heads
	seqs := len(a.off) - 1
	kernels.ParallelFor(seqs*H, 1, func(lo, hi int) {
		ab := getAttnBufs[F]()
		defer putAttnBufs(ab)
		w := &ab.w
		for task := lo; task < hi; task++ {
			b, h := task/H, task%H
			w.setup(a, q, k, v, b, h/(H/a.kvHeads))
			w.probs(a, q, h)
			T, hd := w.T, a.hd
			w.t2, w.t3 = grow(w.t2, hd*T), grow(w.t3, T*hd)
			transpose(w.t2, w.v, T, hd)
			matmul(w.t3, w.p, w.t2, T, hd, T)
			w.scatter(out, w.t3, H*hd, h, false)
		}
	})
}

// attnBwd adds the gradients of attnFwd w.r.t. q, k and v to dq, dk and dv,
// given dout. It recomputes the attention weights (as the forward pass
// computed them) instead of storing them. Each parallel task owns one key
// head of one sequence and sums its query heads in order.
func attnBwd[F Float](dq, dk, dv, dout, q, k, v []F, a *attnShape) {
	H, KV, hd := a.heads, a.kvHeads, a.hd
	qd, kvd, grp := H*hd, KV*hd, H/KV
	seqs := len(a.off) - 1
	sc := F(a.scale)
	kernels.ParallelFor(seqs*KV, 1, func(lo, hi int) {
		ab := getAttnBufs[F]()
		defer putAttnBufs(ab)
		w := &ab.w
		dK, dV, kT, do, dP, t, sT, qT := ab.b[0], ab.b[1], ab.b[2], ab.b[3], ab.b[4], ab.b[5], ab.b[6], ab.b[7]
		defer func() { ab.b = [8][]F{dK, dV, kT, do, dP, t, sT, qT} }()
		for task := lo; task < hi; task++ {
			b, g := task/KV, task%KV
			w.setup(a, q, k, v, b, g)
			T := w.T
			dK, dV, kT = grow(dK, T*hd), grow(dV, T*hd), grow(kT, hd*T)
			do, dP, t = grow(do, T*hd), grow(dP, T*T), grow(t, T*hd)
			sT, qT = grow(sT, T*T), grow(qT, hd*T)
			clear(dK)
			clear(dV)
			transpose(kT, w.k, T, hd)
			for h := g * grp; h < (g+1)*grp; h++ {
				w.probs(a, q, h)
				w.gather(dout, qd, h, do)
				// dP = dO·Vᵀ; dS = P∘(dP − rowsum(P∘dP))·scale.
				matmul(dP, do, w.v, T, T, hd)
				for i := 0; i < T; i++ {
					p, d := w.p[i*T:(i+1)*T], dP[i*T:(i+1)*T]
					var D F
					for j, pj := range p {
						D += pj * d[j]
					}
					for j, pj := range p {
						d[j] = pj * (d[j] - D) * sc
					}
				}
				// dQ = dS·K, dK += dSᵀ·Q, dV += Pᵀ·dO.
				matmul(t, dP, kT, T, hd, T)
				w.scatter(dq, t, qd, h, true)
				transpose(sT, dP, T, T)
				transpose(qT, w.q, T, hd)
				matmul(t, sT, qT, T, hd, T)
				addTo(dK, t)
				transpose(sT, w.p, T, T)
				transpose(qT, do, T, hd)
				matmul(t, sT, qT, T, hd, T)
				addTo(dV, t)
			}
			w.scatter(dk, dK, kvd, g, true)
			w.scatter(dv, dV, kvd, g, true)
		}
	})
}

// attnBufs is the scratch of one chunk of attention tasks, pooled: the
// buffers grow with the sequence length squared.
type attnBufs[F Float] struct {
	w attnWork[F]
	b [8][]F
}

// attnPools holds *attnBufs[float32] (0) and *attnBufs[float64] (1).
var attnPools [2]sync.Pool

func poolOf[F Float]() *sync.Pool {
	var z F
	if _, ok := any(z).(float32); ok {
		return &attnPools[0]
	}
	return &attnPools[1]
}

func getAttnBufs[F Float]() *attnBufs[F] {
	if b, ok := poolOf[F]().Get().(*attnBufs[F]); ok {
		return b
	}
	return new(attnBufs[F])
}

func putAttnBufs[F Float](b *attnBufs[F]) {
	b.w.a = nil
	poolOf[F]().Put(b)
}

// attnWork is one attention task's scratch: one sequence's queries of one
// head, keys and values of one key head, and the attention weights.
type attnWork[F Float] struct {
	a          *attnShape
	r0, T      int
	q, k, v, p []F
	t2, t3     []F
}

// gather copies head h of rows [r0, r0+T) of x (width w) into dst [T, hd].
func (w *attnWork[F]) gather(x []F, width, h int, dst []F) []F {
	hd := w.a.hd
	for i := 0; i < w.T; i++ {
		copy(dst[i*hd:(i+1)*hd], x[(w.r0+i)*width+h*hd:])
	}
	return dst
}

// scatter writes (or adds) src [T, hd] into head h of rows [r0, r0+T) of x.
func (w *attnWork[F]) scatter(x, src []F, width, h int, add bool) {
	hd := w.a.hd
	for i := 0; i < w.T; i++ {
		d := x[(w.r0+i)*width+h*hd : (w.r0+i)*width+(h+1)*hd]
		if add {
			addTo(d, src[i*hd:(i+1)*hd])
		} else {
			copy(d, src[i*hd:(i+1)*hd])
		}
	}
}

// setup gathers sequence b's keys and values of key head g.
func (w *attnWork[F]) setup(a *attnShape, q, k, v []F, b, g int) {
	w.a, w.r0, w.T = a, a.off[b], a.off[b+1]-a.off[b]
	kvd := a.kvHeads * a.hd
	w.k = w.gather(k, kvd, g, grow(w.k, w.T*a.hd))
	w.v = w.gather(v, kvd, g, grow(w.v, w.T*a.hd))
}

// probs gathers head h's queries and computes the attention weights
// P [T, T] (zero outside the causal window).
func (w *attnWork[F]) probs(a *attnShape, q []F, h int) {
	T := w.T
	w.q = w.gather(q, a.heads*a.hd, h, grow(w.q, T*a.hd))
	w.p = grow(w.p, T*T)
	matmul(w.p, w.q, w.k, T, T, a.hd)
	sc := F(a.scale)
	for i := 0; i < T; i++ {
		row := w.p[i*T : (i+1)*T]
		j0 := a.first(i)
		clear(row[:j0])
		clear(row[i+1:])
		s := row[j0 : i+1]
		for j := range s {
			s[j] *= sc
		}
		softmax(s)
	}
}

// sigmoid returns 1/(1+e^-x).
func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// swigluFwd writes silu(gate)·up into h.
func swigluFwd[F Float](h, gate, up []F) {
	if hh, ok := any(h).([]float32); ok {
		g, u := any(gate).([]float32), any(up).([]float32)
		kernels.ParallelFor(len(hh), 4096, func(lo, hi int) { kernels.SwiGLU(hh[lo:hi], g[lo:hi], u[lo:hi], false) })
		return
	}
	for i, g := range gate {
		h[i] = F(float64(g)*sigmoid(float64(g))) * up[i]
	}
}

// swigluBwd writes the gradients of swigluFwd w.r.t. gate and up into dg
// and du, given dh: du = dh·silu(g), dg = dh·up·σ(g)(1 + g(1−σ(g))).
func swigluBwd[F Float](dg, du, dh, gate, up []F) {
	kernels.ParallelFor(len(dh), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := float64(gate[i])
			s := sigmoid(g)
			du[i] = dh[i] * F(g*s)
			dg[i] = dh[i] * up[i] * F(s*(1+g*(1-s)))
		}
	})
}
