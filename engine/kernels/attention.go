package kernels

import (
	"math"
	"sync"
	"unsafe"
)

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
//
// On a SIMD path it runs per (head, block of query rows) over the pool:
// scores as a small GEMM against the packed keys (or dot-form tiles for ≤ 4
// rows), a vectorised softmax, and the value product as a second GEMM.
func Attention(out, q, k, v []float32, nq, pos0 int, p AttnParams) {
	if nq <= 0 {
		return
	}
	if kp := cur.Load(); kp.gemm != nil && p.HeadDim > 0 {
		attentionSIMD(kp, out, q, k, v, nq, pos0, p)
		return
	}
	attentionGo(out, q, k, v, nq, pos0, p)
}

// attentionGo is the plain Go Attention, the reference.
func attentionGo(out, q, k, v []float32, nq, pos0 int, p AttnParams) {
	attnGoLoop.Run(nq*p.Heads, 1, attnArgs{out: out, q: q, k: k, v: v, nq: nq, pos0: pos0, p: p})
}

var attnGoLoop = Loop[attnArgs]{Body: attnGoRange}

// attnGoRange does the (row, head) items [lo, hi) of attentionGo.
func attnGoRange(a *attnArgs, lo, hi int) {
	out, q, k, v, nq, pos0, p := a.out, a.q, a.k, a.v, a.nq, a.pos0, a.p
	qDim := p.Heads * p.HeadDim
	kvDim := p.KVHeads * p.HeadDim
	group := p.Heads / p.KVHeads
	bufs, _ := attnPool.Get().(*attnBufs)
	if bufs == nil {
		bufs = new(attnBufs)
	}
	defer attnPool.Put(bufs)
	bufs.s = grow(bufs.s, pos0+nq)
	scores := bufs.s
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
			s := dotGo(qh, kj) * p.Scale
			if p.Softcap != 0 {
				s = p.Softcap * float32(math.Tanh(float64(s/p.Softcap)))
			}
			sc[j] = s
		}
		softmaxGo(sc)
		o := out[i*qDim+h*p.HeadDim : i*qDim+(h+1)*p.HeadDim]
		clear(o)
		for j, w := range sc {
			vj := v[(start+j)*kvDim+g*p.HeadDim : (start+j)*kvDim+(g+1)*p.HeadDim]
			for d := range o {
				o[d] += w * vj[d]
			}
		}
	}
}

// attnBufs are the per-chunk scratch buffers of attentionSIMD and
// attentionGo (the arrays live here rather than on the stack because the
// kernels are called through function values, which would move them to the
// heap on every call).
type attnBufs struct {
	kp, vp, s []float32
	tile      [12 * 32]float32
	idx       [32]int32
}

var attnPool sync.Pool

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func attentionSIMD(kp *kpath, out, q, k, v []float32, nq, pos0 int, p AttnParams) {
	hd := p.HeadDim
	qb := nq
	if qb > 64 {
		qb = 48
	}
	qblocks := (nq + qb - 1) / qb
	// An item (a head's query block) costs about qb·(pos0+nq)·hd
	// multiply-adds for the scores and as many for the values; a decode
	// step's items are so small that handing them to other threads costs
	// more than it saves, so a chunk gets at least ~64K of them.
	grain := max(1, 65536/max(1, qb*(pos0+nq)*hd))
	attnLoop.Run(p.Heads*qblocks, grain, attnArgs{kp: kp, out: out, q: q, k: k, v: v, nq: nq, pos0: pos0, qb: qb, qblocks: qblocks, p: p})
}

type attnArgs struct {
	kp                    *kpath
	out, q, k, v          []float32
	nq, pos0, qb, qblocks int
	p                     AttnParams
}

var attnLoop = Loop[attnArgs]{Body: attnRange}

