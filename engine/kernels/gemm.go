package kernels

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// Tuning of the SIMD MatMul (see BenchmarkMatMul).
const (
	gemvMaxN = 6   // n up to this uses the row-streaming GEMV
	kcMax    = 512 // K block (elements): an x tile mr×kc stays in L1
	mcMax    = 256 // weight rows per packed block: mc×kc floats stay in L2
	// F32 weights with gemvMaxN < n ≤ gemmSwapMaxN run gemmSwapped.
	gemmSwapMaxN = 64
)

// gemv computes y = x·Wᵀ for small n (decode): the weight rows are split
// over the pool, and each chunk streams its rows once, front to back, for
// all n rows of x (gemvRange).
func (m *Matrix) gemv(p *kpath, y, x []float32, n int) {
	a := gemvArgs{m: m, p: p, y: y, x: x, n: n}
	if m.bf16Dot(p, n) {
		a.xb = roundAct(p, x[:n*m.Cols])
		defer putRounded(a.xb)
	}
	gemvLoop.Run(m.Rows, m.gemvGrain(n), a)
}

// bf16Dot reports whether the decode of n rows of x runs the path's
// VDPBF16PS kernels on x rounded to bf16 (a bf16 weight whose rows are
// whole vectors), as the GEMM does for more rows (gemmBlocked), so that a
// sequence's numbers do not depend on how many others decode beside it.
func (m *Matrix) bf16Dot(p *kpath, n int) bool {
	return m.DType == tensor.BF16 && m.Cols%32 == 0 &&
		(n == 1 && p.gemvRowsBF16Dot != nil || n > 1 && n < len(p.gemvRowsMBF16Dot))
}

// roundedPool recycles the bf16 copies of x made by roundAct.
var roundedPool sync.Pool

// roundAct returns x rounded to bf16 (nearest even) in a pooled buffer.
func roundAct(p *kpath, x []float32) *[]uint16 {
	b, ok := roundedPool.Get().(*[]uint16)
	if !ok || cap(*b) < len(x) {
		s := make([]uint16, len(x))
		b = &s
	}
	*b = (*b)[:len(x)]
	toBF16(p, *b, x)
	return b
}

func putRounded(b *[]uint16) { roundedPool.Put(b) }

type gemvArgs struct {
	m    *Matrix
	p    *kpath
	y, x []float32
	xq   *actQ8    // x quantised to 8 bits for the integer kernels (nil: none)
	xb   *[]uint16 // x rounded to bf16 for the VDPBF16PS kernel (nil: none)
	n    int
}

var gemvLoop = Loop[gemvArgs]{Body: func(a *gemvArgs, lo, hi int) { a.m.gemvRange(a.p, a.y, a.x, a.xq, a.xb, a.n, lo, hi) }}

// gemvGrain is the fewest weight rows worth a chunk of their own (about
// 16K multiply-adds).
func (m *Matrix) gemvGrain(n int) int { return 4 + 16384/(m.Cols*n+1) }

// gemvRange does weight rows [lo, hi) of y = x·Wᵀ for n rows of x: with the
// path's row-streaming kernels, for quantised weights block by block
// (quantRange; xq holds x quantised to 8 bits when the integer kernels run,
// else nil), or, for rows narrower than a vector, row by row with Dot. xb,
// when not nil, is x rounded to bf16 for the VDPBF16PS kernel (bf16Dot).
func (m *Matrix) gemvRange(p *kpath, y, x []float32, xq *actQ8, xb *[]uint16, n, lo, hi int) {
	if m.q != nil {
		m.quantRange(p, y, x, xq, n, lo, hi)
		return
	}
	if xb != nil && m.bf16Dot(p, n) {
		switch C := m.Cols; {
		case hi <= lo:
		case n == 1:
			p.gemvRowsBF16Dot(C, &(*xb)[0], &m.u16[lo*C], C, &y[lo], hi-lo)
		default:
			p.gemvRowsMBF16Dot[n](C, &(*xb)[0], C, &m.u16[lo*C], C, &y[lo], m.Rows, hi-lo)
		}
		return
	}
	if m.gemvRows(p, y, x, n, lo, hi-lo) {
		return
	}
	R, C := m.Rows, m.Cols
	var tmp []float32
	if m.DType != tensor.F32 {
		tmp = make([]float32, C)
	}
	for r := lo; r < hi; r++ {
		w := tmp
		if m.DType == tensor.F32 {
			w = m.f32[r*C : (r+1)*C]
		} else {
			m.Row(r, tmp)
		}
		for i := 0; i < n; i++ {
			y[i*R+r] = Dot(x[i*C:(i+1)*C], w)
		}
	}
}

