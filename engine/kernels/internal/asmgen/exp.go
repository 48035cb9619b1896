package main

import (
	"fmt"
	"math"
)

// Constants of the vectorised exp (Cephes expf: exp(x) = 2^n·p(r) with
// r = x - n·ln2, |r| ≤ ln2/2; about 2 ulp on [-87, 88]). Stored in expTab,
// each replicated 8 times (one ymm); AVX-512 broadcasts them to Z16…
var expConsts = []float32{
	1.44269504088896341, // 0 log2(e)
	0.693359375,         // 1 ln2 hi
	-2.12194440e-4,      // 2 ln2 lo
	1.9875691500e-4,     // 3 c0
	1.3981999507e-3,     // 4
	8.3334519073e-3,     // 5
	4.1665795894e-2,     // 6
	1.6666665459e-1,     // 7
	5.0000001201e-1,     // 8
	1,                   // 9
	88.3762626647949,    // 10 max x
	-87.3365447504019,   // 11 min x (keeps 2^n normal on the AVX2 path)
	-1.5957691216057308, // 12 -2·sqrt(2/π) (GELU)
	0.044715,            // 13
	-1,                  // 14
}

func (g *gen) expTable() {
	for i, c := range expConsts {
		for j := 0; j < 8; j++ {
			fmt.Fprintf(&g.s, "DATA expTab<>+%d(SB)/4, $0x%08x\n", 32*i+4*j, math.Float32bits(c))
		}
	}
	fmt.Fprintf(&g.s, "GLOBL expTab<>(SB), RODATA|NOPTR, $%d\n", 32*len(expConsts))
}

func (g *gen) loadExpConsts(s isa) {
	if s.lanes == 16 {
		for i := range expConsts {
			g.f("VBROADCASTSS expTab<>+%d(SB), Z%d", 32*i, 16+i)
		}
	}
}

// ec returns the operand holding exp constant i.
func ec(s isa, i int) string {
	if s.lanes == 16 {
		return fmt.Sprintf("Z%d", 16+i)
	}
	return fmt.Sprintf("expTab<>+%d(SB)", 32*i)
}

// exp emits v = exp(v) with temporaries t1, t2, t3.
func (g *gen) exp(s isa, v, t1, t2, t3 int) {
	V, T1, T2, T3 := s.r(v), s.r(t1), s.r(t2), s.r(t3)
	g.f("VMINPS %s, %s, %s", ec(s, 10), V, V)
	g.f("VMAXPS %s, %s, %s", ec(s, 11), V, V)
	g.f("VMULPS %s, %s, %s", ec(s, 0), V, T1)
	if s.lanes == 16 {
		g.f("VRNDSCALEPS $0, %s, %s", T1, T1)
	} else {
		g.f("VROUNDPS $0, %s, %s", T1, T1)
	}
	g.f("VFNMADD231PS %s, %s, %s", ec(s, 1), T1, V)
	g.f("VFNMADD231PS %s, %s, %s", ec(s, 2), T1, V)
	if s.lanes == 16 {
		g.f("VMOVAPS %s, %s", ec(s, 3), T2)
	} else {
		g.f("VMOVUPS %s, %s", ec(s, 3), T2)
	}
	for c := 4; c <= 8; c++ {
		g.f("VFMADD213PS %s, %s, %s", ec(s, c), V, T2)
	}
	g.f("VMULPS %s, %s, %s", V, V, T3)
	g.f("VFMADD213PS %s, %s, %s", V, T3, T2)
	g.f("VADDPS %s, %s, %s", ec(s, 9), T2, T2)
	if s.lanes == 16 {
		g.f("VSCALEFPS %s, %s, %s", T1, T2, V)
	} else {
		g.f("VCVTPS2DQ %s, %s", T1, T1)
		g.f("VPSLLD $23, %s, %s", T1, T1)
		g.f("VPADDD %s, %s, %s", T1, T2, V)
	}
}

