// Command asmgen writes the amd64 assembly of package kernels
// (kernels_amd64.s) and its Go declarations (kernels_amd64.go).
//
// Run it with `go generate ./engine/kernels` (or `go run ./internal/asmgen`
// from engine/kernels). It is a small text generator rather than avo because
// neither avo (v0.5.0) nor the Go assembler knows the AVX512_BF16
// instructions (VDPBF16PS, VCVTNE2PS2BF16): those are emitted as raw EVEX
// bytes by evex() below. Everything else is ordinary Go assembler syntax, and
// `go vet` (asmdecl) checks every frame against the generated declarations.
//
// Kernels (each comment in kernels_amd64.go gives the plain-Go meaning):
//   - gemm tiles, broadcast form (BLIS micro-kernel): an mr×NR block of
//     y += x·Wᵀ from mr rows of x (strided, broadcast one element at a time)
//     and a packed W panel [k][NR] (vector loads). NR = 32 (AVX-512, two zmm)
//     or 16 (AVX2, two ymm); one function per mr.
//   - the same tile with VDPBF16PS over bf16 pairs (AVX512_BF16).
//   - gemv rows: 1 to 6 rows of x against many rows of W, read straight
//     from the (unpacked, possibly bf16/f16) weight one row after another
//     and reduced horizontally per row; the decode path.
//   - gemv tiles, dot form: mr ≤ 4 rows of x against 4 rows of W (the
//     scores of a few queries against the attention cache).
//   - dot, axpy and a few elementwise loops.
//   - the int8 dots of quantised weights, straight from each type's blocks
//     (AVX2 and AVX512_VNNI).
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"strings"
)

type gen struct {
	s    bytes.Buffer // assembly
	decl bytes.Buffer // Go declarations
}

func (g *gen) f(format string, args ...any) {
	fmt.Fprintf(&g.s, "\t"+format+"\n", args...)
}

func (g *gen) label(l string) { fmt.Fprintf(&g.s, "%s:\n", l) }

// fn starts a function. params is the Go parameter list ("a *float32, n int");
// every parameter must be 8 bytes except float32 ones (4 bytes, padded as Go does).
func (g *gen) fn(name, doc, params, result string) {
	size := 0
	for _, p := range strings.Split(params, ",") {
		p = strings.TrimSpace(p)
		if f := strings.Fields(p); f[len(f)-1] == "float32" {
			size = (size + 3) &^ 3
			size += 4
		} else {
			size = (size + 7) &^ 7
			size += 8
		}
	}
	if result != "" {
		if strings.HasSuffix(result, "float32") {
			size = (size + 7) &^ 7 // results start at a pointer-aligned offset
			size += 4
		}
	}
	fmt.Fprintf(&g.decl, "\n%s\n//\n//go:noescape\nfunc %s(%s) %s\n", doc, name, params, result)
	fmt.Fprintf(&g.s, "\n// func %s(%s) %s\nTEXT ·%s(SB), NOSPLIT, $0-%d\n", name, params, result, name, size)
}

// evex encodes a register-register 512-bit EVEX instruction with Intel operand
// order (dst, src1, src2): pp 1=66 2=F3 3=F2, map 2=0F38.
func evex(pp, mm, op byte, dst, src1, src2 int) string {
	inv := func(v int) byte { return byte(^v & 1) }
	p0 := inv(dst>>3)<<7 | inv(src2>>4)<<6 | inv(src2>>3)<<5 | inv(dst>>4)<<4 | mm
	p1 := byte(^src1&0xf)<<3 | 4 | pp
	p2 := byte(0x40) | inv(src1>>4)<<3
	m := byte(0xc0) | byte(dst&7)<<3 | byte(src2&7)
	b := []byte{0x62, p0, p1, p2, op, m}
	var parts []string
	for _, x := range b {
		parts = append(parts, fmt.Sprintf("BYTE $0x%02x", x))
	}
	return strings.Join(parts, "; ")
}

// vdpbf16ps: dst += pairwise dot of bf16 pairs in src1 and src2 (zmm only).
func (g *gen) vdpbf16ps(dst, src1, src2 int) {
	g.f("%s // VDPBF16PS Z%d, Z%d, Z%d", evex(2, 2, 0x52, dst, src1, src2), src2, src1, dst)
}