// MatMulMulti computes ys[i][n, ms[i].Rows] = x[n, Cols] · ms[i]ᵀ for
// matrices of the same width (a layer's q, k and v projections, or its gate
// and up projections). For a few rows of x (decode) it spreads the rows of
// all the matrices over one parallel loop, which costs one dispatch instead
// of one per matrix; otherwise it multiplies them in turn.
func MatMulMulti(ys [][]float32, x []float32, n int, ms ...*Matrix) {
	if len(ys) != len(ms) {
		panic(fmt.Sprintf("kernels: MatMulMulti: %d outputs for %d matrices", len(ys), len(ms)))
	}
	p := cur.Load()
	multi := p.gemm != nil && n <= gemvMaxN && len(ms) > 1 && len(ms) <= maxMulti
	intDot := false // some matrix runs the int8 product on x quantised to 8 bits
	for i, m := range ms {
		if m.Cols != ms[0].Cols || len(x) < n*m.Cols || len(ys[i]) < n*m.Rows || m.Cols == 0 {
			multi = false
		}
		intDot = intDot || m.q != nil && m.intDot()
	}
	if !multi {
		for i, m := range ms {
			m.MatMul(ys[i], x, n)
		}
		return
	}
	a := multiArgs{p: p, x: x, n: n, nm: len(ms)}
	if intDot {
		a.xq = quantizeAct(x, n, ms[0].Cols)
		defer putAct(a.xq)
	}
	for _, m := range ms {
		if m.bf16Dot(p, n) {
			a.xb = roundAct(p, x[:n*m.Cols])
			defer putRounded(a.xb)
			break
		}
	}
	grain := 0
	for i, m := range ms {
		a.ms[i], a.ys[i] = m, ys[i]
		a.starts[i+1] = a.starts[i] + m.Rows
		grain = max(grain, m.gemvGrain(n))
	}
	multiLoop.Run(a.starts[len(ms)], grain, a)
}

// maxMulti is the most matrices MatMulMulti joins in one parallel loop.
const maxMulti = 4

type multiArgs struct {
	p      *kpath
	x      []float32
	xq     *actQ8    // x quantised to 8 bits for the integer kernels (nil: none)
	xb     *[]uint16 // x rounded to bf16 for the VDPBF16PS kernel (nil: none)
	n, nm  int
	ms     [maxMulti]*Matrix
	ys     [maxMulti][]float32
	starts [maxMulti + 1]int // first row of each matrix in the joint range
}

var multiLoop = Loop[multiArgs]{Body: func(a *multiArgs, lo, hi int) {
	for i, m := range a.ms[:a.nm] {
		r0, r1 := max(lo, a.starts[i]), min(hi, a.starts[i+1])
		if r0 < r1 {
			m.gemvRange(a.p, a.ys[i], a.x, a.xq, a.xb, a.n, r0-a.starts[i], r1-a.starts[i])
		}
	}
}}

