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

// qdotMul emits the byte products of one register of 32 weights in Y0
// (unsigned when unsigned, else signed) and 32 int8 x in Y1, summed in fours
// into the 8 int32 of Y2. Y15 holds 16-bit ones on AVX2.
func (g *gen) qdotMul(vnni, unsigned bool) {
	if !unsigned {
		g.f("VPSIGNB Y0, Y1, Y1")
		g.f("VPABSB Y0, Y0")
	}
	if vnni {
		g.f("VPXOR Y2, Y2, Y2")
		g.f("VPDPBUSD Y1, Y0, Y2")
	} else {
		g.f("VPMADDUBSW Y1, Y0, Y2")
		g.f("VPMADDWD Y15, Y2, Y2")
	}
}

func (g *gen) qdotSuffix(vnni bool) string {
	if vnni {
		return "Vnni"
	}
	return "Avx2"
}

// qdotQ8_0 emits the int8 row dot straight from Q8_0 blocks (34 bytes: an
// f16 scale, 32 int8):
//
//	Σ_{b<nb} float32(Σ_{i<32} q_b[i]·x[32b+i])·(f16(d_b)·xd[b])
func (g *gen) qdotQ8_0(vnni bool) {
	name := "qdotQ8_0" + g.qdotSuffix(vnni)
	doc := fmt.Sprintf("// %s returns Σ_{b<nb} float32(Σ_{i<32} q_b[i]·x[32b+i])·(d_b·xd[b]) over nb\n// Q8_0 blocks at w (d_b: the block's f16 scale, q_b its int8 values); x in −127…127.", name)
	g.fn(name, doc, "w *byte, x *int8, xd *float32, nb int", "float32")
	g.f("MOVQ w+0(FP), SI")
	g.f("MOVQ x+8(FP), DI")
	g.f("MOVQ xd+16(FP), R9")
	g.f("MOVQ nb+24(FP), CX")
	g.f("VXORPS Y3, Y3, Y3")
	if !vnni {
		g.f("VPCMPEQW Y15, Y15, Y15")
		g.f("VPSRLW $15, Y15, Y15")
	}
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	g.f("VMOVDQU 2(SI), Y0")
	g.f("VMOVDQU (DI), Y1")
	g.qdotMul(vnni, false)
	g.f("VCVTDQ2PS Y2, Y2")
	g.f("MOVWLZX (SI), AX")
	g.f("VMOVD AX, X5")
	g.f("VCVTPH2PS X5, X5")
	g.f("VMULSS (R9), X5, X5")
	g.f("VBROADCASTSS X5, Y5")
	g.f("VFMADD231PS Y5, Y2, Y3")
	g.f("ADDQ $34, SI")
	g.f("ADDQ $32, DI")
	g.f("ADDQ $4, R9")
	g.f("DECQ CX")
	g.f("JNZ loop")
	g.label("done")
	g.hsum(avx2, 3, 5)
	g.f("VZEROUPPER")
	g.f("MOVSS X3, ret+32(FP)")
	g.f("RET")
}