// attnRange does the items [lo, hi) of attentionSIMD.
func attnRange(a *attnArgs, lo, hi int) {
	kp, out, q, k, v, nq, pos0, qb, qblocks, p := a.kp, a.out, a.q, a.k, a.v, a.nq, a.pos0, a.qb, a.qblocks, a.p
	hd := p.HeadDim
	qDim, kvDim := p.Heads*hd, p.KVHeads*hd
	group := p.Heads / p.KVHeads
	mr, nr := kp.mr, kp.nr
	bufs, _ := attnPool.Get().(*attnBufs)
	if bufs == nil {
		bufs = new(attnBufs)
	}
	defer attnPool.Put(bufs)
	tile, idx := &bufs.tile, &bufs.idx
	for it := lo; it < hi; it++ {
		// Heavy (late) query blocks first, heads fastest.
		h, ib := it%p.Heads, qblocks-1-it/p.Heads
		g := h / group
		i0, i1 := ib*qb, min(nq, (ib+1)*qb)
		s0 := 0
		if p.Window > 0 {
			s0 = max(0, pos0+i0-p.Window+1)
		}
		nk := pos0 + i1 - s0
		nkPad := (nk + nr - 1) / nr * nr
		kbase := k[s0*kvDim+g*hd:]
		vbase := v[s0*kvDim+g*hd:]
		bufs.s = grow(bufs.s, (i1-i0)*nkPad)
		S := bufs.s
		// Scores S[i-i0, j] = q_i · k_(s0+j).
		if i1-i0 <= 2 && hd%kp.lanes == 0 && hd <= 8*kp.lanes && (kp.lanes == 16 || hd <= 32) && kp.scores != nil {
			// Decode: q in registers, keys streamed in place.
			n4 := nk &^ 3
			for i := i0; i < i1; i++ {
				qi := q[i*qDim+h*hd : i*qDim+(h+1)*hd]
				row := S[(i-i0)*nkPad:]
				if n4 > 0 {
					kp.scores(&qi[0], &kbase[0], kvDim, n4, hd, &row[0])
				}
				for j := n4; j < nk; j++ {
					row[j] = Dot(qi, kbase[j*kvDim:j*kvDim+hd])
				}
			}
		} else if i1-i0 <= kp.gemvMR && hd%kp.lanes == 0 {
			qi := q[i0*qDim+h*hd:]
			mrr := i1 - i0
			j := 0
			for ; j+4 <= nk; j += 4 {
				kp.gemvF32[mrr](hd, &qi[0], qDim, &kbase[j*kvDim], kvDim, &S[j], nkPad)
			}
			for ; j < nk; j++ {
				for i := 0; i < mrr; i++ {
					S[i*nkPad+j] = Dot(qi[i*qDim:i*qDim+hd], kbase[j*kvDim:j*kvDim+hd])
				}
			}
		} else {
			bufs.kp = grow(bufs.kp, nkPad*hd)
			for pn := 0; pn*nr < nk; pn++ {
				valid := min(nr, nk-pn*nr)
				for j := 0; j < nr; j++ {
					idx[j] = int32(min(j, valid-1) * kvDim * 4)
				}
				kp.pack32((*uint32)(unsafe.Pointer(&bufs.kp[pn*nr*hd])), (*uint32)(unsafe.Pointer(&kbase[pn*nr*kvDim])), &idx[0], hd)
			}
			for i := i0; i < i1; i += mr {
				mrr := min(mr, i1-i)
				last := pos0 + i + mrr - 1 - s0 // last key of the tile
				for pn := 0; pn*nr <= last; pn++ {
					kp.gemm[mrr](hd, &q[i*qDim+h*hd], qDim, &bufs.kp[pn*nr*hd], nr, &S[(i-i0)*nkPad+pn*nr], nkPad, 0)
				}
			}
		}
		// Softmax over each row's visible keys; zero the rest.
		for i := i0; i < i1; i++ {
			row := S[(i-i0)*nkPad : (i-i0+1)*nkPad]
			a := 0
			if p.Window > 0 {
				a = max(0, pos0+i-p.Window+1) - s0
			}
			b := pos0 + i - s0 + 1
			sc := row[a:b]
			if p.Softcap != 0 {
				for j, x := range sc {
					sc[j] = p.Softcap * float32(math.Tanh(float64(x*p.Scale/p.Softcap)))
				}
				softmaxScaled(sc, 1)
			} else {
				softmaxScaled(sc, p.Scale)
			}
			clear(row[:a])
			clear(row[b:])
		}
		// out[i, h] = Σ_j S[i, j] · v_(s0+j): the value rows serve as the
		// panel in place (ldb = kvDim) for nr or nr/2 dims at a time; a
		// last few dims are copied into a zero-padded panel.
		for d0 := 0; d0 < hd; {
			w := hd - d0
			f, b, ldb := kp.gemm, &vbase[d0], kvDim
			switch {
			case w >= nr:
				w = nr
			case w >= nr/2:
				w, f = nr/2, kp.gemmHalf
			default:
				bufs.vp = grow(bufs.vp, nk*nr)
				vp := bufs.vp
				for j := 0; j < nk; j++ {
					copy(vp[j*nr:j*nr+w], vbase[j*kvDim+d0:j*kvDim+d0+w])
					clear(vp[j*nr+w : (j+1)*nr])
				}
				b, ldb = &vp[0], nr
			}
			for i := i0; i < i1; i += mr {
				mrr := min(mr, i1-i)
				kk := pos0 + i + mrr - s0 // keys the tile can see
				c, ldc := &out[i*qDim+h*hd+d0], qDim
				if w < nr/2 {
					c, ldc = &tile[0], nr
				}
				f[mrr](kk, &S[(i-i0)*nkPad], nkPad, b, ldb, c, ldc, 0)
				if w < nr/2 {
					for ii := 0; ii < mrr; ii++ {
						copy(out[(i+ii)*qDim+h*hd+d0:(i+ii)*qDim+h*hd+d0+w], tile[ii*nr:])
					}
				}
			}
			d0 += w
		}
	}
}