// gemvRows does weight rows [r0, r0+rows) for the n rows of x with the
// path's row-streaming kernels (one pass over the weight per gemvMaxN rows
// of x), plus the Go tail of rows longer than a vector multiple; it reports
// false (and does nothing) when the path has no such kernel for the matrix.
func (m *Matrix) gemvRows(p *kpath, y, x []float32, n, r0, rows int) bool {
	R, C := m.Rows, m.Cols
	kmain := C &^ (p.lanes - 1)
	if kmain == 0 || p.gemvRowsF32 == nil || len(p.gemvRowsMF32) <= min(n, gemvMaxN) ||
		m.DType != tensor.F32 && m.DType != tensor.BF16 && m.DType != tensor.F16 {
		return false
	}
	for i0 := 0; i0 < n && rows > 0; i0 += gemvMaxN {
		mr := min(n-i0, gemvMaxN)
		xi, yi := &x[i0*C], &y[i0*R+r0]
		switch {
		case m.DType == tensor.F32 && mr == 1:
			p.gemvRowsF32(kmain, xi, &m.f32[r0*C], C, yi, rows)
		case m.DType == tensor.F32:
			p.gemvRowsMF32[mr](kmain, xi, C, &m.f32[r0*C], C, yi, R, rows)
		case m.DType == tensor.BF16 && mr == 1:
			p.gemvRowsBF16(kmain, xi, &m.u16[r0*C], C, yi, rows)
		case m.DType == tensor.BF16:
			p.gemvRowsMBF16[mr](kmain, xi, C, &m.u16[r0*C], C, yi, R, rows)
		case mr == 1:
			p.gemvRowsF16(kmain, xi, &m.u16[r0*C], C, yi, rows)
		default:
			p.gemvRowsMF16[mr](kmain, xi, C, &m.u16[r0*C], C, yi, R, rows)
		}
	}
	if kmain < C {
		for r := r0; r < r0+rows; r++ {
			for i := 0; i < n; i++ {
				var s float32
				for k, v := range x[i*C+kmain : (i+1)*C] {
					s += v * m.at(r, kmain+k)
				}
				y[i*R+r] += s
			}
		}
	}
	return true
}

// at returns W[r][k] as float32 (F32, BF16, F16 only).
func (m *Matrix) at(r, k int) float32 {
	switch m.DType {
	case tensor.F32:
		return m.f32[r*m.Cols+k]
	case tensor.BF16:
		return tensor.BF16ToF32(m.u16[r*m.Cols+k])
	case tensor.F16:
		return tensor.F16ToF32(m.u16[r*m.Cols+k])
	}
	panic("kernels: at: unsupported dtype")
}

// packPool recycles packing buffers (float32 or bf16-pair units).
var packPool sync.Pool

func getPackBuf(n int) *[]uint32 {
	if b, ok := packPool.Get().(*[]uint32); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]uint32, n)
	return &b
}

// gemmBlocked computes y = x·Wᵀ with the broadcast-form micro-kernels. The
// output is cut into items of (≤ mcMax weight rows) × (a block of x rows);
// each item packs its weight rows, one K block at a time, into panels
// [kc][nr] (widening bf16/f16/q8 to float32, or keeping bf16 pairs for
// VDPBF16PS) and runs mr×nr tiles over its x rows.
func (m *Matrix) gemmBlocked(p *kpath, y, x []float32, n int) {
	R, C := m.Rows, m.Cols
	mr, nr := p.mr, p.nr
	pairs := m.DType == tensor.BF16 && p.gemmBF16 != nil && C%2 == 0

	// K blocks of equal size, even (pairs stay whole).
	kc := kBlock(C)
	if m.q != nil { // whole quantised blocks
		kc = (kc + m.qsize - 1) / m.qsize * m.qsize
	}
	if pairs {
		kblocks := (C + 2*kcMax - 1) / (2 * kcMax)
		kc = ((C+kblocks-1)/kblocks + 1) &^ 1
	}
	// Weight-row blocks of whole panels.
	panels := (R + nr - 1) / nr
	rblocks := (panels*nr + mcMax - 1) / mcMax
	bp := (panels + rblocks - 1) / rblocks // panels per block
	rblocks = (panels + bp - 1) / bp
	// x-row blocks: enough items for the workers to balance, but each item
	// packs its weights, so not too many.
	w := Workers()
	nblocks := 1
	if rblocks < 3*w {
		nblocks = (3*w + rblocks - 1) / rblocks
	}
	if maxB := (n + 4*mr - 1) / (4 * mr); nblocks > maxB {
		nblocks = max(1, maxB)
	}
	nb := ((n+nblocks-1)/nblocks + mr - 1) / mr * mr
	nblocks = (n + nb - 1) / nb

	var xb []uint16 // x as bf16 for VDPBF16PS
	if pairs {
		xbuf := getPackBuf((n*C + 1) / 2)
		defer packPool.Put(xbuf)
		xb = unsafe.Slice((*uint16)(unsafe.Pointer(&(*xbuf)[0])), n*C)
		toBF16(p, xb, x[:n*C])
	}

	gemmLoop.Run(rblocks*nblocks, 1, gemmArgs{m: m, p: p, y: y, x: x, xb: xb, n: n, kc: kc, panels: panels, bp: bp, rblocks: rblocks, nb: nb, pairs: pairs})
}