// vcvtne2ps2bf16: dst[0:16] = bf16(src2), dst[16:32] = bf16(src1), round to nearest even.
func (g *gen) vcvtne2ps2bf16(dst, src1, src2 int) {
	g.f("%s // VCVTNE2PS2BF16 Z%d, Z%d, Z%d", evex(3, 2, 0x72, dst, src1, src2), src2, src1, dst)
}

type isa struct {
	name  string // function name suffix
	reg   string // "Z" or "Y"
	lanes int
}

var (
	avx512 = isa{"Avx512", "Z", 16}
	avx2   = isa{"Avx2", "Y", 8}
)

func (s isa) r(i int) string { return fmt.Sprintf("%s%d", s.reg, i) }

// rowAddr returns the address of row i of a strided operand whose bases are
// bases[j] = base + 3j rows and whose row stride (bytes) is in ld.
func rowAddr(bases []string, ld string, i, off int) string {
	b := bases[i/3]
	o := ""
	if off != 0 {
		o = fmt.Sprint(off)
	}
	switch i % 3 {
	case 0:
		return fmt.Sprintf("%s(%s)", o, b)
	case 1:
		return fmt.Sprintf("%s(%s)(%s*1)", o, b, ld)
	default:
		return fmt.Sprintf("%s(%s)(%s*2)", o, b, ld)
	}
}

// gemmTile emits y[mr, NR] (+)= x[mr, k]·panel where panel is [k][NR] packed.
// bf16: x and panel hold bf16 pairs (k counts pairs) and VDPBF16PS is used.
func (g *gen) gemmTile(s isa, mr, nv int, bf16 bool) {
	nr := nv * s.lanes
	vb := s.lanes * 4
	kind := "F32"
	elem := "float32"
	what := "x[i*ldx+p]·b[p*ldb+j]"
	if bf16 {
		kind = "BF16"
		elem = "uint32"
		what = "dot2(x[i*ldx+p], b[p*ldb+j])"
	}
	name := fmt.Sprintf("gemm%s%sN%dM%d", kind, s.name, nr, mr)
	doc := fmt.Sprintf("// %s computes, for i < %d and j < %d,\n//\n//\tc[i*ldc+j] = acc·c[i*ldc+j] + Σ_{p<k} %s\n//\n// (acc is 0 or 1); b is usually a packed panel (ldb = %d).",
		name, mr, nr, what, nr)
	if bf16 {
		doc += " x and b hold bf16 pairs;\n// dot2 is the two-term product of a pair (VDPBF16PS)."
	}
	g.fn(name, doc, fmt.Sprintf("k int, x *%s, ldx int, b *%s, ldb int, c *float32, ldc int, acc int", elem, elem), "")
	g.f("MOVQ k+0(FP), CX")
	g.f("MOVQ x+8(FP), SI")
	g.f("MOVQ ldx+16(FP), DX")
	g.f("SHLQ $2, DX")
	g.f("MOVQ b+24(FP), BX")
	g.f("MOVQ ldb+32(FP), R12")
	g.f("SHLQ $2, R12")
	g.f("LEAQ (R12)(R12*2), R13")
	bases := []string{"SI", "R9", "R10", "R11"}[:(mr+2)/3]
	if len(bases) > 1 {
		g.f("LEAQ (DX)(DX*2), R8")
		for j := 1; j < len(bases); j++ {
			g.f("LEAQ (%s)(R8*1), %s", bases[j-1], bases[j])
		}
	}
	nacc := mr * nv
	for a := 0; a < nacc; a++ {
		g.f("VXORPS %s, %s, %s", s.r(a), s.r(a), s.r(a))
	}
	// registers: acc 0..nacc-1, panel vectors, broadcasts.
	var bregs, xregs []int
	if s.lanes == 16 {
		bregs = []int{24, 25, 26, 27}
		xregs = []int{28, 29, 30, 31}
	} else {
		bregs = []int{12, 13}
		xregs = []int{14, 15}
	}
	step := func(u int, tag string) {
		bset := bregs[(u%(len(bregs)/nv))*nv:]
		row := []string{"(BX)", "(BX)(R12*1)", "(BX)(R12*2)", "(BX)(R13*1)"}[u]
		for v := 0; v < nv; v++ {
			off := ""
			if v > 0 {
				off = fmt.Sprint(v * vb)
			}
			g.f("VMOVUPS %s%s, %s", off, row, s.r(bset[v]))
		}
		for i := 0; i < mr; i++ {
			x := xregs[i%len(xregs)]
			g.f("VBROADCASTSS %s, %s", rowAddr(bases, "DX", i, 4*u), s.r(x))
			for v := 0; v < nv; v++ {
				if bf16 {
					g.vdpbf16ps(i*nv+v, bset[v], x)
				} else {
					g.f("VFMADD231PS %s, %s, %s", s.r(x), s.r(bset[v]), s.r(i*nv+v))
				}
			}
		}
	}
	const unroll = 4
	g.f("CMPQ CX, $%d", unroll)
	g.f("JL tail")
	g.label("loop4")
	for u := 0; u < unroll; u++ {
		step(u, "")
	}
	g.f("LEAQ (BX)(R12*4), BX")
	for _, b := range bases {
		g.f("ADDQ $%d, %s", 4*unroll, b)
	}
	g.f("SUBQ $%d, CX", unroll)
	g.f("CMPQ CX, $%d", unroll)
	g.f("JGE loop4")
	g.label("tail")
	g.f("TESTQ CX, CX")
	g.f("JZ store")
	g.label("loop1")
	step(0, "")
	g.f("ADDQ R12, BX")
	for _, b := range bases {
		g.f("ADDQ $4, %s", b)
	}
	g.f("DECQ CX")
	g.f("JNZ loop1")
	g.label("store")
	g.f("MOVQ c+40(FP), DI")
	g.f("MOVQ ldc+48(FP), R8")
	g.f("SHLQ $2, R8")
	g.f("MOVQ acc+56(FP), AX")
	g.f("TESTQ AX, AX")
	g.f("JZ overwrite")
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			g.f("VADDPS %d(DI), %s, %s", v*vb, s.r(i*nv+v), s.r(i*nv+v))
			g.f("VMOVUPS %s, %d(DI)", s.r(i*nv+v), v*vb)
		}
		if i+1 < mr {
			g.f("ADDQ R8, DI")
		}
	}
	g.f("VZEROUPPER")
	g.f("RET")
	g.label("overwrite")
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			g.f("VMOVUPS %s, %d(DI)", s.r(i*nv+v), v*vb)
		}
		if i+1 < mr {
			g.f("ADDQ R8, DI")
		}
	}
	g.f("VZEROUPPER")
	g.f("RET")
}

