package train

import (
	"math"

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
	const b = 32
	kernels.ParallelFor((cols+b-1)/b, 1, func(lo, hi int) {
		for c0 := lo * b; c0 < hi*b && c0 < cols; c0 += b {
			c1 := min(c0+b, cols)
			for r0 := 0; r0 < rows; r0 += b {
				r1 := min(r0+b, rows)
				for c := c0; c < c1; c++ {
					d := dst[c*rows : (c+1)*rows]
					for r := r0; r < r1; r++ {
						d[r] = src[r*cols+c]
					}
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
// [n, kvHeads·hd], each sequence causal over its own rows.
func attnFwd[F Float](out, q, k, v []F, a *attnShape) {
	H, KV, hd := a.heads, a.kvHeads, a.hd
	qd, kvd, grp := H*hd, KV*hd, H/KV
	seqs := len(a.off) - 1
	sc := F(a.scale)
	kernels.ParallelFor(seqs*H, 1, func(lo, hi int) {
		var s []F
		for task := lo; task < hi; task++ {
			b, h := task/H, task%H
			g := h / grp
			r0, T := a.off[b], a.off[b+1]-a.off[b]
			if cap(s) < T {
				s = make([]F, T)
			}
			for i := 0; i < T; i++ {
				qi := q[(r0+i)*qd+h*hd : (r0+i)*qd+(h+1)*hd]
				j0 := a.first(i)
				p := s[:i+1-j0]
				for j := j0; j <= i; j++ {
					p[j-j0] = sc * dot(qi, k[(r0+j)*kvd+g*hd:(r0+j)*kvd+(g+1)*hd])
				}
				softmax(p)
				o := out[(r0+i)*qd+h*hd : (r0+i)*qd+(h+1)*hd]
				clear(o)
				for j := j0; j <= i; j++ {
					axpy(o, p[j-j0], v[(r0+j)*kvd+g*hd:(r0+j)*kvd+(g+1)*hd])
				}
			}
		}
	})
}

// attnBwd adds the gradients of attnFwd w.r.t. q, k and v to dq, dk and dv,
// given dout. It recomputes the attention weights (as the forward pass
// computed them) instead of storing them. Each parallel task owns one key
// head of one sequence, so the sums over queries run in a fixed order.
func attnBwd[F Float](dq, dk, dv, dout, q, k, v []F, a *attnShape) {
	H, KV, hd := a.heads, a.kvHeads, a.hd
	qd, kvd, grp := H*hd, KV*hd, H/KV
	seqs := len(a.off) - 1
	sc := F(a.scale)
	kernels.ParallelFor(seqs*KV, 1, func(lo, hi int) {
		var p, dp []F
		for task := lo; task < hi; task++ {
			b, g := task/KV, task%KV
			r0, T := a.off[b], a.off[b+1]-a.off[b]
			if cap(p) < T {
				p, dp = make([]F, T), make([]F, T)
			}
			for h := g * grp; h < (g+1)*grp; h++ {
				for i := 0; i < T; i++ {
					qrow := (r0+i)*qd + h*hd
					qi, doi, dqi := q[qrow:qrow+hd], dout[qrow:qrow+hd], dq[qrow:qrow+hd]
					j0 := a.first(i)
					pp, dpp := p[:i+1-j0], dp[:i+1-j0]
					for j := j0; j <= i; j++ {
						kr := (r0+j)*kvd + g*hd
						pp[j-j0] = sc * dot(qi, k[kr:kr+hd])
						dpp[j-j0] = dot(doi, v[kr:kr+hd])
					}
					softmax(pp)
					var D F
					for j, pj := range pp {
						D += pj * dpp[j]
					}
					for j := j0; j <= i; j++ {
						kr := (r0+j)*kvd + g*hd
						pj := pp[j-j0]
						ds := pj * (dpp[j-j0] - D) * sc
						axpy(dqi, ds, k[kr:kr+hd])
						axpy(dk[kr:kr+hd], ds, qi)
						axpy(dv[kr:kr+hd], pj, doi)
					}
				}
			}
		}
	})
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