// kBlock is gemmBlocked's K block for C columns of f32 weights: blocks of
// equal size, at most kcMax, even.
func kBlock(C int) int {
	kblocks := (C + kcMax - 1) / kcMax
	return ((C+kblocks-1)/kblocks + 1) &^ 1
}

// gemmSwapped computes y = x·Wᵀ for F32 weights and a few dozen rows of x
// (a batched decode) with gemmBlocked's micro-kernels and K blocks, the
// operands swapped: x, which is small, is packed once per call into panels
// [C][nr] of nr x rows, and the weight rows are the kernel's broadcast
// operand, read in place; the kernel's mr×nr tile (weight rows × x rows) is
// then stored transposed into y. At such n packing the weight panels (all
// of W, on every call) costs more than the products. Every output is the
// same fused multiply-add chain over each K block, the blocks added in the
// same order, so y is bit for bit what gemmBlocked gives.
func (m *Matrix) gemmSwapped(p *kpath, y, x []float32, n int) {
	C, nr := m.Cols, p.nr
	panels := (n + nr - 1) / nr
	buf := getPackBuf(panels * C * nr)
	defer packPool.Put(buf)
	xp := unsafe.Slice((*float32)(unsafe.Pointer(&(*buf)[0])), panels*C*nr)
	for q := 0; q < panels; q++ {
		valid := min(nr, n-q*nr)
		panel := xp[q*C*nr : (q+1)*C*nr]
		for j := 0; j < nr; j++ {
			row := x[(q*nr+min(j, valid-1))*C:][:C] // rows past valid repeat the last (discarded)
			for k, v := range row {
				panel[k*nr+j] = v
			}
		}
	}
	groups := (m.Rows + p.mr - 1) / p.mr
	swapLoop.Run(groups, 1+2048/(p.mr*C*panels+1), swapArgs{m: m, p: p, y: y, xp: xp, n: n, kc: kBlock(C)})
}

type swapArgs struct {
	m     *Matrix
	p     *kpath
	y, xp []float32
	n, kc int
}

var swapLoop = Loop[swapArgs]{Body: swapRange}

// swapRange does the weight-row groups (of mr rows) [lo, hi) of
// gemmSwapped, swapBlock groups at a time: their tiles go to a staging
// buffer [rows][nr], which is then stored transposed into y (runs of
// swapBlock·mr outputs per x row rather than mr), while the next block's
// weight rows are being prefetched.
func swapRange(a *swapArgs, lo, hi int) {
	m, p, y, xp, n, kc := a.m, a.p, a.y, a.xp, a.n, a.kc
	R, C := m.Rows, m.Cols
	mr, nr := p.mr, p.nr
	bufs, _ := gemmBufPool.Get().(*gemmBufs)
	if bufs == nil {
		bufs = new(gemmBufs)
	}
	defer gemmBufPool.Put(bufs)
	if size := swapBlock * mr * nr; cap(bufs.pack) < size {
		bufs.pack = make([]uint32, size)
	}
	stage := unsafe.Slice((*float32)(unsafe.Pointer(&bufs.pack[:1][0])), swapBlock*mr*nr)
	for g0 := lo; g0 < hi; g0 += swapBlock {
		g1 := min(hi, g0+swapBlock)
		r0, r1 := g0*mr, min(R, g1*mr)
		if next := min(R, r1+(r1-r0)); next > r1 {
			Prefetch(m.f32[r1*C : next*C])
		}
		for q := 0; q*nr < n; q++ {
			for r := r0; r < r1; r += mr {
				mrr := min(mr, R-r)
				for k0 := 0; k0 < C; k0 += kc {
					acc := 0
					if k0 > 0 {
						acc = 1
					}
					p.gemm[mrr](min(kc, C-k0), &m.f32[r*C+k0], C, &xp[(q*C+k0)*nr], nr, &stage[(r-r0)*nr], nr, acc)
				}
			}
			for j := 0; j < min(nr, n-q*nr); j++ {
				yr := y[(q*nr+j)*R+r0:][:r1-r0]
				for rr := range yr {
					yr[rr] = stage[rr*nr+j]
				}
			}
		}
	}
}