// wtype describes the stored dtype of a weight for the gemv generators.
type wtype struct {
	name string // F32, BF16 or F16
	elem string // Go element type of the pointer argument
	size int    // bytes per element
	conv string // doc-comment note on widening
}

func weightType(wt string) wtype {
	t := wtype{name: wt, elem: "float32", size: 4}
	if wt != "F32" {
		t.elem, t.size = "uint16", 2
		t.conv = fmt.Sprintf(" (w widened from %s)", wt)
	}
	return t
}

// widen emits the load of one vector of weights at addr into reg, widened
// to float32.
func (g *gen) widen(w wtype, addr, reg string) {
	switch w.name {
	case "F32":
		g.f("VMOVUPS %s, %s", addr, reg)
	case "BF16":
		g.f("VPMOVZXWD %s, %s", addr, reg)
		g.f("VPSLLD $16, %s, %s", reg, reg)
	case "F16":
		g.f("VCVTPH2PS %s, %s", addr, reg)
	}
}

// hsum emits the horizontal sum of vector register a into the low lane of
// Xa, using register t as scratch.
func (g *gen) hsum(s isa, a, t int) {
	if s.lanes == 16 {
		g.f("VEXTRACTF64X4 $1, Z%d, Y%d", a, t)
		g.f("VADDPS Y%d, Y%d, Y%d", t, a, a)
	}
	g.f("VEXTRACTF128 $1, Y%d, X%d", a, t)
	g.f("VADDPS X%d, X%d, X%d", t, a, a)
	g.f("VHADDPS X%d, X%d, X%d", a, a, a)
	g.f("VHADDPS X%d, X%d, X%d", a, a, a)
}

