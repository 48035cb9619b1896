package main

import "fmt"

// elementwise emits dot, axpy and friends for both ISAs. Each handles n, a
// multiple of the vector width; the Go wrappers do the tails.
func (g *gen) elementwise() {
	for _, s := range []isa{avx512, avx2} {
		g.dot(s)
		g.axpy(s)
		g.expKernels(s)
		g.simple(s)
		g.scores(s)
	}
	g.expTable()
	g.prefetch()
}

// prefetch emits a loop of PREFETCHT1 over an array, one per 64-byte line:
// it asks for data (a layer's attention cache) to be brought towards L2
// while the core does other work.
func (g *gen) prefetch() {
	g.fn("prefetchT1", "// prefetchT1 asks for the n float32 at p to be loaded into the L2 cache; n ≥ 1.",
		"p *float32, n int", "")
	g.f("MOVQ p+0(FP), SI")
	g.f("MOVQ n+8(FP), CX")
	g.f("LEAQ (SI)(CX*4), DI")
	g.label("loop")
	g.f("PREFETCHT1 (SI)")
	g.f("ADDQ $64, SI")
	g.f("CMPQ SI, DI")
	g.f("JLT loop")
	g.f("RET")
}

func (g *gen) dot(s isa) {
	name := "dot" + s.name
	vb := 4 * s.lanes
	g.fn(name, fmt.Sprintf("// %s returns Σ_{i<n} a[i]·b[i]; n must be a multiple of %d.", name, s.lanes),
		"a *float32, b *float32, n int", "float32")
	g.f("MOVQ a+0(FP), SI")
	g.f("MOVQ b+8(FP), DI")
	g.f("MOVQ n+16(FP), CX")
	for i := 0; i < 4; i++ {
		g.f("VXORPS %s, %s, %s", s.r(i), s.r(i), s.r(i))
	}
	g.f("CMPQ CX, $%d", 4*s.lanes)
	g.f("JL tail")
	g.label("loop4")
	for i := 0; i < 4; i++ {
		g.f("VMOVUPS %d(SI), %s", i*vb, s.r(4+i))
		g.f("VFMADD231PS %d(DI), %s, %s", i*vb, s.r(4+i), s.r(i))
	}
	g.f("ADDQ $%d, SI", 4*vb)
	g.f("ADDQ $%d, DI", 4*vb)
	g.f("SUBQ $%d, CX", 4*s.lanes)
	g.f("CMPQ CX, $%d", 4*s.lanes)
	g.f("JGE loop4")
	g.label("tail")
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop1")
	g.f("VMOVUPS (SI), %s", s.r(4))
	g.f("VFMADD231PS (DI), %s, %s", s.r(4), s.r(0))
	g.f("ADDQ $%d, SI", vb)
	g.f("ADDQ $%d, DI", vb)
	g.f("SUBQ $%d, CX", s.lanes)
	g.f("JNZ loop1")
	g.label("done")
	g.f("VADDPS %s, %s, %s", s.r(1), s.r(0), s.r(0))
	g.f("VADDPS %s, %s, %s", s.r(3), s.r(2), s.r(2))
	g.f("VADDPS %s, %s, %s", s.r(2), s.r(0), s.r(0))
	g.hsum(s, 0, 1)
	g.f("VZEROUPPER")
	g.f("MOVSS X0, ret+24(FP)")
	g.f("RET")
}