// swapBlock is how many groups of mr weight rows swapRange stages at once.
const swapBlock = 8

type gemmArgs struct {
	m                              *Matrix
	p                              *kpath
	y, x                           []float32
	xb                             []uint16
	n, kc, panels, bp, rblocks, nb int
	pairs                          bool
}

var gemmLoop = Loop[gemmArgs]{Body: gemmRange}

// gemmBufs are a gemmBlocked chunk's scratch: the packed panels, the edge
// tile and the gather offsets (arrays here rather than on the stack because
// the kernels are called through function values, which would move them to
// the heap on every call).
type gemmBufs struct {
	pack []uint32
	tile [12 * 32]float32
	idx  [32]int32
}

var gemmBufPool sync.Pool

// gemmRange does the items [lo, hi) of gemmBlocked.
func gemmRange(a *gemmArgs, lo, hi int) {
	m, p, y, x, xb, n, kc, panels, bp, rblocks, nb, pairs := a.m, a.p, a.y, a.x, a.xb, a.n, a.kc, a.panels, a.bp, a.rblocks, a.nb, a.pairs
	R, C := m.Rows, m.Cols
	mr, nr := p.mr, p.nr
	bufs, _ := gemmBufPool.Get().(*gemmBufs)
	if bufs == nil {
		bufs = new(gemmBufs)
	}
	defer gemmBufPool.Put(bufs)
	if size := bp * nr * kc; cap(bufs.pack) < size {
		bufs.pack = make([]uint32, size)
	} else {
		bufs.pack = bufs.pack[:size]
	}
	buf, tile := &bufs.pack, &bufs.tile
	for it := lo; it < hi; it++ {
		rb, ib := it%rblocks, it/rblocks
		pr0 := rb * bp
		pr1 := min(panels, pr0+bp)
		i0, i1 := ib*nb, min(n, (ib+1)*nb)
		for k0 := 0; k0 < C; k0 += kc {
			kl := min(kc, C-k0)
			acc := 0
			if k0 > 0 {
				acc = 1
			}
			psz := nr * kl
			if pairs {
				psz = nr * kl / 2
			}
			for pn := pr0; pn < pr1; pn++ {
				m.packPanel(p, (*buf)[(pn-pr0)*psz:(pn-pr0+1)*psz], pn*nr, min(nr, R-pn*nr), k0, kl, pairs, &bufs.idx)
			}
			for i := i0; i < i1; i += mr {
				mrr := min(mr, i1-i)
				for pn := pr0; pn < pr1; pn++ {
					r := pn * nr
					valid := min(nr, R-r)
					c, ldc := &y[i*R+r], R
					if valid < nr {
						c, ldc = &tile[0], nr
						if acc != 0 {
							for ii := 0; ii < mrr; ii++ {
								copy(tile[ii*nr:ii*nr+valid], y[(i+ii)*R+r:])
							}
						}
					}
					b := &(*buf)[(pn-pr0)*psz]
					if pairs {
						p.gemmBF16[mrr](kl/2, (*uint32)(unsafe.Pointer(&xb[i*C+k0])), C/2, b, nr, c, ldc, acc)
					} else {
						p.gemm[mrr](kl, &x[i*C+k0], C, (*float32)(unsafe.Pointer(b)), nr, c, ldc, acc)
					}
					if valid < nr {
						for ii := 0; ii < mrr; ii++ {
							copy(y[(i+ii)*R+r:(i+ii)*R+r+valid], tile[ii*nr:])
						}
					}
				}
			}
		}
	}
}