// gemvTile emits the dot-form tile: y[i*ldy+j] = Σ_{p<k} x[i*ldx+p]·w[j*ldw+p]
// for i < mr, j < 4, all float32; k must be a multiple of the vector width.
// Attention uses it for the scores of a few queries against the cache.
func (g *gen) gemvTile(s isa, mr int) {
	const nr = 4
	wt := "F32"
	wty := weightType(wt)
	esz := wty.size
	name := fmt.Sprintf("gemv%s%sM%d", wt, s.name, mr)
	doc := fmt.Sprintf("// %s computes, for i < %d and j < 4,\n//\n//\ty[i*ldy+j] = Σ_{p<k} x[i*ldx+p]·w[j*ldw+p]%s\n//\n// k must be a positive multiple of %d.", name, mr, wty.conv, s.lanes)
	g.fn(name, doc, fmt.Sprintf("k int, x *float32, ldx int, w *%s, ldw int, y *float32, ldy int", wty.elem), "")
	g.f("MOVQ k+0(FP), CX")
	g.f("MOVQ x+8(FP), SI")
	g.f("MOVQ ldx+16(FP), DX")
	g.f("SHLQ $2, DX")
	g.f("MOVQ w+24(FP), BX")
	g.f("MOVQ ldw+32(FP), R8")
	g.f("SHLQ $%d, R8", map[int]int{4: 2, 2: 1}[esz])
	g.f("LEAQ (BX)(R8*2), R10")
	g.f("ADDQ R8, R10") // row 3 of w
	if mr > 3 {
		g.f("LEAQ (SI)(DX*2), R9")
		g.f("ADDQ DX, R9") // row 3 of x
	}
	nacc := mr * nr
	for a := 0; a < nacc; a++ {
		g.f("VXORPS %s, %s, %s", s.r(a), s.r(a), s.r(a))
	}
	wregs := []int{nacc, nacc + 1, nacc + 2, nacc + 3}
	xr := nacc + 4
	if s.lanes == 16 {
		wregs = []int{24, 25, 26, 27}
		xr = 28
	}
	wAddr := []string{"(BX)", "(BX)(R8*1)", "(BX)(R8*2)", "(R10)"}
	xAddr := []string{"(SI)", "(SI)(DX*1)", "(SI)(DX*2)", "(R9)"}
	g.label("loop")
	for j := 0; j < nr; j++ {
		g.widen(wty, wAddr[j], s.r(wregs[j]))
	}
	for i := 0; i < mr; i++ {
		g.f("VMOVUPS %s, %s", xAddr[i], s.r(xr))
		for j := 0; j < nr; j++ {
			g.f("VFMADD231PS %s, %s, %s", s.r(wregs[j]), s.r(xr), s.r(i*nr+j))
		}
	}
	g.f("ADDQ $%d, SI", 4*s.lanes)
	if mr > 3 {
		g.f("ADDQ $%d, R9", 4*s.lanes)
	}
	g.f("ADDQ $%d, BX", esz*s.lanes)
	g.f("ADDQ $%d, R10", esz*s.lanes)
	g.f("SUBQ $%d, CX", s.lanes)
	g.f("JNZ loop")
	// Reduce: each accumulator to 4 lanes, then hadd 4 of them to one xmm.
	g.f("MOVQ y+40(FP), DI")
	g.f("MOVQ ldy+48(FP), R8")
	g.f("SHLQ $2, R8")
	t := 15 // scratch
	if s.lanes == 16 {
		t = 24 // EVEX-only register: use the EVEX forms below
	}
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			a := i*nr + j
			tmp := t
			if s.lanes == 16 {
				g.f("VEXTRACTF64X4 $1, Z%d, Y%d", a, tmp)
				g.f("VADDPS Y%d, Y%d, Y%d", tmp, a, a)
				g.f("VEXTRACTF32X4 $1, Y%d, X%d", a, tmp)
			} else {
				g.f("VEXTRACTF128 $1, Y%d, X%d", a, tmp)
			}
			g.f("VADDPS X%d, X%d, X%d", tmp, a, a)
		}
		b := i * nr
		g.f("VHADDPS X%d, X%d, X%d", b+1, b, b)
		g.f("VHADDPS X%d, X%d, X%d", b+3, b+2, b+2)
		g.f("VHADDPS X%d, X%d, X%d", b+2, b, b)
		g.f("VMOVUPS X%d, (DI)", b)
		if i+1 < mr {
			g.f("ADDQ R8, DI")
		}
	}
	g.f("VZEROUPPER")
	g.f("RET")
}