// qdotQ4_K emits the int8 row dot of the 4-bit values of Q4_K super-blocks
// (144 bytes; the 128 bytes of nibbles at offset 16) or, with q5, of the
// 5-bit values of Q5_K super-blocks (176 bytes; the fifth bits at offset 16,
// one byte per 32-value position with bit k for sub-block k, the nibbles at
// offset 48), with the scales of the 32-value sub-blocks already decoded
// into ws (d·sc, 8 per super-block):
//
//	Σ_{k<8·nsb} float32(Σ_{i<32} q[32k+i]·x[32k+i])·(ws[k]·xd[k])
//
// (the mins are the caller's). Sub-block 2j of a super-block is the low
// nibbles of its bytes 32j…32j+31, sub-block 2j+1 the high ones.
func (g *gen) qdotQ4_K(vnni, q5 bool) {
	typ, stride, qsOff := "Q4_K", 144, 16
	if q5 {
		typ, stride, qsOff = "Q5_K", 176, 48
	}
	name := "qdot" + typ + g.qdotSuffix(vnni)
	doc := fmt.Sprintf("// %s returns Σ_{k<8·nsb} float32(Σ_{i<32} q[32k+i]·x[32k+i])·(ws[k]·xd[k]) over the\n// unsigned values q of nsb %s super-blocks at w; x in −127…127.", name, typ)
	g.fn(name, doc, "w *byte, ws *float32, x *int8, xd *float32, nsb int", "float32")
	g.f("MOVQ w+0(FP), SI")
	g.f("MOVQ ws+8(FP), R8")
	g.f("MOVQ x+16(FP), DI")
	g.f("MOVQ xd+24(FP), R9")
	g.f("MOVQ nsb+32(FP), CX")
	g.f("VXORPS Y3, Y3, Y3")
	g.f("VXORPS Y4, Y4, Y4")
	if !vnni {
		g.f("VPCMPEQW Y15, Y15, Y15")
		g.f("VPSRLW $15, Y15, Y15")
	}
	g.f("MOVL $0x0f0f0f0f, AX")
	g.f("VMOVD AX, X14")
	g.f("VPBROADCASTD X14, Y14")
	if q5 {
		g.f("MOVL $0x10101010, AX")
		g.f("VMOVD AX, X13")
		g.f("VPBROADCASTD X13, Y13")
	}
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	if q5 {
		g.f("VMOVDQU 16(SI), Y10")
	}
	for j := 0; j < 4; j++ {
		for h := 0; h < 2; h++ {
			k := 2*j + h
			g.f("VMOVDQU %d(SI), Y0", qsOff+32*j)
			if h == 1 {
				g.f("VPSRLW $4, Y0, Y0")
			}
			g.f("VPAND Y14, Y0, Y0")
			if q5 { // bit k of the qh bytes to bit 4
				switch {
				case k < 4:
					g.f("VPSLLW $%d, Y10, Y6", 4-k)
				case k == 4:
					g.f("VMOVDQA Y10, Y6")
				default:
					g.f("VPSRLW $%d, Y10, Y6", k-4)
				}
				g.f("VPAND Y13, Y6, Y6")
				g.f("VPOR Y6, Y0, Y0")
			}
			g.f("VMOVDQU %d(DI), Y1", 32*k)
			g.qdotMul(vnni, true)
			g.f("VCVTDQ2PS Y2, Y2")
			g.f("VMOVSS %d(R8), X5", 4*k)
			g.f("VMULSS %d(R9), X5, X5", 4*k)
			g.f("VBROADCASTSS X5, Y5")
			g.f("VFMADD231PS Y5, Y2, Y%d", 3+h)
		}
	}
	g.f("ADDQ $%d, SI", stride)
	g.f("ADDQ $32, R8")
	g.f("ADDQ $256, DI")
	g.f("ADDQ $32, R9")
	g.f("DECQ CX")
	g.f("JNZ loop")
	g.label("done")
	g.f("VADDPS Y4, Y3, Y3")
	g.hsum(avx2, 3, 5)
	g.f("VZEROUPPER")
	g.f("MOVSS X3, ret+40(FP)")
	g.f("RET")
}

