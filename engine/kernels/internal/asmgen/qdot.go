package main

import "fmt"

// qdot emits the int8 row dot of quantised weights (see package kernels'
// quant.go): w and x are n int8 values, ws one float32 scale per 16 values
// of w, xd one per 32 values of x, and the result is
//
//	Σ_{g<n/16} float32(Σ_{i<16} w[16g+i]·x[16g+i])·ws[g]·xd[g/2]
//
// n a positive multiple of 32. Each block of 32 values is one ymm register:
// |w| (unsigned) times x with w's sign (VPSIGNB), so that the unsigned ×
// signed byte products apply; x must lie in −127…127 (w may be −128). The
// AVX2 version sums the byte products pairwise with VPMADDUBSW (at most
// 2·128·127, no saturation) and then in fours with VPMADDWD; the VNNI version
// does both with one VPDPBUSD.
func (g *gen) qdot(vnni bool) {
	name := "qdotRowAvx2"
	how := "VPMADDUBSW + VPMADDWD"
	if vnni {
		name, how = "qdotRowVnni", "VPDPBUSD (AVX512_VNNI, 256-bit)"
	}
	doc := fmt.Sprintf("// %s returns Σ_{g<n/16} float32(Σ_{i<16} w[16g+i]·x[16g+i])·ws[g]·xd[g/2]\n// (%s); n must be a positive multiple of 32 and x in −127…127.", name, how)
	g.fn(name, doc, "w *int8, ws *float32, x *int8, xd *float32, n int", "float32")
	g.f("MOVQ w+0(FP), SI")
	g.f("MOVQ ws+8(FP), R8")
	g.f("MOVQ x+16(FP), DI")
	g.f("MOVQ xd+24(FP), R9")
	g.f("MOVQ n+32(FP), CX")
	g.f("VXORPS Y3, Y3, Y3")
	g.f("VXORPS Y4, Y4, Y4")
	if !vnni {
		g.f("VPCMPEQW Y15, Y15, Y15")
		g.f("VPSRLW $15, Y15, Y15") // 16-bit ones
	}
	block := func(blk, acc int) {
		off := 32 * blk
		g.f("VMOVDQU %d(SI), Y0", off)
		g.f("VMOVDQU %d(DI), Y1", off)
		g.f("VPSIGNB Y0, Y1, Y1")
		g.f("VPABSB Y0, Y0")
		if vnni {
			g.f("VPXOR Y2, Y2, Y2")
			g.f("VPDPBUSD Y1, Y0, Y2")
		} else {
			g.f("VPMADDUBSW Y1, Y0, Y2")
			g.f("VPMADDWD Y15, Y2, Y2")
		}
		g.f("VCVTDQ2PS Y2, Y2")
		g.f("VBROADCASTSS %d(R8), X5", 8*blk) // lanes 0-3: the first 16 values' scale
		g.f("VBROADCASTSS %d(R8), X6", 8*blk+4)
		g.f("VINSERTF128 $1, X6, Y5, Y5")
		g.f("VMULPS Y5, Y2, Y2")
		g.f("VBROADCASTSS %d(R9), Y6", 4*blk)
		g.f("VFMADD231PS Y6, Y2, Y%d", acc)
	}
	g.f("CMPQ CX, $64")
	g.f("JL one")
	g.label("two")
	block(0, 3)
	block(1, 4)
	g.f("ADDQ $64, SI")
	g.f("ADDQ $64, DI")
	g.f("ADDQ $16, R8") // 4 weight scales
	g.f("ADDQ $8, R9")  // 2 x scales
	g.f("SUBQ $64, CX")
	g.f("CMPQ CX, $64")
	g.f("JGE two")
	g.label("one")
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	block(0, 3)
	g.label("done")
	g.f("VADDPS Y4, Y3, Y3")
	g.hsum(avx2, 3, 5)
	g.f("VZEROUPPER")
	g.f("MOVSS X3, ret+40(FP)")
	g.f("RET")
}
