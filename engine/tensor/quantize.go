package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Quantisers that reproduce llama.cpp's reference quantisation (ggml's
// quantize_row_*_ref, used by llama-quantize without an importance matrix)
// bit for bit: the same float32 operations in the same order, never fused
// (every product that feeds a sum is rounded to float32 first).

// Quantize quantises src (a whole number of blocks of d) into d's blocks.
// It supports Q8_0, Q4_0, Q4_K and Q6_K.
func Quantize(d DType, src []float32) ([]byte, error) {
	var f func(dst []byte, x []float32)
	switch d {
	case Q8_0:
		return quantizeChecked(d, src, func(dst []byte, x []float32) { copy(dst, QuantQ8_0(x)) })
	case Q4_0:
		f = quantBlockQ4_0
	case Q4_K:
		f = quantBlockQ4_K
	case Q6_K:
		f = quantBlockQ6_K
	default:
		return nil, fmt.Errorf("cannot quantise to %v (want Q8_0, Q4_0, Q4_K or Q6_K)", d)
	}
	return quantizeChecked(d, src, f)
}

func quantizeChecked(d DType, src []float32, f func(dst []byte, x []float32)) ([]byte, error) {
	size, bytes := d.Block()
	if len(src)%size != 0 {
		return nil, fmt.Errorf("%d values is not a whole number of %v blocks of %d", len(src), d, size)
	}
	out := make([]byte, len(src)/size*bytes)
	for b := 0; b < len(src)/size; b++ {
		f(out[b*bytes:(b+1)*bytes], src[b*size:(b+1)*size])
	}
	return out, nil
}

// roundInt rounds to the nearest integer, ties to even, the way ggml's
// nearest_int does (adding 1.5·2²³ and reading the mantissa); |v| < 2²².
func roundInt(v float32) int {
	b := math.Float32bits(float32(v) + 12582912)
	return int(b&0x007fffff) - 0x00400000
}

func putF16(b []byte, v float32) { binary.LittleEndian.PutUint16(b, F32ToF16(v)) }

// quantBlockQ4_0: d = (the value of largest magnitude)/−8, q = trunc(x/d +
// 8.5) capped at 15.
func quantBlockQ4_0(dst []byte, x []float32) {
	var amax, vmax float32
	for _, v := range x[:32] {
		if a := float32(math.Abs(float64(v))); amax < a {
			amax, vmax = a, v
		}
	}
	d := vmax / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(dst, d)
	for j := 0; j < 16; j++ {
		q0 := min(15, int8(float32(x[j]*id)+8.5))
		q1 := min(15, int8(float32(x[16+j]*id)+8.5))
		dst[2+j] = byte(q0) | byte(q1)<<4
	}
}

// groupMaxEps is ggml's threshold below which a group counts as all zero.
const groupMaxEps = 1e-15

// qxScale chooses the scale of a symmetric group (ggml's make_qx_quants
// with weights x², no importance matrix): levels l in [−nmax, nmax−1]
// stored as l+nmax in L; it tries the scale −(nmax+0.1·k)/max for k in
// −9…9 and keeps the one with the best weighted fit.
func qxScale(x []float32, nmax int, L []int8) float32 {
	var amax, vmax float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax, vmax = a, v
		}
	}
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	clamp := func(l int) int { return max(-nmax, min(nmax-1, l)) }
	fit := func(iscale float32) (sumlx, suml2 float32) {
		for _, v := range x {
			l := float32(clamp(roundInt(iscale * v)))
			w := float32(v * v)
			sumlx += float32(float32(w*v) * l)
			suml2 += float32(float32(w*l) * l)
		}
		return
	}
	set := func(iscale float32) {
		for i, v := range x {
			L[i] = int8(nmax + clamp(roundInt(iscale*v)))
		}
	}
	iscale := float32(-nmax) / vmax
	set(iscale)
	sumlx, suml2 := fit(iscale)
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := float32(scale * sumlx)
	for k := -9; k <= 9; k++ {
		if k == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(float32(0.1)*float32(k))) / vmax
		sumlx, suml2 = fit(iscale)
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			set(iscale)
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

