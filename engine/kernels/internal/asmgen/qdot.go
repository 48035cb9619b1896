package main

import "fmt"

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

// qdotQ4_K emits the int8 row dot of Q4_K super-blocks (144 bytes: f16 d and
// dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles) or, with q5,
// of Q5_K super-blocks (176 bytes: the fifth bits at offset 16, one byte per
// 32-value position with bit k for sub-block k, the nibbles at offset 48):
//
//	Σ_{k<8·nsb} float32(Σ_{i<32} q[32k+i]·x[32k+i])·((d·sc_k)·xd[k]) − (dmin·m_k)·(sd[2k]+sd[2k+1])
//
// Sub-block 2j of a super-block is the low nibbles of its bytes 32j…32j+31,
// 2j+1 the high ones. The eight scales and mins are unpacked from their 12
// bytes in general registers (sc_k = b[k]&63, m_k = b[k+4]&63 for k < 4;
// sc_k = b[k+4]&15 | b[k−4]>>6<<4, m_k = b[k+4]>>4 | b[k]>>6<<4 above),
// four at a time. The eight integer sums of a super-block are reduced
// together (VPHADDD) and scaled with one vector multiply-add; the mins' term
// takes the pairwise sums of sd (VHADDPS).
func (g *gen) qdotQ4_K(vnni, q5 bool) {
	typ, stride, qsOff := "Q4_K", 144, 16
	if q5 {
		typ, stride, qsOff = "Q5_K", 176, 48
	}
	name := "qdot" + typ + g.qdotSuffix(vnni)
	doc := fmt.Sprintf("// %s returns Σ_{k<8·nsb} float32(Σ_{i<32} q[32k+i]·x[32k+i])·((d·sc_k)·xd[k]) −\n// (dmin·m_k)·(sd[2k]+sd[2k+1]) over the unsigned values q, scales sc and mins m of nsb\n// %s super-blocks at w; x in −127…127.", name, typ)
	g.fn(name, doc, "w *byte, x *int8, xd *float32, sd *float32, nsb int", "float32")
	g.f("MOVQ w+0(FP), SI")
	g.f("MOVQ x+8(FP), DI")
	g.f("MOVQ xd+16(FP), R9")
	g.f("MOVQ sd+24(FP), R10")
	g.f("MOVQ nsb+32(FP), CX")
	g.f("VXORPS Y12, Y12, Y12")
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
	// Y0…Y7: the eight int32 partial sums of sub-block k.
	for k := 0; k < 8; k++ {
		j, h := k/2, k%2
		if h == 0 {
			g.f("VPAND %d(SI), Y14, Y8", qsOff+32*j)
		} else {
			g.f("VMOVDQU %d(SI), Y8", qsOff+32*j)
			g.f("VPSRLW $4, Y8, Y8")
			g.f("VPAND Y14, Y8, Y8")
		}
		if q5 { // bit k of the qh bytes to bit 4
			switch {
			case k < 4:
				g.f("VPSLLW $%d, Y10, Y11", 4-k)
			case k == 4:
				g.f("VMOVDQA Y10, Y11")
			default:
				g.f("VPSRLW $%d, Y10, Y11", k-4)
			}
			g.f("VPAND Y13, Y11, Y11")
			g.f("VPOR Y11, Y8, Y8")
		}
		g.f("VMOVDQU %d(DI), Y9", 32*k)
		if vnni {
			g.f("VPXOR Y%d, Y%d, Y%d", k, k, k)
			g.f("VPDPBUSD Y9, Y8, Y%d", k)
		} else {
			g.f("VPMADDUBSW Y9, Y8, Y9")
			g.f("VPMADDWD Y15, Y9, Y%d", k)
		}
	}
	g.hsum8i()
	// Y1 = float32 sums of the 8 sub-blocks. Scales and mins:
	g.f("MOVL 4(SI), AX")  // b[0:4]
	g.f("MOVL 8(SI), BX")  // b[4:8]
	g.f("MOVL 12(SI), DX") // b[8:12]
	g.f("MOVL AX, R11")
	g.f("ANDL $0x3f3f3f3f, R11") // sc 0-3
	g.f("MOVL DX, R12")
	g.f("ANDL $0x0f0f0f0f, R12")
	g.f("SHRL $6, AX")
	g.f("ANDL $0x03030303, AX")
	g.f("SHLL $4, AX")
	g.f("ORL AX, R12") // sc 4-7
	g.f("MOVL BX, R8")
	g.f("ANDL $0x3f3f3f3f, R8") // m 0-3
	g.f("SHRL $4, DX")
	g.f("ANDL $0x0f0f0f0f, DX")
	g.f("SHRL $6, BX")
	g.f("ANDL $0x03030303, BX")
	g.f("SHLL $4, BX")
	g.f("ORL BX, DX") // m 4-7
	g.f("VMOVD R11, X2")
	g.f("VPINSRD $1, R12, X2, X2")
	g.f("VPMOVZXBD X2, Y2")
	g.f("VCVTDQ2PS Y2, Y2")
	g.f("VMOVD R8, X3")
	g.f("VPINSRD $1, DX, X3, X3")
	g.f("VPMOVZXBD X3, Y3")
	g.f("VCVTDQ2PS Y3, Y3")
	g.f("MOVWLZX (SI), AX")
	g.f("VMOVD AX, X4")
	g.f("VCVTPH2PS X4, X4")
	g.f("VBROADCASTSS X4, Y4")
	g.f("MOVWLZX 2(SI), AX")
	g.f("VMOVD AX, X5")
	g.f("VCVTPH2PS X5, X5")
	g.f("VBROADCASTSS X5, Y5")
	g.f("VMULPS Y4, Y2, Y2")   // d·sc
	g.f("VMULPS (R9), Y2, Y2") // ·xd
	g.f("VFMADD231PS Y2, Y1, Y12")
	g.f("VMULPS Y5, Y3, Y3") // dmin·m
	g.f("VMOVUPS (R10), Y6")
	g.f("VHADDPS 32(R10), Y6, Y6") // sub-blocks 0 1 4 5 | 2 3 6 7
	g.f("VPERMQ $0xd8, Y6, Y6")
	g.f("VFNMADD231PS Y6, Y3, Y12")
	g.f("ADDQ $%d, SI", stride)
	g.f("ADDQ $256, DI")
	g.f("ADDQ $32, R9")
	g.f("ADDQ $64, R10")
	g.f("DECQ CX")
	g.f("JNZ loop")
	g.label("done")
	g.hsum(avx2, 12, 5)
	g.f("VZEROUPPER")
	g.f("MOVSS X12, ret+40(FP)")
	g.f("RET")
}