// gemvRows emits the decode kernel for one row of x: for every r < rows,
// y[r] = Σ_{p<k} x[p]·w[r*ldw+p]. It reads the weight one row after another,
// front to back, with four accumulators (four vectors per step, then one
// vector at a time for the rest of the row). A single sequential stream is
// what the hardware prefetchers follow best: this form streams markedly
// faster from DRAM than reading four rows side by side.
func (g *gen) gemvRows(s isa, wt string) {
	wty := weightType(wt)
	esz := wty.size
	name := fmt.Sprintf("gemvRows%s%s", wt, s.name)
	doc := fmt.Sprintf("// %s computes, for r < rows,\n//\n//\ty[r] = Σ_{p<k} x[p]·w[r*ldw+p]%s\n//\n// k must be a positive multiple of %d; rows ≥ 1.", name, wty.conv, s.lanes)
	g.fn(name, doc, fmt.Sprintf("k int, x *float32, w *%s, ldw int, y *float32, rows int", wty.elem), "")
	g.f("MOVQ k+0(FP), R12")
	g.f("MOVQ x+8(FP), R13")
	g.f("MOVQ w+16(FP), DX") // row base
	g.f("MOVQ ldw+24(FP), R8")
	g.f("SHLQ $%d, R8", map[int]int{4: 2, 2: 1}[esz])
	g.f("MOVQ y+32(FP), DI")
	g.f("MOVQ rows+40(FP), AX")
	// step c: accumulator c += x[c-th vector] · w[c-th vector]; reg 4+c holds
	// x (F32) or the widened weight (BF16, F16).
	step := func(c int) {
		t := s.r(4 + c)
		wo, xo := c*esz*s.lanes, c*4*s.lanes
		switch wt {
		case "F32":
			g.f("VMOVUPS %d(SI), %s", xo, t)
			g.f("VFMADD231PS %d(BX), %s, %s", wo, t, s.r(c))
		case "BF16":
			g.f("VPMOVZXWD %d(BX), %s", wo, t)
			g.f("VPSLLD $16, %s, %s", t, t)
			g.f("VFMADD231PS %d(SI), %s, %s", xo, t, s.r(c))
		case "F16":
			g.f("VCVTPH2PS %d(BX), %s", wo, t)
			g.f("VFMADD231PS %d(SI), %s, %s", xo, t, s.r(c))
		}
	}
	g.label("row")
	g.f("MOVQ DX, BX")
	g.f("MOVQ R13, SI")
	g.f("MOVQ R12, CX")
	for a := 0; a < 4; a++ {
		g.f("VXORPS %s, %s, %s", s.r(a), s.r(a), s.r(a))
	}
	g.f("CMPQ CX, $%d", 4*s.lanes)
	g.f("JLT tail")
	g.label("four")
	for c := 0; c < 4; c++ {
		step(c)
	}
	g.f("ADDQ $%d, SI", 16*s.lanes)
	g.f("ADDQ $%d, BX", 4*esz*s.lanes)
	g.f("SUBQ $%d, CX", 4*s.lanes)
	g.f("CMPQ CX, $%d", 4*s.lanes)
	g.f("JGE four")
	g.label("tail")
	g.f("TESTQ CX, CX")
	g.f("JZ reduce")
	g.label("one")
	step(0)
	g.f("ADDQ $%d, SI", 4*s.lanes)
	g.f("ADDQ $%d, BX", esz*s.lanes)
	g.f("SUBQ $%d, CX", s.lanes)
	g.f("JNZ one")
	g.label("reduce")
	g.f("VADDPS %s, %s, %s", s.r(1), s.r(0), s.r(0))
	g.f("VADDPS %s, %s, %s", s.r(3), s.r(2), s.r(2))
	g.f("VADDPS %s, %s, %s", s.r(2), s.r(0), s.r(0))
	g.hsum(s, 0, 1)
	g.f("VMOVSS X0, (DI)")
	g.f("ADDQ $4, DI")
	g.f("ADDQ R8, DX")
	g.f("DECQ AX")
	g.f("JNZ row")
	g.f("VZEROUPPER")
	g.f("RET")
}