// qdotQ6_K emits the int8 row dot of the 6-bit values (0…63, stored
// offset by 32) of Q6_K super-blocks (210 bytes: ql[128], qh[64], …), with
// the scales of the 16-value groups decoded into ws (d·sc, 16 per
// super-block):
//
//	Σ_{g<16·nsb} float32(Σ_{i<16} u[16g+i]·x[16g+i])·(ws[g]·xd[g/2])
//
// u = q+32 unsigned; the caller subtracts the offset's 32·Σx.
func (g *gen) qdotQ6_K(vnni bool) {
	name := "qdotQ6_K" + g.qdotSuffix(vnni)
	doc := fmt.Sprintf("// %s returns Σ_{g<16·nsb} float32(Σ_{i<16} u[16g+i]·x[16g+i])·(ws[g]·xd[g/2]) over the\n// unsigned 6-bit values u (q+32) of nsb Q6_K super-blocks at w; x in −127…127.", name)
	g.fn(name, doc, "w *byte, ws *float32, x *int8, xd *float32, nsb int", "float32")
	g.f("MOVQ w+0(FP), SI")
	g.f("MOVQ ws+8(FP), R8")
	g.f("MOVQ x+16(FP), DI")
	g.f("MOVQ xd+24(FP), R9")
	g.f("MOVQ nsb+32(FP), CX")
	g.f("VXORPS Y3, Y3, Y3")
	g.f("VXORPS Y4, Y4, Y4")
	if !vnni {
		g.f("VPCMPEQW Y15, Y15, Y15")
		g.f("VPSRLW $15, Y15, Y15")
	}
	g.f("MOVL $0x0f0f0f0f, AX")
	g.f("VMOVD AX, X14")
	g.f("VPBROADCASTD X14, Y14") // low nibbles
	g.f("MOVL $0x30303030, AX")
	g.f("VMOVD AX, X13")
	g.f("VPBROADCASTD X13, Y13") // bits 4-5
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	for n := 0; n < 2; n++ {
		// Y8 = ql[64n…], Y9 = ql[64n+32…], Y10 = qh[32n…]
		g.f("VMOVDQU %d(SI), Y8", 64*n)
		g.f("VMOVDQU %d(SI), Y9", 64*n+32)
		g.f("VMOVDQU %d(SI), Y10", 128+32*n)
		for part := 0; part < 4; part++ {
			// values 128n+32·part …: low bits from Y8/Y9 (low or high nibble), high bits from Y10
			src := 8 + part%2
			if part < 2 {
				g.f("VPAND Y14, Y%d, Y0", src)
			} else {
				g.f("VPSRLW $4, Y%d, Y0", src)
				g.f("VPAND Y14, Y0, Y0")
			}
			switch part { // bits 2·part…2·part+1 of qh moved to bits 4-5
			case 0:
				g.f("VPSLLW $4, Y10, Y6")
			case 1:
				g.f("VPSLLW $2, Y10, Y6")
			case 2:
				g.f("VMOVDQA Y10, Y6")
			case 3:
				g.f("VPSRLW $2, Y10, Y6")
			}
			g.f("VPAND Y13, Y6, Y6")
			g.f("VPOR Y6, Y0, Y0")
			blk := 4*n + part // x block of 32
			g.f("VMOVDQU %d(DI), Y1", 32*blk)
			g.qdotMul(vnni, true)
			g.f("VCVTDQ2PS Y2, Y2")
			g.f("VMOVSS %d(R9), X7", 4*blk)
			g.f("VMULSS %d(R8), X7, X5", 8*blk)
			g.f("VMULSS %d(R8), X7, X6", 8*blk+4)
			g.f("VBROADCASTSS X5, X5")
			g.f("VBROADCASTSS X6, X6")
			g.f("VINSERTF128 $1, X6, Y5, Y5")
			g.f("VFMADD231PS Y5, Y2, Y%d", 3+part%2)
		}
	}
	g.f("ADDQ $210, SI")
	g.f("ADDQ $64, R8")
	g.f("ADDQ $256, DI")
	g.f("ADDQ $32, R9")
	g.f("DECQ CX")
	g.f("JNZ loop")
	g.label("done")
	g.f("VADDPS Y4, Y3, Y3")
	g.hsum(avx2, 3, 5)
	g.f("VZEROUPPER")
	g.f("MOVSS X3, ret+40(FP)")
	g.f("RET")
}

// qdotNibble32 emits the int8 row dot straight from 18-byte blocks of an f16
// scale and 16 bytes of nibbles (value j in the low nibble of byte j, value
// j+16 in the high one): Q4_0 (q−8) or, with iq4, IQ4_NL (the codebook
// entry of q, looked up with VPSHUFB from the 16 int8 at tab):
//
//	Σ_{b<nb} float32(Σ_{i<32} v_b[i]·x[32b+i])·(f16(d_b)·xd[b])
func (g *gen) qdotNibble32(vnni, iq4 bool) {
	typ, what := "Q4_0", "q−8"
	params := "w *byte, x *int8, xd *float32, nb int"
	if iq4 {
		typ, what = "IQ4_NL", "tab[q]"
		params = "w *byte, x *int8, xd *float32, nb int, tab *int8"
	}
	name := "qdot" + typ + g.qdotSuffix(vnni)
	doc := fmt.Sprintf("// %s returns Σ_{b<nb} float32(Σ_{i<32} v_b[i]·x[32b+i])·(d_b·xd[b]) over nb\n// %s blocks at w (d_b: the block's f16 scale, v_b its values %s); x in −127…127.", name, typ, what)
	g.fn(name, doc, params, "float32")
	g.f("MOVQ w+0(FP), SI")
	g.f("MOVQ x+8(FP), DI")
	g.f("MOVQ xd+16(FP), R9")
	g.f("MOVQ nb+24(FP), CX")
	g.f("VXORPS Y3, Y3, Y3")
	if !vnni {
		g.f("VPCMPEQW Y15, Y15, Y15")
		g.f("VPSRLW $15, Y15, Y15")
	}
	g.f("MOVL $0x0f0f0f0f, AX")
	g.f("VMOVD AX, X14")
	g.f("VPBROADCASTD X14, Y14")
	if iq4 {
		g.f("MOVQ tab+32(FP), AX")
		g.f("VBROADCASTI128 (AX), Y13")
	} else {
		g.f("MOVL $0x08080808, AX")
		g.f("VMOVD AX, X13")
		g.f("VPBROADCASTD X13, Y13")
	}
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	g.f("VMOVDQU 2(SI), X0")
	g.f("VPSRLW $4, X0, X6")
	g.f("VINSERTI128 $1, X6, Y0, Y0")
	g.f("VPAND Y14, Y0, Y0")
	if iq4 {
		g.f("VPSHUFB Y0, Y13, Y0")
	} else {
		g.f("VPSUBB Y13, Y0, Y0")
	}
	g.f("VMOVDQU (DI), Y1")
	g.qdotMul(vnni, false)
	g.f("VCVTDQ2PS Y2, Y2")
	g.f("MOVWLZX (SI), AX")
	g.f("VMOVD AX, X5")
	g.f("VCVTPH2PS X5, X5")
	g.f("VMULSS (R9), X5, X5")
	g.f("VBROADCASTSS X5, Y5")
	g.f("VFMADD231PS Y5, Y2, Y3")
	g.f("ADDQ $18, SI")
	g.f("ADDQ $32, DI")
	g.f("ADDQ $4, R9")
	g.f("DECQ CX")
	g.f("JNZ loop")
	g.label("done")
	g.hsum(avx2, 3, 5)
	g.f("VZEROUPPER")
	if iq4 {
		g.f("MOVSS X3, ret+40(FP)")
	} else {
		g.f("MOVSS X3, ret+32(FP)")
	}
	g.f("RET")
}