// hsum8i reduces the eight int32 vectors Y0…Y7 to Y1 = the float32 totals
// of each, in order (Y0…Y7 are clobbered).
func (g *gen) hsum8i() {
	g.f("VPHADDD Y1, Y0, Y0")
	g.f("VPHADDD Y3, Y2, Y2")
	g.f("VPHADDD Y5, Y4, Y4")
	g.f("VPHADDD Y7, Y6, Y6")
	g.f("VPHADDD Y2, Y0, Y0") // 0 1 2 3 (low halves) | 0 1 2 3 (high halves)
	g.f("VPHADDD Y6, Y4, Y4") // 4 5 6 7 | 4 5 6 7
	g.f("VPERM2I128 $0x20, Y4, Y0, Y1")
	g.f("VPERM2I128 $0x31, Y4, Y0, Y2")
	g.f("VPADDD Y2, Y1, Y1")
	g.f("VCVTDQ2PS Y1, Y1")
}

// qdotQ6_K emits the int8 row dot of the 6-bit values (0…63, stored
// offset by 32) of Q6_K super-blocks (210 bytes: ql[128], qh[64], 16 int8
// scales, f16 d):
//
//	Σ_{b<8·nsb} float32(Σ_{i<32} sc_{2b+i/16}·u[32b+i]·x[32b+i])·(d·xd[b]) − 32·d·Σ_g sc_g·sd[g]
//
// u = q+32 unsigned. The byte products are summed in pairs (VPMADDUBSW, at
// most 2·63·127) and then in fours with the 16-value groups' scales as the
// 16-bit factors (VPMADDWD), so the scales cost nothing; the scales are
// arranged once per super-block with the even groups' in the low lane and
// the odd groups' in the high one, and block b's pair is picked out with
// VPSHUFB. The same code serves the VNNI path.
func (g *gen) qdotQ6_K() {
	name := "qdotQ6_KAvx2"
	doc := fmt.Sprintf("// %s returns Σ_{b<8·nsb} float32(Σ_{i<32} sc_{2b+i/16}·u[32b+i]·x[32b+i])·(d·xd[b])\n// − 32·d·Σ_g sc_g·sd[g] over the unsigned 6-bit values u (q+32), int8 scales sc and\n// f16 d of nsb Q6_K super-blocks at w; x in −127…127.", name)
	g.fn(name, doc, "w *byte, x *int8, xd *float32, sd *float32, nsb int", "float32")
	g.f("MOVQ w+0(FP), SI")
	g.f("MOVQ x+8(FP), DI")
	g.f("MOVQ xd+16(FP), R9")
	g.f("MOVQ sd+24(FP), R10")
	g.f("MOVQ nsb+32(FP), CX")
	g.f("VXORPS Y7, Y7, Y7") // the sum
	g.f("MOVL $0x0f0f0f0f, AX")
	g.f("VMOVD AX, X14")
	g.f("VPBROADCASTD X14, Y14") // low nibbles
	g.f("MOVL $0x30303030, AX")
	g.f("VMOVD AX, X13")
	g.f("VPBROADCASTD X13, Y13") // bits 4-5
	g.f("MOVQ $0x0e0c0a0806040200, AX")
	g.f("VMOVQ AX, X10")
	g.f("MOVQ $0x0f0d0b0907050301, AX")
	g.f("VPINSRQ $1, AX, X10, X10") // even bytes, then odd ones
	g.f("MOVL $0x01000100, AX")
	g.f("VMOVD AX, X8")
	g.f("VPBROADCASTD X8, Y8") // VPSHUFB control: word 0 of each lane
	g.f("MOVL $0x02020202, AX")
	g.f("VMOVD AX, X15")
	g.f("VPBROADCASTD X15, Y15") // control step to the next word
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	g.f("VMOVDQU 192(SI), X12")
	g.f("VPSHUFB X10, X12, X12")
	g.f("VPMOVSXBW X12, Y12") // words: sc0 sc2 … sc14 | sc1 sc3 … sc15
	g.f("VMOVDQA Y8, Y11")
	g.f("MOVWLZX 208(SI), AX")
	g.f("VMOVD AX, X9")
	g.f("VCVTPH2PS X9, X9")
	g.f("VBROADCASTSS X9, Y9") // d
	for n := 0; n < 2; n++ {
		for part := 0; part < 4; part++ {
			// values 128n+32·part …: low bits from ql (low or high
			// nibble), bits 4-5 from qh
			src := 64*n + 32*(part%2)
			if part < 2 {
				g.f("VPAND %d(SI), Y14, Y4", src)
			} else {
				g.f("VMOVDQU %d(SI), Y4", src)
				g.f("VPSRLW $4, Y4, Y4")
				g.f("VPAND Y14, Y4, Y4")
			}
			g.f("VMOVDQU %d(SI), Y5", 128+32*n)
			switch part { // bits 2·part…2·part+1 of qh to bits 4-5
			case 0:
				g.f("VPSLLW $4, Y5, Y5")
			case 1:
				g.f("VPSLLW $2, Y5, Y5")
			case 3:
				g.f("VPSRLW $2, Y5, Y5")
			}
			g.f("VPAND Y13, Y5, Y5")
			g.f("VPOR Y5, Y4, Y4")
			g.f("VMOVDQU %d(DI), Y5", 32*(4*n+part))
			g.f("VPMADDUBSW Y5, Y4, Y4")
			g.f("VPSHUFB Y11, Y12, Y6") // sc_{2b} | sc_{2b+1}
			g.f("VPADDW Y15, Y11, Y11")
			g.f("VPMADDWD Y6, Y4, Y%d", part)
		}
		// the four blocks' sums, scaled by d·xd
		g.f("VPHADDD Y1, Y0, Y0")
		g.f("VPHADDD Y3, Y2, Y2")
		g.f("VPHADDD Y2, Y0, Y0")
		g.f("VEXTRACTI128 $1, Y0, X1")
		g.f("VPADDD X1, X0, X0")
		g.f("VCVTDQ2PS X0, X0")
		g.f("VMULPS %d(R9), X9, X4", 16*n)
		g.f("VFMADD231PS Y4, Y0, Y7") // upper halves zero
	}
	// the offset: 32·d·Σ_g sc_g·sd[g]
	g.f("VPMOVSXBD 192(SI), Y4")
	g.f("VPMOVSXBD 200(SI), Y5")
	g.f("VCVTDQ2PS Y4, Y4")
	g.f("VCVTDQ2PS Y5, Y5")
	g.f("VMULPS (R10), Y4, Y4")
	g.f("VFMADD231PS 32(R10), Y5, Y4")
	g.f("MOVL $0x42000000, AX") // 32.0
	g.f("VMOVD AX, X5")
	g.f("VBROADCASTSS X5, Y5")
	g.f("VMULPS Y9, Y5, Y5")
	g.f("VFNMADD231PS Y5, Y4, Y7")
	g.f("ADDQ $210, SI")
	g.f("ADDQ $256, DI")
	g.f("ADDQ $32, R9")
	g.f("ADDQ $64, R10")
	g.f("DECQ CX")
	g.f("JNZ loop")
	g.label("done")
	g.hsum(avx2, 7, 5)
	g.f("VZEROUPPER")
	g.f("MOVSS X7, ret+40(FP)")
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

// qdotMin32 emits the int8 row dot straight from the 32-value blocks with a
// min: Q4_1 (20 bytes: f16 d and m, 16 bytes of nibbles, value j in the low
// nibble of byte j, value j+16 in the high one) or, with q5, Q5_1 (24 bytes:
// d, m, the 32 fifth bits as a little-endian uint32, the nibbles), whose
// values are d·q + m:
//
//	Σ_{b<nb} float32(Σ_{i<32} q_b[i]·x[32b+i])·(d_b·xd[b]) + m_b·(sd[2b]+sd[2b+1])
func (g *gen) qdotMin32(vnni, q5 bool) {
	typ, stride, qsOff := "Q4_1", 20, 4
	if q5 {
		typ, stride, qsOff = "Q5_1", 24, 8
	}
	name := "qdot" + typ + g.qdotSuffix(vnni)
	doc := fmt.Sprintf("// %s returns Σ_{b<nb} float32(Σ_{i<32} q_b[i]·x[32b+i])·(d_b·xd[b]) + m_b·(sd[2b]+sd[2b+1])\n// over nb %s blocks at w (d_b, m_b: the block's f16 scale and min, q_b its unsigned values);\n// x in −127…127.", name, typ)
	g.fn(name, doc, "w *byte, x *int8, xd *float32, sd *float32, nb int", "float32")
	g.f("MOVQ w+0(FP), SI")
	g.f("MOVQ x+8(FP), DI")
	g.f("MOVQ xd+16(FP), R9")
	g.f("MOVQ sd+24(FP), R10")
	g.f("MOVQ nb+32(FP), CX")
	g.f("VXORPS Y3, Y3, Y3")
	g.f("VXORPS X4, X4, X4") // the mins' sum (scalar)
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
		g.bitSpread(12, 11)
	}
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	g.f("VMOVDQU %d(SI), X0", qsOff)
	g.f("VPSRLW $4, X0, X6")
	g.f("VINSERTI128 $1, X6, Y0, Y0")
	g.f("VPAND Y14, Y0, Y0")
	if q5 {
		g.f("VPBROADCASTD 4(SI), Y6")
		g.f("VPSHUFB Y12, Y6, Y6")
		g.f("VPAND Y11, Y6, Y6")
		g.f("VPCMPEQB Y11, Y6, Y6") // 0xff where the bit is set
		g.f("VPAND Y13, Y6, Y6")
		g.f("VPOR Y6, Y0, Y0")
	}
	g.f("VMOVDQU (DI), Y1")
	g.qdotMul(vnni, true)
	g.f("VCVTDQ2PS Y2, Y2")
	g.f("MOVWLZX (SI), AX")
	g.f("VMOVD AX, X5")
	g.f("VCVTPH2PS X5, X5")
	g.f("VMULSS (R9), X5, X5")
	g.f("VBROADCASTSS X5, Y5")
	g.f("VFMADD231PS Y5, Y2, Y3")
	g.f("MOVWLZX 2(SI), AX")
	g.f("VMOVD AX, X5")
	g.f("VCVTPH2PS X5, X5")
	g.f("VMOVSS (R10), X6")
	g.f("VADDSS 4(R10), X6, X6")
	g.f("VFMADD231SS X6, X5, X4")
	g.f("ADDQ $%d, SI", stride)
	g.f("ADDQ $32, DI")
	g.f("ADDQ $4, R9")
	g.f("ADDQ $8, R10")
	g.f("DECQ CX")
	g.f("JNZ loop")
	g.label("done")
	g.hsum(avx2, 3, 5)
	g.f("VADDSS X4, X3, X3")
	g.f("VZEROUPPER")
	g.f("MOVSS X3, ret+40(FP)")
	g.f("RET")
}

