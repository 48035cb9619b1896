package tensor

import (
	"encoding/binary"
	"fmt"
)

// Block-quantised dtypes beyond Q8_0: llama.cpp's legacy quants (blocks of
// 32), its k-quants (super-blocks of 256) and the non-linear IQ4 types.
// Their bytes are ggml's block layouts, unchanged.
const (
	Q4_0 DType = F64 + 1 + iota
	Q4_1
	Q5_0
	Q5_1
	Q2_K
	Q3_K
	Q4_K
	Q5_K
	Q6_K
	IQ4_NL
	IQ4_XS
	endDTypes // one past the last dtype
)

// quantInfo describes one block-quantised dtype: a block of size values is
// stored in bytes bytes, and dequant expands one block.
type quantInfo struct {
	name        string
	size, bytes int
	dequant     func(dst []float32, b []byte)
}

// QKK is the number of values in a k-quant super-block.
const QKK = 256

var quants = map[DType]quantInfo{
	Q8_0:   {"Q8_0", 32, 34, dequantBlockQ8_0},
	Q4_0:   {"Q4_0", 32, 18, dequantBlockQ4_0},
	Q4_1:   {"Q4_1", 32, 20, dequantBlockQ4_1},
	Q5_0:   {"Q5_0", 32, 22, dequantBlockQ5_0},
	Q5_1:   {"Q5_1", 32, 24, dequantBlockQ5_1},
	Q2_K:   {"Q2_K", QKK, 84, dequantBlockQ2_K},
	Q3_K:   {"Q3_K", QKK, 110, dequantBlockQ3_K},
	Q4_K:   {"Q4_K", QKK, 144, dequantBlockQ4_K},
	Q5_K:   {"Q5_K", QKK, 176, dequantBlockQ5_K},
	Q6_K:   {"Q6_K", QKK, 210, dequantBlockQ6_K},
	IQ4_NL: {"IQ4_NL", 32, 18, dequantBlockIQ4_NL},
	IQ4_XS: {"IQ4_XS", QKK, 136, dequantBlockIQ4_XS},
}

// QuantTypes lists the block-quantised dtypes, in the order of this
// package's constants.
var QuantTypes = []DType{Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS}

// IsQuant reports whether d is block-quantised.
func (d DType) IsQuant() bool { _, ok := quants[d]; return ok }

// Block returns the number of values in one block of d and its size in
// bytes; (1, element size) for plain dtypes and (0, 0) for Invalid.
func (d DType) Block() (values, bytes int) {
	if q, ok := quants[d]; ok {
		return q.size, q.bytes
	}
	if b, err := d.Bytes(1); err == nil {
		return 1, b
	}
	return 0, 0
}

// BlockValues returns the number of values in one block of d (1 for plain
// dtypes).
func (d DType) BlockValues() int { v, _ := d.Block(); return max(v, 1) }

// Dequant expands the blocks of dtype d in src into dst (len(dst) values, a
// whole number of blocks; src holds at least those blocks). The values are
// bit-identical to ggml's reference dequantisation (built without FMA).
// It returns an error, never panics, on a dtype that is not quantised, a
// partial block or too few bytes.
func Dequant(d DType, dst []float32, src []byte) error {
	q, ok := quants[d]
	if !ok {
		return fmt.Errorf("dtype %v is not block-quantised", d)
	}
	if len(dst)%q.size != 0 {
		return fmt.Errorf("%d values is not a whole number of %v blocks of %d", len(dst), d, q.size)
	}
	nb := len(dst) / q.size
	if len(src) < nb*q.bytes {
		return fmt.Errorf("%d %v blocks need %d bytes, have %d", nb, d, nb*q.bytes, len(src))
	}
	for i := 0; i < nb; i++ {
		q.dequant(dst[i*q.size:(i+1)*q.size], src[i*q.bytes:(i+1)*q.bytes])
	}
	return nil
}

// DequantBlock expands one block of d from b into dst (unchecked: dst has
// at least a block's values, b a block's bytes, d is quantised). Kernels
// call it in their inner loop.
func DequantBlock(d DType, dst []float32, b []byte) { quants[d].dequant(dst, b) }

// BlockDequantizer returns the one-block expander of d, nil when d is not
// quantised.
func BlockDequantizer(d DType) func(dst []float32, b []byte) { return quants[d].dequant }

func f16at(b []byte, i int) float32 { return F16ToF32(binary.LittleEndian.Uint16(b[i:])) }

// Each dequantBlock function expands one block; the comment gives the block
// layout (ggml's struct, fields in order).

// Q8_0: d f16, qs [32]int8. x = d·q.
func dequantBlockQ8_0(y []float32, b []byte) {
	d := f16at(b, 0)
	q := b[2:34]
	y = y[:32]
	for i := range y {
		y[i] = d * float32(int8(q[i]))
	}
}