// qdotIQ4_XS emits the int8 row dot of IQ4_XS super-blocks (136 bytes: the
// 16-byte nibble runs of the eight 32-value sub-blocks at offset 8, value j
// of a sub-block in the low nibble of its byte j, value j+16 in the high
// one), the codebook (16 int8) at tab and the sub-block scales already
// decoded into ws (d·(ls−32), 8 per super-block):
//
//	Σ_{k<8·nsb} float32(Σ_{i<32} tab[q[32k+i]]·x[32k+i])·(ws[k]·xd[k])
func (g *gen) qdotIQ4_XS(vnni bool) {
	name := "qdotIQ4_XS" + g.qdotSuffix(vnni)
	doc := fmt.Sprintf("// %s returns Σ_{k<8·nsb} float32(Σ_{i<32} tab[q[32k+i]]·x[32k+i])·(ws[k]·xd[k]) over\n// the 4-bit indices q of nsb IQ4_XS super-blocks at w; x in −127…127.", name)
	g.fn(name, doc, "w *byte, ws *float32, x *int8, xd *float32, nsb int, tab *int8", "float32")
	g.f("MOVQ w+0(FP), SI")
	g.f("MOVQ ws+8(FP), R8")
	g.f("MOVQ x+16(FP), DI")
	g.f("MOVQ xd+24(FP), R9")
	g.f("MOVQ nsb+32(FP), CX")
	g.f("MOVQ tab+40(FP), AX")
	g.f("VBROADCASTI128 (AX), Y13")
	g.f("VXORPS Y3, Y3, Y3")
	g.f("VXORPS Y4, Y4, Y4")
	if !vnni {
		g.f("VPCMPEQW Y15, Y15, Y15")
		g.f("VPSRLW $15, Y15, Y15")
	}
	g.f("MOVL $0x0f0f0f0f, AX")
	g.f("VMOVD AX, X14")
	g.f("VPBROADCASTD X14, Y14")
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	for k := 0; k < 8; k++ {
		g.f("VMOVDQU %d(SI), X0", 8+16*k)
		g.f("VPSRLW $4, X0, X6")
		g.f("VINSERTI128 $1, X6, Y0, Y0")
		g.f("VPAND Y14, Y0, Y0")
		g.f("VPSHUFB Y0, Y13, Y0")
		g.f("VMOVDQU %d(DI), Y1", 32*k)
		g.qdotMul(vnni, false)
		g.f("VCVTDQ2PS Y2, Y2")
		g.f("VMOVSS %d(R8), X5", 4*k)
		g.f("VMULSS %d(R9), X5, X5", 4*k)
		g.f("VBROADCASTSS X5, Y5")
		g.f("VFMADD231PS Y5, Y2, Y%d", 3+k%2)
	}
	g.f("ADDQ $136, SI")
	g.f("ADDQ $32, R8")
	g.f("ADDQ $256, DI")
	g.f("ADDQ $32, R9")
	g.f("DECQ CX")
	g.f("JNZ loop")
	g.label("done")
	g.f("VADDPS Y4, Y3, Y3")
	g.hsum(avx2, 3, 5)
	g.f("VZEROUPPER")
	g.f("MOVSS X3, ret+48(FP)")
	g.f("RET")
}