// gemvRowsBF16Dot emits the decode kernel of the avx512bf16 path: like
// gemvRows for a bf16 weight, but x is already rounded to bf16 and each
// step is one VDPBF16PS over 32 values (16 pairs) instead of widening the
// weight to float32: a quarter of the instructions per weight byte, and x
// read at half the bytes. Four accumulators, four vectors (128 values) per
// step, then one vector at a time.
func (g *gen) gemvRowsBF16Dot() {
	name := "gemvRowsBF16DotAvx512"
	doc := "// " + name + " computes, for r < rows,\n//\n//\ty[r] = Σ_{p<k} bf16(x[p])·bf16(w[r*ldw+p])\n//\n// where x holds k bf16 values (summed in pairs by VDPBF16PS, in float32).\n// k must be a positive multiple of 32; rows ≥ 1."
	g.fn(name, doc, "k int, x *uint16, w *uint16, ldw int, y *float32, rows int", "")
	g.f("MOVQ k+0(FP), R12")
	g.f("MOVQ x+8(FP), R13")
	g.f("MOVQ w+16(FP), DX")
	g.f("MOVQ ldw+24(FP), R8")
	g.f("SHLQ $1, R8")
	g.f("MOVQ y+32(FP), DI")
	g.f("MOVQ rows+40(FP), AX")
	step := func(c int) {
		g.f("VMOVDQU32 %d(BX), Z%d", 64*c, 4+c)
		g.f("VMOVDQU32 %d(SI), Z%d", 64*c, 8+c)
		g.vdpbf16ps(c, 4+c, 8+c)
	}
	g.label("row")
	g.f("MOVQ DX, BX")
	g.f("MOVQ R13, SI")
	g.f("MOVQ R12, CX")
	for a := 0; a < 4; a++ {
		g.f("VXORPS Z%d, Z%d, Z%d", a, a, a)
	}
	g.f("CMPQ CX, $128")
	g.f("JLT tail")
	g.label("four")
	for c := 0; c < 4; c++ {
		step(c)
	}
	g.f("ADDQ $256, SI")
	g.f("ADDQ $256, BX")
	g.f("SUBQ $128, CX")
	g.f("CMPQ CX, $128")
	g.f("JGE four")
	g.label("tail")
	g.f("TESTQ CX, CX")
	g.f("JZ reduce")
	g.label("one")
	step(0)
	g.f("ADDQ $64, SI")
	g.f("ADDQ $64, BX")
	g.f("SUBQ $32, CX")
	g.f("JNZ one")
	g.label("reduce")
	g.f("VADDPS Z1, Z0, Z0")
	g.f("VADDPS Z3, Z2, Z2")
	g.f("VADDPS Z2, Z0, Z0")
	g.hsum(avx512, 0, 1)
	g.f("VMOVSS X0, (DI)")
	g.f("ADDQ $4, DI")
	g.f("ADDQ R8, DX")
	g.f("DECQ AX")
	g.f("JNZ row")
	g.f("VZEROUPPER")
	g.f("RET")
}

// gemvRowsBF16DotM is gemvRowsBF16Dot for mr = 2…6 rows of x (bf16,
// strided by ldx values): like gemvRowsM it streams the weight once, two
// vectors (64 values) per step, applied to every row of x (2·mr
// accumulators).
func (g *gen) gemvRowsBF16DotM(mr int) {
	name := fmt.Sprintf("gemvRowsBF16DotAvx512M%d", mr)
	doc := fmt.Sprintf("// %s computes, for r < rows and i < %d,\n//\n//\ty[i*ldy+r] = Σ_{p<k} bf16(x[i*ldx+p])·bf16(w[r*ldw+p])\n//\n// where x holds bf16 values (summed in pairs by VDPBF16PS, in float32).\n// k must be a positive multiple of 32; rows ≥ 1.", name, mr)
	g.fn(name, doc, "k int, x *uint16, ldx int, w *uint16, ldw int, y *float32, ldy int, rows int", "")
	g.f("MOVQ k+0(FP), R12")
	g.f("MOVQ x+8(FP), R13")
	g.f("MOVQ ldx+16(FP), R9")
	g.f("SHLQ $1, R9")
	g.f("MOVQ w+24(FP), DX")
	g.f("MOVQ ldw+32(FP), R8")
	g.f("SHLQ $1, R8")
	g.f("MOVQ y+40(FP), DI")
	g.f("MOVQ ldy+48(FP), R11")
	g.f("SHLQ $2, R11")
	g.f("MOVQ rows+56(FP), AX")
	acc := func(i, c int) int { return 2*i + c }
	bases := []string{"SI", "R10"}
	step := func(nv int) {
		for c := 0; c < nv; c++ {
			g.f("VMOVDQU32 %d(BX), Z%d", 64*c, 12+c)
		}
		for c := 0; c < nv; c++ {
			for i := 0; i < mr; i++ {
				g.f("VMOVDQU32 %s, Z14", rowAddr(bases, "R9", i, 64*c))
				g.vdpbf16ps(acc(i, c), 12+c, 14)
			}
		}
	}
	g.label("row")
	g.f("MOVQ DX, BX")
	g.f("MOVQ R13, SI")
	if mr > 3 {
		g.f("LEAQ (SI)(R9*2), R10")
		g.f("ADDQ R9, R10")
	}
	g.f("MOVQ R12, CX")
	for i := 0; i < mr; i++ {
		for c := 0; c < 2; c++ {
			g.f("VXORPS Z%d, Z%d, Z%d", acc(i, c), acc(i, c), acc(i, c))
		}
	}
	g.f("CMPQ CX, $64")
	g.f("JLT tail")
	g.label("two")
	step(2)
	g.f("ADDQ $128, SI")
	if mr > 3 {
		g.f("ADDQ $128, R10")
	}
	g.f("ADDQ $128, BX")
	g.f("SUBQ $64, CX")
	g.f("CMPQ CX, $64")
	g.f("JGE two")
	g.label("tail")
	g.f("TESTQ CX, CX")
	g.f("JZ reduce")
	step(1)
	g.label("reduce")
	g.f("MOVQ DI, BX")
	for i := 0; i < mr; i++ {
		a := acc(i, 0)
		g.f("VADDPS Z%d, Z%d, Z%d", acc(i, 1), a, a)
		g.hsum(avx512, a, 14)
		g.f("VMOVSS X%d, (BX)", a)
		if i+1 < mr {
			g.f("ADDQ R11, BX")
		}
	}
	g.f("ADDQ $4, DI")
	g.f("ADDQ R8, DX")
	g.f("DECQ AX")
	g.f("JNZ row")
	g.f("VZEROUPPER")
	g.f("RET")
}