// packPanel packs rows r..r+valid-1, columns k0..k0+kl-1 of W into dst as
// [kl][nr] float32 (or [kl/2][nr] bf16 pairs when pairs). Rows past valid
// repeat row r (their outputs are discarded).
func (m *Matrix) packPanel(p *kpath, dst []uint32, r, valid, k0, kl int, pairs bool, idx *[32]int32) {
	nr, C := p.nr, m.Cols
	esz := 4
	if m.DType == tensor.BF16 || m.DType == tensor.F16 {
		esz = 2
	}
	for j := 0; j < nr; j++ {
		idx[j] = int32(min(j, valid-1) * C * esz)
	}
	switch {
	case m.DType == tensor.F32 && p.pack32 != nil:
		p.pack32(&dst[0], (*uint32)(unsafe.Pointer(&m.f32[r*C+k0])), &idx[0], kl)
		return
	case pairs:
		p.pack32(&dst[0], (*uint32)(unsafe.Pointer(&m.u16[r*C+k0])), &idx[0], kl/2)
		return
	case m.DType == tensor.BF16 && p.packBF16 != nil, m.DType == tensor.F16 && p.packF16 != nil:
		f := p.packBF16
		if m.DType == tensor.F16 {
			f = p.packF16
		}
		k2 := kl / 2
		d := unsafe.Slice((*float32)(unsafe.Pointer(&dst[0])), nr*kl)
		if k2 > 0 {
			f(&d[0], &m.u16[r*C+k0], &idx[0], k2)
		}
		if kl%2 == 1 {
			k := k0 + kl - 1
			for j := 0; j < nr; j++ {
				d[(kl-1)*nr+j] = m.at(r+min(j, valid-1), k)
			}
		}
		return
	}
	d := unsafe.Slice((*float32)(unsafe.Pointer(&dst[0])), nr*kl)
	if m.q != nil { // dequantise the blocks of [k0, k0+kl) (whole blocks: see gemmBlocked)
		var buf [kcMax + tensor.QKK]float32
		rb, b0 := m.rowBytes(), k0/m.qsize*m.qbytes
		for j := 0; j < nr; j++ {
			r := r + min(j, valid-1)
			tensor.Dequant(m.DType, buf[:kl], m.q[r*rb+b0:(r+1)*rb])
			for k := 0; k < kl; k++ {
				d[k*nr+j] = buf[k]
			}
		}
		return
	}
	// Generic: convert each row segment, scatter into the panel.
	row := make([]float32, C)
	for j := 0; j < nr; j++ {
		if j < valid {
			m.Row(r+j, row)
		}
		for k := 0; k < kl; k++ {
			d[k*nr+j] = row[k0+k]
		}
	}
}

// toBF16 rounds src to bf16 (nearest even) into dst.
func toBF16(p *kpath, dst []uint16, src []float32) {
	i := 0
	if p.cvtBF16 != nil {
		i = len(src) &^ 31
		cvtLoop.Run(i/32, 1+4096/32, cvtArgs{p, dst, src})
	}
	for ; i < len(src); i++ {
		dst[i] = f32ToBF16(src[i])
	}
}

type cvtArgs struct {
	p   *kpath
	dst []uint16
	src []float32
}

var cvtLoop = Loop[cvtArgs]{Body: func(a *cvtArgs, lo, hi int) {
	if hi > lo {
		a.p.cvtBF16(&a.dst[lo*32], &a.src[lo*32], (hi-lo)*32)
	}
}}

// f32ToBF16 rounds to nearest even; NaN stays NaN.
func f32ToBF16(f float32) uint16 {
	b := *(*uint32)(unsafe.Pointer(&f))
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