// Q4_0: d f16, qs [16]u8 (value j in the low nibble of qs[j], j+16 in the
// high one). x = d·(q−8).
func dequantBlockQ4_0(y []float32, b []byte) {
	d := f16at(b, 0)
	q := b[2:18]
	y = y[:32]
	for j := 0; j < 16; j++ {
		y[j] = float32(int(q[j]&15)-8) * d
		y[j+16] = float32(int(q[j]>>4)-8) * d
	}
}

// Q4_1: d, m f16, qs [16]u8. x = d·q + m.
func dequantBlockQ4_1(y []float32, b []byte) {
	d, m := f16at(b, 0), f16at(b, 2)
	q := b[4:20]
	y = y[:32]
	for j := 0; j < 16; j++ {
		y[j] = float32(float32(q[j]&15)*d) + m
		y[j+16] = float32(float32(q[j]>>4)*d) + m
	}
}

// Q5_0: d f16, qh u32 (fifth bits), qs [16]u8. x = d·(q−16).
func dequantBlockQ5_0(y []float32, b []byte) {
	d := f16at(b, 0)
	qh := binary.LittleEndian.Uint32(b[2:])
	q := b[6:22]
	y = y[:32]
	for j := 0; j < 16; j++ {
		h0 := byte(qh>>j) & 1 << 4
		h1 := byte(qh>>(j+16)) & 1 << 4
		y[j] = float32(int(q[j]&15|h0)-16) * d
		y[j+16] = float32(int(q[j]>>4|h1)-16) * d
	}
}

// Q5_1: d, m f16, qh u32, qs [16]u8. x = d·q + m.
func dequantBlockQ5_1(y []float32, b []byte) {
	d, m := f16at(b, 0), f16at(b, 2)
	qh := binary.LittleEndian.Uint32(b[4:])
	q := b[8:24]
	y = y[:32]
	for j := 0; j < 16; j++ {
		h0 := byte(qh>>j) & 1 << 4
		h1 := byte(qh>>(j+16)) & 1 << 4
		y[j] = float32(float32(q[j]&15|h0)*d) + m
		y[j+16] = float32(float32(q[j]>>4|h1)*d) + m
	}
}

// Q2_K: scales [16]u8 (low nibble scale, high nibble min, per 16 values),
// qs [64]u8 (2 bits each), d, dmin f16. x = (d·sc)·q − dmin·m.
func dequantBlockQ2_K(y []float32, b []byte) {
	sc := b[0:16]
	qs := b[16:80]
	d, dmin := f16at(b, 80), f16at(b, 82)
	y = y[:QKK]
	is := 0
	for n := 0; n < 2; n++ {
		q := qs[32*n : 32*n+32]
		for j := 0; j < 4; j++ {
			shift := 2 * j
			for h := 0; h < 2; h++ {
				s := sc[is]
				is++
				dl := d * float32(s&15)
				ml := dmin * float32(s>>4)
				out := y[128*n+32*j+16*h:]
				for l := 0; l < 16; l++ {
					out[l] = float32(dl*float32(q[16*h+l]>>shift&3)) - ml
				}
			}
		}
	}
}

// unpackQ3KScales expands Q3_K's 12 bytes of 6-bit scales into 16 values
// (still offset by 32).
func unpackQ3KScales(s []byte) (out [16]int8) {
	for i := 0; i < 16; i++ {
		var lo byte
		if i < 8 {
			lo = s[i] & 15
		} else {
			lo = s[i-8] >> 4
		}
		hi := s[8+i%4] >> (2 * (i / 4)) & 3
		out[i] = int8(lo | hi<<4)
	}
	return out
}

// Q3_K: hmask [32]u8 (third bits), qs [64]u8 (low 2 bits), scales [12]u8
// (16 6-bit scales), d f16. x = (d·(sc−32))·q, q in −4..3.
func dequantBlockQ3_K(y []float32, b []byte) {
	hm := b[0:32]
	qs := b[32:96]
	sc := unpackQ3KScales(b[96:108])
	d := f16at(b, 108)
	y = y[:QKK]
	is := 0
	m := byte(1)
	for n := 0; n < 2; n++ {
		q := qs[32*n : 32*n+32]
		for j := 0; j < 4; j++ {
			shift := 2 * j
			for h := 0; h < 2; h++ {
				dl := d * float32(int(sc[is])-32)
				is++
				out := y[128*n+32*j+16*h:]
				for l := 0; l < 16; l++ {
					v := int(q[16*h+l] >> shift & 3)
					if hm[16*h+l]&m == 0 {
						v -= 4
					}
					out[l] = dl * float32(v)
				}
			}
			m <<= 1
		}
	}
}