// gemvRowsM emits the decode kernel for mr = 2…6 rows of x (a few
// sequences decoding together): for every r < rows and i < mr,
// y[i*ldy+r] = Σ_{p<k} x[i*ldx+p]·w[r*ldw+p]. Like gemvRows it streams the
// weight one row after another, front to back, so each weight byte is read
// once for all mr rows of x; per step it loads two weight vectors and
// applies them to every row of x (2·mr accumulators).
func (g *gen) gemvRowsM(s isa, mr int, wt string) {
	wty := weightType(wt)
	esz := wty.size
	name := fmt.Sprintf("gemvRows%s%sM%d", wt, s.name, mr)
	doc := fmt.Sprintf("// %s computes, for r < rows and i < %d,\n//\n//\ty[i*ldy+r] = Σ_{p<k} x[i*ldx+p]·w[r*ldw+p]%s\n//\n// k must be a positive multiple of %d; rows ≥ 1.", name, mr, wty.conv, s.lanes)
	g.fn(name, doc, fmt.Sprintf("k int, x *float32, ldx int, w *%s, ldw int, y *float32, ldy int, rows int", wty.elem), "")
	g.f("MOVQ k+0(FP), R12")
	g.f("MOVQ x+8(FP), R13")
	g.f("MOVQ ldx+16(FP), R9")
	g.f("SHLQ $2, R9")
	g.f("MOVQ w+24(FP), DX") // row base
	g.f("MOVQ ldw+32(FP), R8")
	g.f("SHLQ $%d, R8", map[int]int{4: 2, 2: 1}[esz])
	g.f("MOVQ y+40(FP), DI")
	g.f("MOVQ ldy+48(FP), R11")
	g.f("SHLQ $2, R11")
	g.f("MOVQ rows+56(FP), AX")
	acc := func(i, c int) string { return s.r(2*i + c) }
	wr := []string{s.r(12), s.r(13)}
	bases := []string{"SI", "R10"}
	load := func(c int) { g.widen(wty, fmt.Sprintf("%d(BX)", c*esz*s.lanes), wr[c]) }
	g.label("row")
	g.f("MOVQ DX, BX")
	g.f("MOVQ R13, SI")
	if mr > 3 {
		g.f("LEAQ (SI)(R9*2), R10")
		g.f("ADDQ R9, R10")
	}
	g.f("MOVQ R12, CX")
	for i := 0; i < mr; i++ {
		for c := 0; c < 2; c++ {
			g.f("VXORPS %s, %s, %s", acc(i, c), acc(i, c), acc(i, c))
		}
	}
	g.f("CMPQ CX, $%d", 2*s.lanes)
	g.f("JLT tail")
	g.label("two")
	load(0)
	load(1)
	for c := 0; c < 2; c++ {
		for i := 0; i < mr; i++ {
			g.f("VFMADD231PS %s, %s, %s", rowAddr(bases, "R9", i, c*4*s.lanes), wr[c], acc(i, c))
		}
	}
	g.f("ADDQ $%d, SI", 8*s.lanes)
	if mr > 3 {
		g.f("ADDQ $%d, R10", 8*s.lanes)
	}
	g.f("ADDQ $%d, BX", 2*esz*s.lanes)
	g.f("SUBQ $%d, CX", 2*s.lanes)
	g.f("CMPQ CX, $%d", 2*s.lanes)
	g.f("JGE two")
	g.label("tail")
	g.f("TESTQ CX, CX")
	g.f("JZ reduce")
	load(0)
	for i := 0; i < mr; i++ {
		g.f("VFMADD231PS %s, %s, %s", rowAddr(bases, "R9", i, 0), wr[0], acc(i, 0))
	}
	g.label("reduce")
	g.f("MOVQ DI, BX")
	t := 14
	for i := 0; i < mr; i++ {
		a := 2 * i
		g.f("VADDPS %s, %s, %s", acc(i, 1), acc(i, 0), acc(i, 0))
		g.hsum(s, a, t)
		g.f("VMOVSS X%d, (BX)", a)
		if i+1 < mr {
			g.f("ADDQ R11, BX")
		}
	}
	g.f("ADDQ $4, DI")
	g.f("ADDQ R8, DX")
	g.f("DECQ AX")
	g.f("JNZ row")
	g.f("VZEROUPPER")
	g.f("RET")
}

