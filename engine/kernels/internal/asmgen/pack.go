package main

import "fmt"

// packers emits the weight packers: gathers that transpose a block of up to
// NR weight rows into a panel [k][NR] (32-bit units, or bf16/f16 widened to
// float32), and the f32→bf16 activation converter.
func (g *gen) packers() {
	for _, s := range []isa{avx512, avx2} {
		g.pack32(s)
		g.packWiden(s, "BF16")
		if s.lanes == 16 {
			g.packWiden(s, "F16")
		}
	}
	g.cvtBF16()
}

// gather emits a gather of 32-bit units at byte offsets idx (vector) from
// base, into dst.
func (g *gen) gather(s isa, base string, idx, dst, mask int) {
	if s.lanes == 16 {
		g.f("KXNORW K0, K0, K%d", mask)
		g.f("VPGATHERDD (%s)(Z%d*1), K%d, Z%d", base, idx, mask, dst)
	} else {
		g.f("VPCMPEQD Y%d, Y%d, Y%d", mask, mask, mask)
		g.f("VPGATHERDD Y%d, (%s)(Y%d*1), Y%d", mask, base, idx, dst)
	}
}

func (g *gen) loadIdx(s isa) {
	g.f("MOVQ idx+16(FP), AX")
	g.f("VMOVUPS (AX), %s", s.r(0))
	g.f("VMOVUPS %d(AX), %s", 4*s.lanes, s.r(1))
}

func (g *gen) pack32(s isa) {
	nr := 2 * s.lanes
	name := "pack32" + s.name
	g.fn(name, fmt.Sprintf("// %s packs a panel: for p < k and j < %d,\n//\n//\tdst[p*%d+j] = 32-bit unit at byte offset idx[j] + 4p of src.", name, nr, nr),
		"dst *uint32, src *uint32, idx *int32, k int", "")
	g.f("MOVQ dst+0(FP), DI")
	g.f("MOVQ src+8(FP), SI")
	g.f("MOVQ k+24(FP), CX")
	g.loadIdx(s)
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	if s.lanes == 16 {
		g.gather(s, "SI", 0, 2, 1)
		g.gather(s, "SI", 1, 3, 2)
	} else {
		g.gather(s, "SI", 0, 2, 4)
		g.gather(s, "SI", 1, 3, 5)
	}
	g.f("VMOVUPS %s, (DI)", s.r(2))
	g.f("VMOVUPS %s, %d(DI)", s.r(3), 4*s.lanes)
	g.f("ADDQ $4, SI")
	g.f("ADDQ $%d, DI", 4*nr)
	g.f("DECQ CX")
	g.f("JNZ loop")
	g.label("done")
	g.f("VZEROUPPER")
	g.f("RET")
}

func (g *gen) packWiden(s isa, wt string) {
	nr := 2 * s.lanes
	name := "pack" + wt + s.name
	g.fn(name, fmt.Sprintf("// %s packs a panel widening %s to float32: for p < 2·k2 and j < %d,\n//\n//\tdst[p*%d+j] = f32(16-bit value at byte offset idx[j] + 2p of src).", name, wt, nr, nr),
		"dst *float32, src *uint16, idx *int32, k2 int", "")
	g.f("MOVQ dst+0(FP), DI")
	g.f("MOVQ src+8(FP), SI")
	g.f("MOVQ k2+24(FP), CX")
	g.loadIdx(s)
	if wt == "BF16" {
		g.f("MOVL $0xffff0000, AX")
		g.f("MOVQ AX, X15")
		g.f("VPBROADCASTD X15, %s", s.r(15))
	}
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	for h := 0; h < 2; h++ {
		d := 2 + h
		if s.lanes == 16 {
			g.gather(s, "SI", h, d, 1+h)
		} else {
			g.gather(s, "SI", h, d, 4+h)
		}
		lo, hi := 6+2*h, 7+2*h
		if wt == "BF16" {
			g.f("VPSLLD $16, %s, %s", s.r(d), s.r(lo))
			and := "VPAND"
			if s.lanes == 16 {
				and = "VPANDD"
			}
			g.f("%s %s, %s, %s", and, s.r(15), s.r(d), s.r(hi))
		} else {
			g.f("VPMOVDW Z%d, Y%d", d, lo)
			g.f("VCVTPH2PS Y%d, Z%d", lo, lo)
			g.f("VPSRLD $16, Z%d, Z%d", d, hi)
			g.f("VPMOVDW Z%d, Y%d", hi, hi)
			g.f("VCVTPH2PS Y%d, Z%d", hi, hi)
		}
		vb := 4 * s.lanes
		g.f("VMOVUPS %s, %d(DI)", s.r(lo), h*vb)
		g.f("VMOVUPS %s, %d(DI)", s.r(hi), 4*nr+h*vb)
	}
	g.f("ADDQ $4, SI")
	g.f("ADDQ $%d, DI", 8*nr)
	g.f("DECQ CX")
	g.f("JNZ loop")
	g.label("done")
	g.f("VZEROUPPER")
	g.f("RET")
}

func (g *gen) cvtBF16() {
	name := "cvtBF16Avx512"
	g.fn(name, "// "+name+" rounds src[:n] to bf16 (nearest even) into dst; n must be a multiple of 32.",
		"dst *uint16, src *float32, n int", "")
	g.f("MOVQ dst+0(FP), DI")
	g.f("MOVQ src+8(FP), SI")
	g.f("MOVQ n+16(FP), CX")
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	g.f("VMOVUPS (SI), Z0")
	g.f("VMOVUPS 64(SI), Z1")
	g.vcvtne2ps2bf16(2, 1, 0)
	g.f("VMOVDQU32 Z2, (DI)")
	g.f("ADDQ $128, SI")
	g.f("ADDQ $64, DI")
	g.f("SUBQ $32, CX")
	g.f("JNZ loop")
	g.label("done")
	g.f("VZEROUPPER")
	g.f("RET")
}