func (g *gen) axpy(s isa) {
	name := "axpy" + s.name
	vb := 4 * s.lanes
	g.fn(name, fmt.Sprintf("// %s computes y[i] += a·x[i] for i < n; n must be a multiple of %d.", name, s.lanes),
		"y *float32, a float32, x *float32, n int", "")
	g.f("MOVQ y+0(FP), DI")
	g.f("VBROADCASTSS a+8(FP), %s", s.r(15))
	g.f("MOVQ x+16(FP), SI")
	g.f("MOVQ n+24(FP), CX")
	g.f("CMPQ CX, $%d", 4*s.lanes)
	g.f("JL tail")
	g.label("loop4")
	for i := 0; i < 4; i++ {
		g.f("VMOVUPS %d(DI), %s", i*vb, s.r(i))
		g.f("VFMADD231PS %d(SI), %s, %s", i*vb, s.r(15), s.r(i))
		g.f("VMOVUPS %s, %d(DI)", s.r(i), i*vb)
	}
	g.f("ADDQ $%d, SI", 4*vb)
	g.f("ADDQ $%d, DI", 4*vb)
	g.f("SUBQ $%d, CX", 4*s.lanes)
	g.f("CMPQ CX, $%d", 4*s.lanes)
	g.f("JGE loop4")
	g.label("tail")
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop1")
	g.f("VMOVUPS (DI), %s", s.r(0))
	g.f("VFMADD231PS (SI), %s, %s", s.r(15), s.r(0))
	g.f("VMOVUPS %s, (DI)", s.r(0))
	g.f("ADDQ $%d, SI", vb)
	g.f("ADDQ $%d, DI", vb)
	g.f("SUBQ $%d, CX", s.lanes)
	g.f("JNZ loop1")
	g.label("done")
	g.f("VZEROUPPER")
	g.f("RET")
}

// simple emits max, scale, add and the RMSNorm scaling loop.
func (g *gen) simple(s isa) {
	vb := 4 * s.lanes
	loop := func(body func(), ptrs ...string) {
		g.f("TESTQ CX, CX")
		g.f("JZ done")
		g.label("loop")
		body()
		for _, p := range ptrs {
			g.f("ADDQ $%d, %s", vb, p)
		}
		g.f("SUBQ $%d, CX", s.lanes)
		g.f("JNZ loop")
		g.label("done")
	}
	name := "max" + s.name
	g.fn(name, fmt.Sprintf("// %s returns max(x[:n]); n must be a positive multiple of %d.", name, s.lanes), "x *float32, n int", "float32")
	g.f("MOVQ x+0(FP), SI")
	g.f("MOVQ n+8(FP), CX")
	g.f("VMOVUPS (SI), %s", s.r(0))
	loop(func() { g.f("VMAXPS (SI), %s, %s", s.r(0), s.r(0)) }, "SI")
	if s.lanes == 16 {
		g.f("VEXTRACTF64X4 $1, Z0, Y1")
		g.f("VMAXPS Y1, Y0, Y0")
	}
	g.f("VEXTRACTF128 $1, Y0, X1")
	g.f("VMAXPS X1, X0, X0")
	g.f("VPERMILPS $0x4e, X0, X1")
	g.f("VMAXPS X1, X0, X0")
	g.f("VPERMILPS $0xb1, X0, X1")
	g.f("VMAXPS X1, X0, X0")
	g.f("VZEROUPPER")
	g.f("MOVSS X0, ret+16(FP)")
	g.f("RET")

	name = "scale" + s.name
	g.fn(name, fmt.Sprintf("// %s computes x[i] *= a for i < n; n must be a multiple of %d.", name, s.lanes), "x *float32, a float32, n int", "")
	g.f("MOVQ x+0(FP), SI")
	g.f("VBROADCASTSS a+8(FP), %s", s.r(1))
	g.f("MOVQ n+16(FP), CX")
	loop(func() {
		g.f("VMULPS (SI), %s, %s", s.r(1), s.r(0))
		g.f("VMOVUPS %s, (SI)", s.r(0))
	}, "SI")
	g.f("VZEROUPPER")
	g.f("RET")

	name = "add" + s.name
	g.fn(name, fmt.Sprintf("// %s computes y[i] += x[i] for i < n; n must be a multiple of %d.", name, s.lanes), "y *float32, x *float32, n int", "")
	g.f("MOVQ y+0(FP), DI")
	g.f("MOVQ x+8(FP), SI")
	g.f("MOVQ n+16(FP), CX")
	loop(func() {
		g.f("VMOVUPS (DI), %s", s.r(0))
		g.f("VADDPS (SI), %s, %s", s.r(0), s.r(0))
		g.f("VMOVUPS %s, (DI)", s.r(0))
	}, "SI", "DI")
	g.f("VZEROUPPER")
	g.f("RET")

	name = "mulScale" + s.name
	g.fn(name, fmt.Sprintf("// %s computes dst[i] = x[i]·a·(w[i] + one) for i < n; n must be a multiple of %d.", name, s.lanes),
		"dst *float32, x *float32, w *float32, a float32, one float32, n int", "")
	g.f("MOVQ dst+0(FP), DI")
	g.f("MOVQ x+8(FP), SI")
	g.f("MOVQ w+16(FP), DX")
	g.f("VBROADCASTSS a+24(FP), %s", s.r(1))
	g.f("VBROADCASTSS one+28(FP), %s", s.r(2))
	g.f("MOVQ n+32(FP), CX")
	loop(func() {
		g.f("VADDPS (DX), %s, %s", s.r(2), s.r(0))
		g.f("VMULPS (SI), %s, %s", s.r(0), s.r(0))
		g.f("VMULPS %s, %s, %s", s.r(1), s.r(0), s.r(0))
		g.f("VMOVUPS %s, (DI)", s.r(0))
	}, "SI", "DX", "DI")
	g.f("VZEROUPPER")
	g.f("RET")
}

