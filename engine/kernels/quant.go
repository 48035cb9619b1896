package kernels

import (
	"encoding/binary"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// Quantised weights (the block types of tensor.QuantTypes) stay in their
// blocks in memory. MatMul runs them one of two ways:
//
//   - exact: each weight block is dequantised to float32 inside the kernel
//     (bit-identical to ggml's dequantisation) and dotted with x in float32,
//     so the result is that of the dequantised f32 model;
//   - int8 (the default): x is quantised to 8 bits per block of 32 values
//     (scale max|x|/127, as llama.cpp's Q8_0); the blocks of every type
//     are read as stored by their own kernels (rangeQ8_0, …, scales and
//     mins included); the products are
//     summed in integers four at a time (VPMADDUBSW/VPMADDWD on AVX2,
//     VPDPBUSD with AVX512_VNNI), then scaled in float32. Like llama.cpp's own
//     quantised products, this moves the logits by about the quantisation
//     error of the activations (see testdata/reference/quant/README.md).
//     On a SIMD path, more than int8MaxN rows of x (prefill) run the exact
//     GEMM instead, which is faster there.
//
// EnvQuant ("exact" or "int8") chooses at init; SetQuantExact switches at
// run time.

// EnvQuant is the environment variable read at init to choose how quantised
// weights are multiplied: "exact" or "int8" (the default).
const EnvQuant = "LIMBIC_QUANT"

var quantExact atomic.Bool

func init() {
	switch os.Getenv(EnvQuant) {
	case "", "int8":
	case "exact":
		quantExact.Store(true)
	default:
		os.Stderr.WriteString("limbic/kernels: " + EnvQuant + "=" + os.Getenv(EnvQuant) + " is not one of exact, int8; using int8\n")
	}
}

// SetQuantExact chooses the exact (true) or the int8 (false) product for
// quantised weights and returns a function that restores the previous
// choice. Like SetPath it is meant for tests, benchmarks and start-up.
func SetQuantExact(exact bool) (restore func()) {
	old := quantExact.Swap(exact)
	return func() { quantExact.Store(old) }
}

// QuantExact reports whether quantised weights run the exact product.
func QuantExact() bool { return quantExact.Load() }

// int8MaxN is the most rows of x the int8 product takes on a SIMD path:
// beyond it (prefill) the GEMM on dequantised panels is faster, and exact.
const int8MaxN = 32

// xTile is how many rows of x the int8 kernels take against a run of weight
// rows at a time.
const xTile = 16

// rowBytes is the size of one row of a quantised matrix.
func (m *Matrix) rowBytes() int { return m.Cols / m.qsize * m.qbytes }

// actQ8 is n rows of x quantised to 8 bits per block of 32 values: x ≈
// d·q with d = max|x|/127 per block; sd holds d·Σq over each 16 values (for
// the weights' mins).
type actQ8 struct {
	q     []int8
	d, sd []float32
}

var actPool sync.Pool

// quantizeAct quantises n rows of cols values of x (cols a multiple of 32).
func quantizeAct(x []float32, n, cols int) *actQ8 {
	a, _ := actPool.Get().(*actQ8)
	if a == nil {
		a = &actQ8{}
	}
	nv := n * cols
	if cap(a.q) < nv {
		a.q, a.d, a.sd = make([]int8, nv), make([]float32, nv/32), make([]float32, nv/16)
	}
	a.q, a.d, a.sd = a.q[:nv], a.d[:nv/32], a.sd[:nv/16]
	quantActLoop.Run(nv/32, 256, quantActArgs{a, x})
	return a
}

type quantActArgs struct {
	a *actQ8
	x []float32
}

var quantActLoop = Loop[quantActArgs]{Body: func(s *quantActArgs, lo, hi int) {
	a, x := s.a, s.x
	for b := lo; b < hi; b++ {
		a.d[b] = quantBlock32(a.q[32*b:32*b+32], a.sd[2*b:2*b+2], x[32*b:32*b+32])
	}
}}

func putAct(a *actQ8) { actPool.Put(a) }

// quantBlock32 quantises 32 values to int8 with scale d = max|x|/127,
// rounding to nearest (ties away from zero), so q stays in −127…127; it
// returns d.
func quantBlock32(q []int8, sd []float32, x []float32) float32 {
	amax := float32(0)
	for _, v := range x[:32] {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	d := amax / 127
	id := float32(0)
	if amax != 0 {
		id = 127 / amax
	}
	var s0, s1 int32
	for i, v := range x[:32] {
		r := int8(max(-127, min(127, math.Round(float64(v*id)))))
		q[i] = r
		if i < 16 {
			s0 += int32(r)
		} else {
			s1 += int32(r)
		}
	}
	sd[0], sd[1] = d*float32(s0), d*float32(s1)
	return d
}

func f16(b []byte, i int) float32 { return tensor.F16ToF32(binary.LittleEndian.Uint16(b[i:])) }

// scaleMinK4 returns the j-th 6-bit scale and min of Q4_K/Q5_K's 12 bytes.
func scaleMinK4(j int, q []byte) (sc, m byte) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&15 | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// intDot reports whether m runs the int8 product: the default (not
// SetQuantExact) for every quantised type that has its block kernel
// (intRange; all of tensor.QuantTypes do).
func (m *Matrix) intDot() bool { return !quantExact.Load() && m.intRange() != nil }

// intRange returns the int8 kernel over weight rows for m's block type
// (nil for a type without one, or a matrix that is not quantised). It is a
// method expression, so that taking it costs no allocation on the decode
// path.
func (m *Matrix) intRange() func(m *Matrix, p *kpath, y []float32, xq *actQ8, i0, i1, lo, hi int) {
	switch m.DType {
	case tensor.Q8_0:
		return (*Matrix).rangeQ8_0
	case tensor.Q4_K, tensor.Q5_K:
		return (*Matrix).rangeQ4_K
	case tensor.Q6_K, tensor.Q2_K, tensor.Q3_K:
		return (*Matrix).rangeQ6_K
	case tensor.Q4_1, tensor.Q5_1:
		return (*Matrix).rangeMin32
	case tensor.Q4_0, tensor.Q5_0, tensor.IQ4_NL:
		return (*Matrix).rangeNibble32
	case tensor.IQ4_XS:
		return (*Matrix).rangeIQ4_XS
	}
	return nil
}

// matmulQuant is MatMul for quantised weights.
func (m *Matrix) matmulQuant(p *kpath, y, x []float32, n int) {
	if m.intDot() && (p.gemm == nil || n <= int8MaxN) {
		xq := quantizeAct(x, n, m.Cols)
		defer putAct(xq)
		gemvLoop.Run(m.Rows, m.gemvGrain(n), gemvArgs{m: m, p: p, y: y, x: x, xq: xq, n: n})
		return
	}
	if p.gemm != nil && n > gemvMaxN {
		m.gemmBlocked(p, y, x, n)
		return
	}
	gemvLoop.Run(m.Rows, m.gemvGrain(n), gemvArgs{m: m, p: p, y: y, x: x, n: n})
}

// quantRange does weight rows [lo, hi) of y = x·Wᵀ for n rows of x, one
// weight block at a time: read by its type's int8 kernel (rangeQ8_0, …) and
// dotted with xq (the int8 product), or, with xq nil, dequantised to float32
// and dotted with x (the exact product). Each block is decoded once for all
// n rows of x.
func (m *Matrix) quantRange(p *kpath, y, x []float32, xq *actQ8, n, lo, hi int) {
	R, C := m.Rows, m.Cols
	if f := m.intRange(); xq != nil && f != nil {
		// x in tiles of xTile rows, each against all the rows [lo, hi):
		// the tile's int8 x stays in cache while the weight rows stream
		// past it.
		for i0 := 0; i0 < n; i0 += xTile {
			f(m, p, y, xq, i0, min(n, i0+xTile), lo, hi)
		}
		return
	}
	deq := tensor.BlockDequantizer(m.DType)
	qs, qb, rb := m.qsize, m.qbytes, m.rowBytes()
	var buf [tensor.QKK]float32
	w := buf[:qs]
	for r := lo; r < hi; r++ {
		for i := 0; i < n; i++ {
			y[i*R+r] = 0
		}
		row := m.q[r*rb : (r+1)*rb]
		for b := 0; b < C/qs; b++ {
			deq(w, row[b*qb:(b+1)*qb])
			for i := 0; i < n; i++ {
				y[i*R+r] += dotPath(p, x[i*C+b*qs:i*C+(b+1)*qs], w)
			}
		}
	}
}

// dotPath is Dot on path p (a and b of equal length).
func dotPath(p *kpath, a, b []float32) float32 {
	if p.dot != nil && len(a) >= p.lanes {
		k := len(a) &^ (p.lanes - 1)
		s := p.dot(&a[0], &b[0], k)
		for i := k; i < len(a); i++ {
			s += a[i] * b[i]
		}
		return s
	}
	return dotGo(a, b)
}

// rangeQ8_0 is quantRange's int8 product for Q8_0, straight from the blocks.
func (m *Matrix) rangeQ8_0(p *kpath, y []float32, xq *actQ8, i0, i1, lo, hi int) {
	R, C, rb := m.Rows, m.Cols, m.rowBytes()
	f := p.qdotQ8_0
	if f == nil {
		f = qdotQ8_0Go
	}
	for r := lo; r < hi; r++ {
		w := &m.q[r*rb]
		for i := i0; i < i1; i++ {
			y[i*R+r] = f(w, &xq.q[i*C], &xq.d[i*C/32], C/32)
		}
	}
}

// qdotQ8_0Go is the reference of the qdotQ8_0 kernels: Σ over nb Q8_0
// blocks of float32(Σ q·x)·(d·xd[b]).
func qdotQ8_0Go(w *byte, x *int8, xd *float32, nb int) float32 {
	wv, xv, xdv := unsafe.Slice(w, 34*nb), unsafe.Slice(x, 32*nb), unsafe.Slice(xd, nb)
	var acc float32
	for b := range xdv {
		blk := wv[34*b : 34*b+34]
		var is int32
		for i, q := range blk[2:] {
			is += int32(int8(q)) * int32(xv[32*b+i])
		}
		acc += float32(is) * (f16(blk, 0) * xdv[b])
	}
	return acc
}

// rangeQ4_K is quantRange's int8 product for Q4_K and Q5_K (the same
// scales and mins, a fifth bit per value), whole super-blocks (scales and
// mins included) per kernel call.
func (m *Matrix) rangeQ4_K(p *kpath, y []float32, xq *actQ8, i0, i1, lo, hi int) {
	f := orGo(p.qdotQ4_K, qdotQ4_KGo)
	if m.DType == tensor.Q5_K {
		f = orGo(p.qdotQ5_K, qdotQ5_KGo)
	}
	m.rangeSums(f, y, xq, i0, i1, lo, hi, m.Cols/256)
}

// qdotSums is an int8 kernel that also reads the activations' half-block
// sums (the types with mins): n is its count of blocks or super-blocks.
type qdotSums = func(w *byte, x *int8, xd, sd *float32, n int) float32

// orGo returns the path's kernel f, or its Go reference where the path has
// none.
func orGo(f, ref qdotSums) qdotSums {
	if f == nil {
		return ref
	}
	return f
}

// rangeSums computes rows [lo, hi) of y for activation rows [i0, i1) with
// kernel f, n of its blocks per weight row.
func (m *Matrix) rangeSums(f qdotSums, y []float32, xq *actQ8, i0, i1, lo, hi, n int) {
	R, C, rb := m.Rows, m.Cols, m.rowBytes()
	for r := lo; r < hi; r++ {
		w := &m.q[r*rb]
		for i := i0; i < i1; i++ {
			y[i*R+r] = f(w, &xq.q[i*C], &xq.d[i*C/32], &xq.sd[i*C/16], n)
		}
	}
}

// qdotQ4_KGo is the reference of the qdotQ4_K kernels: Σ over the 32-value
// sub-blocks k of nsb Q4_K super-blocks of float32(Σ q·x)·((d·sc_k)·xd[k])
// − (dmin·m_k)·(sd[2k]+sd[2k+1]), q the 4-bit values, sc_k and m_k the
// 6-bit scale and min of sub-block k.
func qdotQ4_KGo(w *byte, x *int8, xd, sd *float32, nsb int) float32 {
	return qdotK4Go(w, x, xd, sd, nsb, false)
}

// qdotQ5_KGo is the reference of the qdotQ5_K kernels: qdotQ4_KGo for the
// 5-bit values of Q5_K super-blocks.
func qdotQ5_KGo(w *byte, x *int8, xd, sd *float32, nsb int) float32 {
	return qdotK4Go(w, x, xd, sd, nsb, true)
}

// qdotK4Go is qdotQ4_KGo (q5 false) and qdotQ5_KGo (q5 true).
func qdotK4Go(w *byte, x *int8, xd, sd *float32, nsb int, q5 bool) float32 {
	stride, qsOff := 144, 16
	if q5 {
		stride, qsOff = 176, 48
	}
	wv, xv := unsafe.Slice(w, stride*nsb), unsafe.Slice(x, 256*nsb)
	xdv, sdv := unsafe.Slice(xd, 8*nsb), unsafe.Slice(sd, 16*nsb)
	var acc float32
	for s := 0; s < nsb; s++ {
		b := wv[stride*s : stride*s+stride]
		d, dmin := f16(b, 0), f16(b, 2)
		qs := b[qsOff : qsOff+128]
		for k := 0; k < 8; k++ {
			j, sh := k/2, 4*(k%2)
			var is int32
			for l := 0; l < 32; l++ {
				q := int32(qs[32*j+l] >> sh & 15)
				if q5 {
					q |= int32(b[16+l]>>k&1) << 4
				}
				is += q * int32(xv[256*s+32*k+l])
			}
			sc, mk := scaleMinK4(k, b[4:16])
			acc += float32(is) * (d * float32(sc) * xdv[8*s+k])
			acc -= dmin * float32(mk) * (sdv[16*s+2*k] + sdv[16*s+2*k+1])
		}
	}
	return acc
}

// rangeQ6_K is quantRange's int8 product for Q6_K, Q2_K and Q3_K, whole
// super-blocks (scales, mins and offsets included) per kernel call.
func (m *Matrix) rangeQ6_K(p *kpath, y []float32, xq *actQ8, i0, i1, lo, hi int) {
	R, C, rb := m.Rows, m.Cols, m.rowBytes()
	var f func(w *byte, x *int8, xd, sd *float32, nsb int) float32
	switch m.DType {
	case tensor.Q6_K:
		f = p.qdotQ6_K
		if f == nil {
			f = qdotQ6_KGo
		}
	case tensor.Q2_K:
		f = p.qdotQ2_K
		if f == nil {
			f = qdotQ2_KGo
		}
	default:
		f = p.qdotQ3_K
		if f == nil {
			f = qdotQ3_KGo
		}
	}
	for r := lo; r < hi; r++ {
		w := &m.q[r*rb]
		for i := i0; i < i1; i++ {
			y[i*R+r] = f(w, &xq.q[i*C], &xq.d[i*C/32], &xq.sd[i*C/16], C/256)
		}
	}
}

// qdotQ6_KGo is the reference of the qdotQ6_K kernel: Σ over the 32-value
// blocks b of nsb Q6_K super-blocks of float32(Σ sc_{g}·u·x)·(d·xd[b]), u
// the unsigned 6-bit values (q+32) and sc_g the int8 scale of their
// 16-value group, less the offset's 32·d·Σ_g sc_g·sd[g].
func qdotQ6_KGo(w *byte, x *int8, xd, sd *float32, nsb int) float32 {
	wv, xv := unsafe.Slice(w, 210*nsb), unsafe.Slice(x, 256*nsb)
	xdv, sdv := unsafe.Slice(xd, 8*nsb), unsafe.Slice(sd, 16*nsb)
	var acc float32
	var u [256]int32
	for s := 0; s < nsb; s++ {
		ql, qh, sc := wv[210*s:210*s+128], wv[210*s+128:210*s+192], wv[210*s+192:210*s+208]
		d := f16(wv[210*s:], 208)
		for n := 0; n < 2; n++ {
			for l := 0; l < 32; l++ {
				h := qh[32*n+l]
				u[128*n+l] = int32(ql[64*n+l]&15 | (h&3)<<4)
				u[128*n+32+l] = int32(ql[64*n+32+l]&15 | (h>>2&3)<<4)
				u[128*n+64+l] = int32(ql[64*n+l]>>4 | (h>>4&3)<<4)
				u[128*n+96+l] = int32(ql[64*n+32+l]>>4 | (h>>6&3)<<4)
			}
		}
		var off float32
		for b := 0; b < 8; b++ {
			var is int32
			for i := 32 * b; i < 32*b+32; i++ {
				is += int32(int8(sc[i/16])) * u[i] * int32(xv[256*s+i])
			}
			acc += float32(is) * (d * xdv[8*s+b])
		}
		for g := 0; g < 16; g++ {
			off += float32(int8(sc[g])) * sdv[16*s+g]
		}
		acc -= 32 * d * off
	}
	return acc
}

// rangeNibble32 is quantRange's int8 product for Q4_0, Q5_0 and IQ4_NL,
// straight from the blocks.
func (m *Matrix) rangeNibble32(p *kpath, y []float32, xq *actQ8, i0, i1, lo, hi int) {
	R, C, rb := m.Rows, m.Cols, m.rowBytes()
	f := func(w *byte, x *int8, xd *float32, nb int) float32 { return qdotNibble32Go(w, x, xd, nb, nil) }
	if m.DType == tensor.Q4_0 && p.qdotQ4_0 != nil {
		f = p.qdotQ4_0
	}
	if m.DType == tensor.Q5_0 {
		f = p.qdotQ5_0
		if f == nil {
			f = qdotQ5_0Go
		}
	}
	if m.DType == tensor.IQ4_NL {
		k := p.qdotIQ4_NL
		if k == nil {
			k = qdotNibble32Go
		}
		f = func(w *byte, x *int8, xd *float32, nb int) float32 { return k(w, x, xd, nb, &tensor.IQ4Values[0]) }
	}
	for r := lo; r < hi; r++ {
		w := &m.q[r*rb]
		for i := i0; i < i1; i++ {
			y[i*R+r] = f(w, &xq.q[i*C], &xq.d[i*C/32], C/32)
		}
	}
}

// qdotNibble32Go is the reference of the qdotQ4_0 (tab nil: values q−8) and
// qdotIQ4_NL (values tab[q]) kernels: Σ over nb blocks of float32(Σ v·x)·
// (d·xd[b]).
func qdotNibble32Go(w *byte, x *int8, xd *float32, nb int, tab *int8) float32 {
	wv, xv, xdv := unsafe.Slice(w, 18*nb), unsafe.Slice(x, 32*nb), unsafe.Slice(xd, nb)
	val := func(q byte) int32 { return int32(q) - 8 }
	if tab != nil {
		t := unsafe.Slice(tab, 16)
		val = func(q byte) int32 { return int32(t[q]) }
	}
	var acc float32
	for b := range xdv {
		blk := wv[18*b : 18*b+18]
		var is int32
		for j, q := range blk[2:] {
			is += val(q&15)*int32(xv[32*b+j]) + val(q>>4)*int32(xv[32*b+16+j])
		}
		acc += float32(is) * (f16(blk, 0) * xdv[b])
	}
	return acc
}

// rangeIQ4_XS is quantRange's int8 product for IQ4_XS: the 6-bit scales of
// each row's 32-value sub-blocks are decoded in Go, the kernel looks the
// 4-bit indices up in the codebook and multiplies.
func (m *Matrix) rangeIQ4_XS(p *kpath, y []float32, xq *actQ8, i0, i1, lo, hi int) {
	R, C, rb := m.Rows, m.Cols, m.rowBytes()
	f := p.qdotIQ4_XS
	if f == nil {
		f = qdotIQ4_XSGo
	}
	ws := make([]float32, C/32)
	for r := lo; r < hi; r++ {
		row := m.q[r*rb : (r+1)*rb]
		for s := 0; s < C/256; s++ {
			b := row[136*s : 136*s+136]
			d := f16(b, 0)
			sh := binary.LittleEndian.Uint16(b[2:])
			for k := 0; k < 8; k++ {
				ls := int(b[4+k/2]>>(4*(k%2))&15) | int(sh>>(2*k)&3)<<4
				ws[8*s+k] = d * float32(ls-32)
			}
		}
		for i := i0; i < i1; i++ {
			y[i*R+r] = f(&row[0], &ws[0], &xq.q[i*C], &xq.d[i*C/32], C/256, &tensor.IQ4Values[0])
		}
	}
}

// qdotIQ4_XSGo is the reference of the qdotIQ4_XS kernels: Σ over the
// 32-value sub-blocks k of nsb IQ4_XS super-blocks of
// float32(Σ tab[q]·x)·(ws[k]·xd[k]).
func qdotIQ4_XSGo(w *byte, ws *float32, x *int8, xd *float32, nsb int, tab *int8) float32 {
	wv, xv := unsafe.Slice(w, 136*nsb), unsafe.Slice(x, 256*nsb)
	wsv, xdv, t := unsafe.Slice(ws, 8*nsb), unsafe.Slice(xd, 8*nsb), unsafe.Slice(tab, 16)
	var acc float32
	for s := 0; s < nsb; s++ {
		for k := 0; k < 8; k++ {
			qs := wv[136*s+8+16*k : 136*s+8+16*k+16]
			var is int32
			for j, q := range qs {
				is += int32(t[q&15])*int32(xv[256*s+32*k+j]) + int32(t[q>>4])*int32(xv[256*s+32*k+16+j])
			}
			acc += float32(is) * (wsv[8*s+k] * xdv[8*s+k])
		}
	}
	return acc
}

// qdotQ5_0Go is the reference of the qdotQ5_0 kernels: Σ over nb Q5_0
// blocks of float32(Σ v·x)·(d·xd[b]), v = (nibble | fifth bit<<4) − 16.
func qdotQ5_0Go(w *byte, x *int8, xd *float32, nb int) float32 {
	wv, xv, xdv := unsafe.Slice(w, 22*nb), unsafe.Slice(x, 32*nb), unsafe.Slice(xd, nb)
	var acc float32
	for b := range xdv {
		blk := wv[22*b : 22*b+22]
		qh := binary.LittleEndian.Uint32(blk[2:])
		var is int32
		for j, q := range blk[6:22] {
			lo := int32(q&15|byte(qh>>j&1)<<4) - 16
			hi := int32(q>>4|byte(qh>>(j+16)&1)<<4) - 16
			is += lo*int32(xv[32*b+j]) + hi*int32(xv[32*b+16+j])
		}
		acc += float32(is) * (f16(blk, 0) * xdv[b])
	}
	return acc
}

// rangeMin32 is quantRange's int8 product for Q4_1 and Q5_1, straight from
// the blocks.
func (m *Matrix) rangeMin32(p *kpath, y []float32, xq *actQ8, i0, i1, lo, hi int) {
	f := orGo(p.qdotQ4_1, qdotQ4_1Go)
	if m.DType == tensor.Q5_1 {
		f = orGo(p.qdotQ5_1, qdotQ5_1Go)
	}
	m.rangeSums(f, y, xq, i0, i1, lo, hi, m.Cols/32)
}

// qdotQ4_1Go is the reference of the qdotQ4_1 kernels: Σ over nb Q4_1
// blocks of float32(Σ q·x)·(d·xd[b]) + m·(sd[2b]+sd[2b+1]), q the 4-bit
// values.
func qdotQ4_1Go(w *byte, x *int8, xd, sd *float32, nb int) float32 {
	return qdotMin32Go(w, x, xd, sd, nb, false)
}

// qdotQ5_1Go is the reference of the qdotQ5_1 kernels: qdotQ4_1Go for the
// 5-bit values of Q5_1 blocks.
func qdotQ5_1Go(w *byte, x *int8, xd, sd *float32, nb int) float32 {
	return qdotMin32Go(w, x, xd, sd, nb, true)
}

// qdotMin32Go is qdotQ4_1Go (q5 false) and qdotQ5_1Go (q5 true).
func qdotMin32Go(w *byte, x *int8, xd, sd *float32, nb int, q5 bool) float32 {
	stride, qsOff := 20, 4
	if q5 {
		stride, qsOff = 24, 8
	}
	wv, xv := unsafe.Slice(w, stride*nb), unsafe.Slice(x, 32*nb)
	xdv, sdv := unsafe.Slice(xd, nb), unsafe.Slice(sd, 2*nb)
	var acc, mins float32
	for b := range xdv {
		blk := wv[stride*b : stride*b+stride]
		var qh uint32
		if q5 {
			qh = binary.LittleEndian.Uint32(blk[4:])
		}
		var is int32
		for j, q := range blk[qsOff : qsOff+16] {
			lo := int32(q&15 | byte(qh>>j&1)<<4)
			hi := int32(q>>4 | byte(qh>>(j+16)&1)<<4)
			is += lo*int32(xv[32*b+j]) + hi*int32(xv[32*b+16+j])
		}
		acc += float32(is) * (f16(blk, 0) * xdv[b])
		mins += f16(blk, 2) * (sdv[2*b] + sdv[2*b+1])
	}
	return acc + mins
}

// qdotQ2_KGo is the reference of the qdotQ2_K kernel: Σ over the 16-value
// groups g of nsb Q2_K super-blocks of float32(Σ q·x)·((d·sc_g)·xd[g/2]) −
// (dmin·m_g)·sd[g], q the 2-bit values, sc_g and m_g the group's 4-bit
// scale and min.
func qdotQ2_KGo(w *byte, x *int8, xd, sd *float32, nsb int) float32 {
	wv, xv := unsafe.Slice(w, 84*nsb), unsafe.Slice(x, 256*nsb)
	xdv, sdv := unsafe.Slice(xd, 8*nsb), unsafe.Slice(sd, 16*nsb)
	var acc float32
	for s := 0; s < nsb; s++ {
		b := wv[84*s : 84*s+84]
		d, dmin := f16(b, 80), f16(b, 82)
		for g := 0; g < 16; g++ { // value 16g+l = 128n + 32j + 16h + l
			n, j, h := g/8, g%8/2, g%2
			var is int32
			for l := 0; l < 16; l++ {
				is += int32(b[16+32*n+16*h+l]>>(2*j)&3) * int32(xv[256*s+16*g+l])
			}
			acc += float32(is) * (d * float32(b[g]&15) * xdv[8*s+g/2])
			acc -= dmin * float32(b[g]>>4) * sdv[16*s+g]
		}
	}
	return acc
}

// qdotQ3_KGo is the reference of the qdotQ3_K kernel: Σ over the 16-value
// groups g of nsb Q3_K super-blocks of float32(Σ q·x)·((d·sc_g)·xd[g/2]), q
// the 3-bit values (−4…3) and sc_g the group's 6-bit scale less 32.
func qdotQ3_KGo(w *byte, x *int8, xd, sd *float32, nsb int) float32 {
	wv, xv := unsafe.Slice(w, 110*nsb), unsafe.Slice(x, 256*nsb)
	xdv := unsafe.Slice(xd, 8*nsb)
	var acc float32
	for s := 0; s < nsb; s++ {
		b := wv[110*s : 110*s+110]
		hm, qs, sc := b[0:32], b[32:96], b[96:108]
		d := f16(b, 108)
		for g := 0; g < 16; g++ {
			n, j, h := g/8, g%8/2, g%2
			lo := sc[g%8] >> (4 * (g / 8)) & 15
			hi := sc[8+g%4] >> (2 * (g / 4)) & 3
			var is int32
			for l := 0; l < 16; l++ {
				v := int32(qs[32*n+16*h+l] >> (2 * j) & 3)
				if hm[16*h+l]>>(4*n+j)&1 == 0 {
					v -= 4
				}
				is += v * int32(xv[256*s+16*g+l])
			}
			acc += float32(is) * (d * float32(int(lo|hi<<4)-32) * xdv[8*s+g/2])
		}
	}
	return acc
}