// bitSpread loads into Y<ctl> the VPSHUFB control that copies byte i/8 of a
// broadcast uint32 to byte i, and into Y<bits> the byte mask 1<<(i%8): with
// them, 32 bits become 32 bytes (VPSHUFB, VPAND, VPCMPEQB).
func (g *gen) bitSpread(ctl, bits int) {
	g.f("VPXOR X%d, X%d, X%d", ctl, ctl, ctl)
	g.f("MOVQ $0x0101010101010101, AX")
	g.f("VPINSRQ $1, AX, X%d, X%d", ctl, ctl)
	g.f("MOVQ $0x0202020202020202, AX")
	g.f("VMOVQ AX, X%d", bits)
	g.f("MOVQ $0x0303030303030303, AX")
	g.f("VPINSRQ $1, AX, X%d, X%d", bits, bits)
	g.f("VINSERTI128 $1, X%d, Y%d, Y%d", bits, ctl, ctl)
	g.f("MOVQ $0x8040201008040201, AX")
	g.f("VMOVQ AX, X%d", bits)
	g.f("VPBROADCASTQ X%d, Y%d", bits, bits)
}

// qdotBlocks32 emits the int8 row dot straight from the 32-value blocks of
// an f16 scale d and 32 signed values v: Q8_0 (34 bytes: d, 32 int8), Q4_0
// (18 bytes: d, 16 bytes of nibbles, value j in the low nibble of byte j and
// value j+16 in the high one; v = q−8), IQ4_NL (the same layout; v the
// codebook entry of q, looked up with VPSHUFB from the 16 int8 at tab) or
// Q5_0 (22 bytes: d, the 32 fifth bits as a little-endian uint32, the
// nibbles; v = (q | bit<<4) − 16 = q − 16·(1−bit), the bits spread to one
// byte each by bitSpread's masks, or, on the VNNI path (which has
// AVX-512BW), taken as a byte mask in K1):
//
//	Σ_{b<nb} float32(Σ_{i<32} v_b[i]·x[32b+i])·(f16(d_b)·xd[b])
//
// Four blocks at a time: their integer sums are reduced together (VPHADDD),
// their four scales converted with one VCVTPH2PS and applied with one
// multiply-add; the last nb%4 blocks one at a time.
func (g *gen) qdotBlocks32(vnni bool, typ string) {
	stride := map[string]int{"Q8_0": 34, "Q4_0": 18, "IQ4_NL": 18, "Q5_0": 22}[typ]
	what := map[string]string{"Q8_0": "its int8 values", "Q4_0": "its values q−8", "IQ4_NL": "its values tab[q]", "Q5_0": "its values (q|h<<4)−16"}[typ]
	params, ret := "w *byte, x *int8, xd *float32, nb int", 32
	if typ == "IQ4_NL" {
		params, ret = "w *byte, x *int8, xd *float32, nb int, tab *int8", 40
	}
	name := "qdot" + typ + g.qdotSuffix(vnni)
	doc := fmt.Sprintf("// %s returns Σ_{b<nb} float32(Σ_{i<32} v_b[i]·x[32b+i])·(d_b·xd[b]) over nb\n// %s blocks at w (d_b: the block's f16 scale, v_b %s); x in −127…127.", name, typ, what)
	g.fn(name, doc, params, "float32")
	g.f("MOVQ w+0(FP), SI")
	g.f("MOVQ x+8(FP), DI")
	g.f("MOVQ xd+16(FP), R9")
	g.f("MOVQ nb+24(FP), CX")
	g.f("VXORPS X7, X7, X7") // four partial sums
	if !vnni {
		g.f("VPCMPEQW Y15, Y15, Y15")
		g.f("VPSRLW $15, Y15, Y15")
	}
	if typ != "Q8_0" {
		g.f("MOVL $0x0f0f0f0f, AX")
		g.f("VMOVD AX, X14")
		g.f("VPBROADCASTD X14, Y14")
	}
	switch typ {
	case "Q4_0":
		g.f("MOVL $0x08080808, AX")
		g.f("VMOVD AX, X13")
		g.f("VPBROADCASTD X13, Y13")
	case "IQ4_NL":
		g.f("MOVQ tab+32(FP), AX")
		g.f("VBROADCASTI128 (AX), Y13")
	case "Q5_0":
		g.f("MOVL $0x10101010, AX")
		g.f("VMOVD AX, X13")
		g.f("VPBROADCASTD X13, Y13")
		if !vnni {
			g.bitSpread(12, 11)
		}
	}
	// block emits the int32 partial sums of the block at off(SI) and
	// x at xoff(DI) into Y<acc>.
	block := func(off, xoff, acc int) {
		switch typ {
		case "Q8_0":
			g.f("VMOVDQU %d(SI), Y4", off+2)
		default:
			qs := off + 2
			if typ == "Q5_0" {
				qs = off + 6
			}
			g.f("VMOVDQU %d(SI), X4", qs)
			g.f("VPSRLW $4, X4, X6")
			g.f("VINSERTI128 $1, X6, Y4, Y4")
			g.f("VPAND Y14, Y4, Y4")
			switch typ {
			case "Q4_0":
				g.f("VPSUBB Y13, Y4, Y4")
			case "IQ4_NL":
				g.f("VPSHUFB Y4, Y13, Y4")
			case "Q5_0":
				if vnni { // AVX-512BW: the 32 bits as a byte mask
					g.f("MOVL %d(SI), AX", off+2)
					g.f("KMOVD AX, K1")
					g.f("VPSUBB Y13, Y4, Y4")
					g.f("VPADDB Y13, Y4, K1, Y4") // 16 back where the bit is set
					break
				}
				g.f("VPBROADCASTD %d(SI), Y6", off+2)
				g.f("VPSHUFB Y12, Y6, Y6")
				g.f("VPAND Y11, Y6, Y6")
				g.f("VPCMPEQB Y11, Y6, Y6") // 0xff where the bit is set
				g.f("VPANDN Y13, Y6, Y6")   // 16 where it is not
				g.f("VPSUBB Y6, Y4, Y4")
			}
		}
		g.f("VMOVDQU %d(DI), Y5", xoff)
		g.f("VPSIGNB Y4, Y5, Y5")
		g.f("VPABSB Y4, Y4")
		if vnni {
			g.f("VPXOR Y%d, Y%d, Y%d", acc, acc, acc)
			g.f("VPDPBUSD Y5, Y4, Y%d", acc)
		} else {
			g.f("VPMADDUBSW Y5, Y4, Y5")
			g.f("VPMADDWD Y15, Y5, Y%d", acc)
		}
	}
	g.f("CMPQ CX, $4")
	g.f("JL one")
	g.label("four")
	for i := 0; i < 4; i++ {
		block(stride*i, 32*i, i)
	}
	g.f("VPHADDD Y1, Y0, Y0")
	g.f("VPHADDD Y3, Y2, Y2")
	g.f("VPHADDD Y2, Y0, Y0")
	g.f("VEXTRACTI128 $1, Y0, X1")
	g.f("VPADDD X1, X0, X0")
	g.f("VCVTDQ2PS X0, X0")
	g.f("MOVWLZX (SI), AX")
	g.f("VMOVD AX, X1")
	for i := 1; i < 4; i++ {
		g.f("VPINSRW $%d, %d(SI), X1, X1", i, stride*i)
	}
	g.f("VCVTPH2PS X1, X1")
	g.f("VMULPS (R9), X1, X1")
	g.f("VFMADD231PS X1, X0, X7")
	g.f("ADDQ $%d, SI", 4*stride)
	g.f("ADDQ $128, DI")
	g.f("ADDQ $16, R9")
	g.f("SUBQ $4, CX")
	g.f("CMPQ CX, $4")
	g.f("JGE four")
	g.label("one")
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	block(0, 0, 0)
	g.f("VEXTRACTI128 $1, Y0, X1")
	g.f("VPADDD X1, X0, X0")
	g.f("VPHADDD X0, X0, X0")
	g.f("VPHADDD X0, X0, X0")
	g.f("VCVTDQ2PS X0, X0")
	g.f("MOVWLZX (SI), AX")
	g.f("VMOVD AX, X1")
	g.f("VCVTPH2PS X1, X1")
	g.f("VMULSS (R9), X1, X1")
	g.f("VFMADD231SS X1, X0, X7")
	g.f("ADDQ $%d, SI", stride)
	g.f("ADDQ $32, DI")
	g.f("ADDQ $4, R9")
	g.f("DECQ CX")
	g.f("JMP one")
	g.label("done")
	g.f("VHADDPS X7, X7, X7")
	g.f("VHADDPS X7, X7, X7")
	g.f("VZEROUPPER")
	g.f("MOVSS X7, ret+%d(FP)", ret)
	g.f("RET")
}

