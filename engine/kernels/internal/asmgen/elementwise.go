package main

import "fmt"

// elementwise emits dot, axpy and friends for both ISAs. Each handles n, a
// multiple of the vector width; the Go wrappers do the tails.
func (g *gen) elementwise() {
	for _, s := range []isa{avx512, avx2} {
		g.dot(s)
		g.axpy(s)
	}
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
	if s.lanes == 16 {
		g.f("VEXTRACTF64X4 $1, Z0, Y1")
		g.f("VADDPS Y1, Y0, Y0")
	}
	g.f("VEXTRACTF128 $1, Y0, X1")
	g.f("VADDPS X1, X0, X0")
	g.f("VHADDPS X0, X0, X0")
	g.f("VHADDPS X0, X0, X0")
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