// gemvRowsMaxM is the most rows of x a gemvRowsM kernel takes (package
// kernels' gemvMaxN).
const gemvRowsMaxM = 6

func main() {
	g := &gen{}
	for _, s := range []isa{avx512, avx2} {
		maxMR := 12
		if s.lanes == 8 {
			maxMR = 6
		}
		for _, nv := range []int{2, 1} {
			for mr := 1; mr <= maxMR; mr++ {
				g.gemmTile(s, mr, nv, false)
			}
		}
		if s.lanes == 16 {
			for mr := 1; mr <= maxMR; mr++ {
				g.gemmTile(s, mr, 2, true)
			}
			g.gemvRowsBF16Dot()
			for mr := 2; mr <= gemvRowsMaxM; mr++ {
				g.gemvRowsBF16DotM(mr)
			}
		}
		maxV := 4
		if s.lanes == 8 {
			maxV = 2
		}
		for mr := 1; mr <= maxV; mr++ {
			g.gemvTile(s, mr)
		}
		for _, wt := range []string{"F32", "BF16", "F16"} {
			g.gemvRows(s, wt)
			for mr := 2; mr <= gemvRowsMaxM; mr++ {
				g.gemvRowsM(s, mr, wt)
			}
		}
	}
	g.elementwise()
	g.packers()
	for _, vnni := range []bool{false, true} {
		g.qdotBlocks32(vnni, "Q8_0")
		g.qdotQ4_K(vnni, false)
		g.qdotQ4_K(vnni, true)
		g.qdotBlocks32(vnni, "Q5_0")
		g.qdotMin32(vnni, false)
		g.qdotMin32(vnni, true)
		g.qdotBlocks32(vnni, "Q4_0")
		g.qdotBlocks32(vnni, "IQ4_NL")
		g.qdotIQ4_XS(vnni)
	}
	g.qdotQ6_K()
	g.qdotK23(false)
	g.qdotK23(true)

	asm := "// Code generated by internal/asmgen. DO NOT EDIT.\n\n//go:build amd64 && !purego\n\n#include \"textflag.h\"\n" + g.s.String()
	src := "// Code generated by internal/asmgen. DO NOT EDIT.\n\n//go:build amd64 && !purego\n\npackage kernels\n" + g.decl.String()
	out, err := format.Source([]byte(src))
	if err != nil {
		fmt.Fprintln(os.Stderr, src)
		panic(err)
	}
	must(os.WriteFile("kernels_amd64.s", []byte(asm), 0o644))
	must(os.WriteFile("kernels_amd64.go", out, 0o644))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