// qdotK23 emits the int8 row dot of Q2_K super-blocks (84 bytes: 16 bytes
// of a 4-bit scale and a 4-bit min per 16-value group, 64 bytes of 2-bit
// values, f16 d and dmin) or, with q3, of Q3_K super-blocks (110 bytes: the
// 32-byte mask of third bits, 64 bytes of 2-bit values, 12 bytes of 6-bit
// scales offset by 32, f16 d). Value 128n+32j+i (i < 32) is bits 2j…2j+1 of
// byte 32n+i of the 2-bit values, with, for Q3_K, bit 4n+j of mask byte i
// as its third bit (u = q | h<<2, the value u−4); its 16-value group is
// 8n+2j+i/16. For Q2_K:
//
//	Σ_{b<8·nsb} float32(Σ_{i<32} sc_{2b+i/16}·q[32b+i]·x[32b+i])·(d·xd[b]) − dmin·Σ_g m_g·sd[g]
//
// and for Q3_K the same with u and the signed scales, less 4·d·Σ_g sc_g·sd[g]
// instead of the mins' term. The scales are the 16-bit factors of VPMADDWD,
// picked per block as in qdotQ6_K.
func (g *gen) qdotK23(q3 bool) {
	typ, stride, qsOff, dOff := "Q2_K", 84, 16, 80
	if q3 {
		typ, stride, qsOff, dOff = "Q3_K", 110, 32, 108
	}
	name := "qdot" + typ + "Avx2"
	var doc string
	if q3 {
		doc = fmt.Sprintf("// %s returns Σ_{b<8·nsb} float32(Σ_{i<32} sc_{2b+i/16}·u[32b+i]·x[32b+i])·(d·xd[b])\n// − 4·d·Σ_g sc_g·sd[g] over the unsigned 3-bit values u (q+4), scales sc and f16 d of nsb\n// Q3_K super-blocks at w; x in −127…127.", name)
	} else {
		doc = fmt.Sprintf("// %s returns Σ_{b<8·nsb} float32(Σ_{i<32} sc_{2b+i/16}·q[32b+i]·x[32b+i])·(d·xd[b])\n// − dmin·Σ_g m_g·sd[g] over the 2-bit values q, scales sc, mins m and f16 d and dmin of nsb\n// Q2_K super-blocks at w; x in −127…127.", name)
	}
	g.fn(name, doc, "w *byte, x *int8, xd *float32, sd *float32, nsb int", "float32")
	g.f("MOVQ w+0(FP), SI")
	g.f("MOVQ x+8(FP), DI")
	g.f("MOVQ xd+16(FP), R9")
	g.f("MOVQ sd+24(FP), R10")
	g.f("MOVQ nsb+32(FP), CX")
	g.f("VXORPS Y7, Y7, Y7") // the sum
	g.f("MOVL $0x03030303, AX")
	g.f("VMOVD AX, X14")
	g.f("VPBROADCASTD X14, Y14") // 2-bit values
	if q3 {
		g.f("MOVL $0x04040404, AX") // third bits
	} else {
		g.f("MOVL $0x0f0f0f0f, AX") // scales and mins
	}
	g.f("VMOVD AX, X13")
	g.f("VPBROADCASTD X13, Y13")
	g.f("MOVQ $0x0e0c0a0806040200, AX")
	g.f("VMOVQ AX, X10")
	g.f("MOVQ $0x0f0d0b0907050301, AX")
	g.f("VPINSRQ $1, AX, X10, X10") // even bytes, then odd ones
	g.f("MOVL $0x01000100, AX")
	g.f("VMOVD AX, X8")
	g.f("VPBROADCASTD X8, Y8") // VPSHUFB control: word 0 of each lane
	g.f("MOVL $0x02020202, AX")
	g.f("VMOVD AX, X15")
	g.f("VPBROADCASTD X15, Y15") // control step to the next word
	g.f("TESTQ CX, CX")
	g.f("JZ done")
	g.label("loop")
	g.f("MOVWLZX %d(SI), AX", dOff)
	g.f("VMOVD AX, X9")
	g.f("VCVTPH2PS X9, X9")
	g.f("VBROADCASTSS X9, Y9") // d
	// X1: the 16 scales in group order (Q3_K: signed); Y5, Y6: the
	// float32 factors of sd[0:8], sd[8:16] in the second term.
	if q3 {
		g.f("MOVL $0x0f0f0f0f, AX")
		g.f("VMOVD AX, X2")
		g.f("VPBROADCASTD X2, X2")
		g.f("VMOVQ 96(SI), X1")
		g.f("VPSRLW $4, X1, X0")
		g.f("VPUNPCKLQDQ X0, X1, X1")
		g.f("VPAND X2, X1, X1") // low 4 bits
		g.f("MOVL 104(SI), AX")
		g.f("VMOVD AX, X0")
		g.f("MOVL AX, BX")
		g.f("SHRL $2, BX")
		g.f("VPINSRD $1, BX, X0, X0")
		g.f("MOVL AX, BX")
		g.f("SHRL $4, BX")
		g.f("VPINSRD $2, BX, X0, X0")
		g.f("SHRL $6, AX")
		g.f("VPINSRD $3, AX, X0, X0")
		g.f("VPAND X14, X0, X0")
		g.f("VPSLLW $4, X0, X0") // high 2 bits
		g.f("VPOR X0, X1, X1")
		g.f("MOVL $0x20202020, AX")
		g.f("VMOVD AX, X2")
		g.f("VPBROADCASTD X2, X2")
		g.f("VPSUBB X2, X1, X1")
		g.f("VPMOVSXBD X1, Y5")
		g.f("VPSRLDQ $8, X1, X6")
		g.f("VPMOVSXBD X6, Y6")
	} else {
		g.f("VMOVDQU (SI), X0")
		g.f("VPAND X13, X0, X1")
		g.f("VPSRLW $4, X0, X0")
		g.f("VPAND X13, X0, X0") // mins
		g.f("VPMOVZXBD X0, Y5")
		g.f("VPSRLDQ $8, X0, X6")
		g.f("VPMOVZXBD X6, Y6")
	}
	g.f("VPSHUFB X10, X1, X12")
	if q3 {
		g.f("VPMOVSXBW X12, Y12") // words: sc0 sc2 … sc14 | sc1 sc3 … sc15
	} else {
		g.f("VPMOVZXBW X12, Y12")
	}
	// the second term: −(4·d | dmin)·Σ_g f_g·sd[g]
	g.f("VCVTDQ2PS Y5, Y5")
	g.f("VCVTDQ2PS Y6, Y6")
	g.f("VMULPS (R10), Y5, Y5")
	g.f("VFMADD231PS 32(R10), Y6, Y5")
	if q3 {
		g.f("MOVL $0x40800000, AX") // 4.0
		g.f("VMOVD AX, X6")
		g.f("VBROADCASTSS X6, Y6")
		g.f("VMULPS Y9, Y6, Y6")
	} else {
		g.f("MOVWLZX 82(SI), AX")
		g.f("VMOVD AX, X6")
		g.f("VCVTPH2PS X6, X6")
		g.f("VBROADCASTSS X6, Y6")
	}
	g.f("VFNMADD231PS Y6, Y5, Y7")
	g.f("VMOVDQA Y8, Y11")
	for n := 0; n < 2; n++ {
		for j := 0; j < 4; j++ {
			g.f("VMOVDQU %d(SI), Y4", qsOff+32*n)
			if j > 0 {
				g.f("VPSRLW $%d, Y4, Y4", 2*j)
			}
			g.f("VPAND Y14, Y4, Y4")
			if q3 { // bit 4n+j of the mask bytes to bit 2
				g.f("VMOVDQU (SI), Y5")
				switch k := 4*n + j; {
				case k < 2:
					g.f("VPSLLW $%d, Y5, Y5", 2-k)
				case k > 2:
					g.f("VPSRLW $%d, Y5, Y5", k-2)
				}
				g.f("VPAND Y13, Y5, Y5")
				g.f("VPOR Y5, Y4, Y4")
			}
			g.f("VMOVDQU %d(DI), Y5", 32*(4*n+j))
			g.f("VPMADDUBSW Y5, Y4, Y4")
			g.f("VPSHUFB Y11, Y12, Y6") // sc_{2b} | sc_{2b+1}
			g.f("VPADDW Y15, Y11, Y11")
			g.f("VPMADDWD Y6, Y4, Y%d", j)
		}
		g.f("VPHADDD Y1, Y0, Y0")
		g.f("VPHADDD Y3, Y2, Y2")
		g.f("VPHADDD Y2, Y0, Y0")
		g.f("VEXTRACTI128 $1, Y0, X1")
		g.f("VPADDD X1, X0, X0")
		g.f("VCVTDQ2PS X0, X0")
		g.f("VMULPS %d(R9), X9, X4", 16*n)
		g.f("VFMADD231PS Y4, Y0, Y7") // upper halves zero
	}
	g.f("ADDQ $%d, SI", stride)
	g.f("ADDQ $256, DI")
	g.f("ADDQ $32, R9")
	g.f("ADDQ $64, R10")
	g.f("DECQ CX")
	g.f("JNZ loop")
	g.label("done")
	g.hsum(avx2, 7, 5)
	g.f("VZEROUPPER")
	g.f("MOVSS X7, ret+40(FP)")
	g.f("RET")
}