// quantBlockQ6_K: 16 groups of 16 with qxScale (nmax 32), their scales
// quantised to int8 against the largest, then every value re-rounded to
// the final scale.
func quantBlockQ6_K(dst []byte, x []float32) {
	var L [QKK]int8
	var scales [QKK / 16]float32
	var maxScale, maxAbs float32
	for g := 0; g < QKK/16; g++ {
		s := qxScale(x[16*g:16*g+16], 32, L[16*g:16*g+16])
		scales[g] = s
		if a := float32(math.Abs(float64(s))); a > maxAbs {
			maxAbs, maxScale = a, s
		}
	}
	clear(dst[:210])
	if maxAbs < groupMaxEps {
		return
	}
	iscale := -128 / maxScale
	putF16(dst[208:], 1/iscale)
	sc := dst[192:208]
	for g := range scales {
		sc[g] = byte(int8(min(127, roundInt(iscale*scales[g]))))
	}
	d := F16ToF32(binary.LittleEndian.Uint16(dst[208:]))
	for g := 0; g < QKK/16; g++ {
		dg := d * float32(int8(sc[g]))
		if dg == 0 {
			continue
		}
		for i := 16 * g; i < 16*g+16; i++ {
			L[i] = int8(max(-32, min(31, roundInt(x[i]/dg))) + 32)
		}
	}
	ql, qh := dst[0:128], dst[128:192]
	for n := 0; n < 2; n++ {
		l := L[128*n : 128*n+128]
		for i := 0; i < 32; i++ {
			q1, q2, q3, q4 := byte(l[i]), byte(l[i+32]), byte(l[i+64]), byte(l[i+96])
			ql[64*n+i] = q1&15 | (q3&15)<<4
			ql[64*n+i+32] = q2&15 | (q4&15)<<4
			qh[32*n+i] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}

// qkx2 fits an asymmetric group of 32 values to levels 0…nmax (ggml's
// make_qkx2_quants with rmin −1, rdelta 0.1, 20 steps, squared error): it
// returns the scale and the negated min, and leaves the levels in L.
func qkx2(x, w []float32, nmax int, L []uint8) (scale, negMin float32) {
	n := len(x)
	lo, hi := x[0], x[0]
	sumW := w[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		lo, hi = min(lo, x[i]), max(hi, x[i])
		sumW += w[i]
		sumX += float32(w[i] * x[i])
	}
	if lo > 0 {
		lo = 0
	}
	if hi == lo {
		clear(L[:n])
		return 0, -lo
	}
	level := func(iscale float32, v, m float32) uint8 {
		return uint8(max(0, min(nmax, roundInt(iscale*(v-m)))))
	}
	iscale := float32(nmax) / (hi - lo)
	scale = 1 / iscale
	var bestMad float32
	for i := range x[:n] {
		L[i] = level(iscale, x[i], lo)
		diff := float32(float32(scale*float32(L[i]))+lo) - x[i]
		bestMad += float32(w[i] * float32(diff*diff))
	}
	var aux [32]uint8
	for step := 0; step <= 20; step++ {
		iscale = (float32(-1) + float32(float32(0.1)*float32(step)) + float32(nmax)) / (hi - lo)
		var sumL, sumL2, sumXL float32
		for i := range x[:n] {
			l := level(iscale, x[i], lo)
			aux[i] = l
			fl := float32(l)
			sumL += float32(w[i] * fl)
			sumL2 += float32(float32(w[i]*fl) * fl)
			sumXL += float32(float32(w[i]*fl) * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if !(D > 0) {
			continue
		}
		thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
		thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
		if thisMin > 0 {
			thisMin = 0
			thisScale = sumXL / sumL2
		}
		var mad float32
		for i := range x[:n] {
			diff := float32(float32(thisScale*float32(aux[i]))+thisMin) - x[i]
			mad += float32(w[i] * float32(diff*diff))
		}
		if mad < bestMad {
			copy(L[:n], aux[:n])
			bestMad, scale, lo = mad, thisScale, thisMin
		}
	}
	return scale, -lo
}

// quantBlockQ4_K: 8 groups of 32 fitted with qkx2 (weights rms(x)+|x|),
// their scales and mins quantised to 6 bits against the largest, then every
// value re-rounded to its group's final scale and min.
func quantBlockQ4_K(dst []byte, x []float32) {
	var L [QKK]uint8
	var w [32]float32
	var scales, mins [8]float32
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		g := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range g {
			sumX2 += float32(v * v)
		}
		av := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range g {
			w[l] = av + float32(math.Abs(float64(v)))
		}
		scales[j], mins[j] = qkx2(g, w[:], 15, L[32*j:32*j+32])
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := dst[4:16]
	clear(sc)
	for j := 0; j < 8; j++ {
		ls := min(63, uint8(roundInt(invScale*scales[j])))
		lm := min(63, uint8(roundInt(invMin*mins[j])))
		if j < 4 {
			sc[j], sc[j+4] = ls, lm
		} else {
			sc[j+4] = ls&15 | (lm&15)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	putF16(dst[0:], maxScale/63)
	putF16(dst[2:], maxMin/63)
	d, dmin := F16ToF32(binary.LittleEndian.Uint16(dst[0:])), F16ToF32(binary.LittleEndian.Uint16(dst[2:]))
	for j := 0; j < 8; j++ {
		s, m := scaleMinK4(j, sc)
		dj := d * float32(s)
		if dj == 0 {
			continue
		}
		dm := dmin * float32(m)
		for i := 32 * j; i < 32*j+32; i++ {
			L[i] = uint8(max(0, min(15, roundInt((x[i]+dm)/dj))))
		}
	}
	qs := dst[16:144]
	for j := 0; j < 4; j++ {
		for l := 0; l < 32; l++ {
			qs[32*j+l] = L[64*j+l] | L[64*j+l+32]<<4
		}
	}
}