// scores emits s[j] = Σ_{d<hd} q[d]·k[j*ldk+d] for j < nk (nk a multiple of
// 4, hd a multiple of the vector width, at most 8 vectors): the decode-step
// attention scores, q held in registers, 4 keys per iteration.
func (g *gen) scores(s isa) {
	name := "scores" + s.name
	maxV := 8
	if s.lanes == 8 {
		maxV = 4
	}
	g.fn(name, fmt.Sprintf("// %s sets s[j] = Σ_{d<hd} q[d]·k[j*ldk+d] for j < nk; nk must be a\n// multiple of 4 and hd a multiple of %d, at most %d.", name, s.lanes, maxV*s.lanes),
		"q *float32, k *float32, ldk int, nk int, hd int, s *float32", "")
	g.f("MOVQ q+0(FP), SI")
	g.f("MOVQ k+8(FP), BX")
	g.f("MOVQ ldk+16(FP), R8")
	g.f("SHLQ $2, R8")
	g.f("MOVQ nk+24(FP), CX")
	g.f("MOVQ hd+32(FP), DX")
	g.f("MOVQ s+40(FP), DI")
	g.f("LEAQ (R8)(R8*2), R10")
	// q into registers: vectors 8..8+maxV-1 (AVX2: 8..11).
	qreg := func(v int) string { return s.r(8 + v) }
	for v := 0; v < maxV; v++ {
		g.f("CMPQ DX, $%d", v*s.lanes)
		g.f("JLE qdone")
		g.f("VMOVUPS %d(SI), %s", 4*s.lanes*v, qreg(v))
	}
	g.label("qdone")
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	for a := 0; a < 4; a++ {
		g.f("VXORPS %s, %s, %s", s.r(a), s.r(a), s.r(a))
	}
	rows := []string{"(BX)", "(BX)(R8*1)", "(BX)(R8*2)", "(BX)(R10*1)"}
	for v := 0; v < maxV; v++ {
		g.f("CMPQ DX, $%d", v*s.lanes)
		g.f("JLE reduce")
		off := ""
		if v > 0 {
			off = fmt.Sprint(4 * s.lanes * v)
		}
		for a := 0; a < 4; a++ {
			g.f("VFMADD231PS %s%s, %s, %s", off, rows[a], qreg(v), s.r(a))
		}
	}
	g.label("reduce")
	for a := 0; a < 4; a++ {
		if s.lanes == 16 {
			g.f("VEXTRACTF64X4 $1, Z%d, Y4", a)
			g.f("VADDPS Y4, Y%d, Y%d", a, a)
		}
		g.f("VEXTRACTF128 $1, Y%d, X4", a)
		g.f("VADDPS X4, X%d, X%d", a, a)
	}
	g.f("VHADDPS X1, X0, X0")
	g.f("VHADDPS X3, X2, X2")
	g.f("VHADDPS X2, X0, X0")
	g.f("VMOVUPS X0, (DI)")
	g.f("ADDQ $16, DI")
	g.f("LEAQ (BX)(R8*4), BX")
	g.f("SUBQ $4, CX")
	g.f("JNZ loop")
	g.label("done")
	g.f("VZEROUPPER")
	g.f("RET")
}