// scaleMinK4 returns the j-th 6-bit scale and min of Q4_K/Q5_K's 12 bytes.
func scaleMinK4(j int, q []byte) (sc, m byte) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&15 | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// Q4_K: d, dmin f16, scales [12]u8 (8 6-bit scales and mins, per 32
// values), qs [128]u8. x = (d·sc)·q − dmin·m.
func dequantBlockQ4_K(y []float32, b []byte) {
	d, dmin := f16at(b, 0), f16at(b, 2)
	scales := b[4:16]
	qs := b[16:144]
	y = y[:QKK]
	for j := 0; j < 4; j++ {
		s1, m1 := scaleMinK4(2*j, scales)
		s2, m2 := scaleMinK4(2*j+1, scales)
		d1, dm1 := d*float32(s1), dmin*float32(m1)
		d2, dm2 := d*float32(s2), dmin*float32(m2)
		q := qs[32*j : 32*j+32]
		for l := 0; l < 32; l++ {
			y[64*j+l] = float32(d1*float32(q[l]&15)) - dm1
			y[64*j+32+l] = float32(d2*float32(q[l]>>4)) - dm2
		}
	}
}

// Q5_K: d, dmin f16, scales [12]u8, qh [32]u8 (fifth bits), qs [128]u8.
// x = (d·sc)·q − dmin·m.
func dequantBlockQ5_K(y []float32, b []byte) {
	d, dmin := f16at(b, 0), f16at(b, 2)
	scales := b[4:16]
	qh := b[16:48]
	qs := b[48:176]
	y = y[:QKK]
	for j := 0; j < 4; j++ {
		s1, m1 := scaleMinK4(2*j, scales)
		s2, m2 := scaleMinK4(2*j+1, scales)
		d1, dm1 := d*float32(s1), dmin*float32(m1)
		d2, dm2 := d*float32(s2), dmin*float32(m2)
		q := qs[32*j : 32*j+32]
		for l := 0; l < 32; l++ {
			h1 := qh[l] >> (2 * j) & 1 << 4
			h2 := qh[l] >> (2*j + 1) & 1 << 4
			y[64*j+l] = float32(d1*float32(q[l]&15|h1)) - dm1
			y[64*j+32+l] = float32(d2*float32(q[l]>>4|h2)) - dm2
		}
	}
}

// Q6_K: ql [128]u8 (low 4 bits), qh [64]u8 (high 2 bits), scales [16]int8
// (per 16 values), d f16. x = (d·sc)·(q−32).
func dequantBlockQ6_K(y []float32, b []byte) {
	ql := b[0:128]
	qh := b[128:192]
	sc := b[192:208]
	d := f16at(b, 208)
	y = y[:QKK]
	for n := 0; n < 2; n++ {
		l4, h4, s8 := ql[64*n:64*n+64], qh[32*n:32*n+32], sc[8*n:8*n+8]
		out := y[128*n : 128*n+128]
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int(l4[l]&15|(h4[l]>>0&3)<<4) - 32
			q2 := int(l4[l+32]&15|(h4[l]>>2&3)<<4) - 32
			q3 := int(l4[l]>>4|(h4[l]>>4&3)<<4) - 32
			q4 := int(l4[l+32]>>4|(h4[l]>>6&3)<<4) - 32
			out[l] = d * float32(int8(s8[is])) * float32(q1)
			out[l+32] = d * float32(int8(s8[is+2])) * float32(q2)
			out[l+64] = d * float32(int8(s8[is+4])) * float32(q3)
			out[l+96] = d * float32(int8(s8[is+6])) * float32(q4)
		}
	}
}

// IQ4Values is the non-linear 4-bit codebook of IQ4_NL and IQ4_XS.
var IQ4Values = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// IQ4_NL: d f16, qs [16]u8 (codebook indices). x = d·IQ4Values[q].
func dequantBlockIQ4_NL(y []float32, b []byte) {
	d := f16at(b, 0)
	q := b[2:18]
	y = y[:32]
	for j := 0; j < 16; j++ {
		y[j] = d * float32(IQ4Values[q[j]&15])
		y[j+16] = d * float32(IQ4Values[q[j]>>4])
	}
}

// IQ4_XS: d f16, scales_h u16 (high 2 bits of 8 scales), scales_l [4]u8
// (low 4 bits), qs [128]u8. x = (d·(ls−32))·IQ4Values[q].
func dequantBlockIQ4_XS(y []float32, b []byte) {
	d := f16at(b, 0)
	sh := binary.LittleEndian.Uint16(b[2:])
	sl := b[4:8]
	qs := b[8:136]
	y = y[:QKK]
	for ib := 0; ib < 8; ib++ {
		ls := int(sl[ib/2]>>(4*(ib%2))&15) | int(sh>>(2*ib)&3)<<4
		dl := d * float32(ls-32)
		q := qs[16*ib : 16*ib+16]
		out := y[32*ib : 32*ib+32]
		for j := 0; j < 16; j++ {
			out[j] = dl * float32(IQ4Values[q[j]&15])
			out[j+16] = dl * float32(IQ4Values[q[j]>>4])
		}
	}
}