// expKernels emits the exp-based loops.
func (g *gen) expKernels(s isa) {
	vb := 4 * s.lanes
	// expSum
	name := "expSum" + s.name
	g.fn(name, fmt.Sprintf("// %s sets dst[i] = exp(src[i]·scale - m) for i < n and returns their sum;\n// n must be a multiple of %d. dst may alias src.", name, s.lanes),
		"dst *float32, src *float32, n int, scale float32, m float32", "float32")
	g.loadExpConsts(s)
	g.f("MOVQ dst+0(FP), DI")
	g.f("MOVQ src+8(FP), SI")
	g.f("MOVQ n+16(FP), CX")
	g.f("VBROADCASTSS scale+24(FP), %s", s.r(5))
	g.f("VBROADCASTSS m+28(FP), %s", s.r(6))
	g.f("VXORPS %s, %s, %s", s.r(7), s.r(7), s.r(7))
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	g.f("VMOVUPS (SI), %s", s.r(0))
	g.f("VFMSUB213PS %s, %s, %s", s.r(6), s.r(5), s.r(0)) // x·scale - m
	// exp of anything below the clamp (-inf included) is exactly 0.
	if s.lanes == 16 {
		g.f("VCMPPS $5, %s, Z0, K1", ec(s, 11))
	} else {
		g.f("VCMPPS $5, %s, Y0, Y8", ec(s, 11))
	}
	g.exp(s, 0, 1, 2, 3)
	if s.lanes == 16 {
		g.f("VMOVAPS.Z Z0, K1, Z0")
	} else {
		g.f("VANDPS Y8, Y0, Y0")
	}
	g.f("VMOVUPS %s, (DI)", s.r(0))
	g.f("VADDPS %s, %s, %s", s.r(0), s.r(7), s.r(7))
	g.f("ADDQ $%d, SI", vb)
	g.f("ADDQ $%d, DI", vb)
	g.f("SUBQ $%d, CX", s.lanes)
	g.f("JNZ loop")
	g.label("done")
	g.hsum(s, 7, 0)
	g.f("VZEROUPPER")
	g.f("MOVSS X7, ret+32(FP)")
	g.f("RET")

	// sigmoid-gated product: SwiGLU with SiLU or GELU(tanh).
	name = "gateMul" + s.name
	g.fn(name, fmt.Sprintf("// %s sets dst[i] = act(gate[i])·up[i] for i < n, act = SiLU, or GELU (tanh\n// form, written x·σ(2·sqrt(2/π)(x+0.044715x³))) when gelu != 0; n must be a\n// multiple of %d.", name, s.lanes),
		"dst *float32, gate *float32, up *float32, n int, gelu int", "")
	g.loadExpConsts(s)
	g.f("MOVQ dst+0(FP), DI")
	g.f("MOVQ gate+8(FP), SI")
	g.f("MOVQ up+16(FP), DX")
	g.f("MOVQ n+24(FP), CX")
	g.f("MOVQ gelu+32(FP), AX")
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	for _, gelu := range []bool{false, true} {
		l := "silu"
		if gelu {
			l = "gelu"
			g.label("gelu")
		} else {
			g.f("TESTQ AX, AX")
			g.f("JNZ gelu")
		}
		g.label(l + "loop")
		g.f("VMOVUPS (SI), %s", s.r(4)) // g
		if gelu {
			// z = -2c·(g + 0.044715 g³) = -2c·g·(1 + 0.044715 g²)
			g.f("VMULPS %s, %s, %s", s.r(4), s.r(4), s.r(0))
			g.f("VMULPS %s, %s, %s", ec(s, 13), s.r(0), s.r(0))
			g.f("VADDPS %s, %s, %s", ec(s, 9), s.r(0), s.r(0))
			g.f("VMULPS %s, %s, %s", s.r(4), s.r(0), s.r(0))
			g.f("VMULPS %s, %s, %s", ec(s, 12), s.r(0), s.r(0))
		} else {
			g.f("VMULPS %s, %s, %s", ec(s, 14), s.r(4), s.r(0))
		}
		g.exp(s, 0, 1, 2, 3)
		g.f("VADDPS %s, %s, %s", ec(s, 9), s.r(0), s.r(0))
		g.f("VMULPS (DX), %s, %s", s.r(4), s.r(4))
		g.f("VDIVPS %s, %s, %s", s.r(0), s.r(4), s.r(4))
		g.f("VMOVUPS %s, (DI)", s.r(4))
		g.f("ADDQ $%d, SI", vb)
		g.f("ADDQ $%d, DX", vb)
		g.f("ADDQ $%d, DI", vb)
		g.f("SUBQ $%d, CX", s.lanes)
		g.f("JNZ %sloop", l)
		g.f("JMP done")
	}
	g.label("done")
	g.f("VZEROUPPER")
	g.f("RET")
}
