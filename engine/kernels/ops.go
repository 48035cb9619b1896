package kernels

import "math"

// Dot returns Σ a[i]·b[i] over len(a) elements (b must be at least as long).
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	if p := cur.Load(); p.dot != nil && len(a) >= p.lanes {
		m := len(a) &^ (p.lanes - 1)
		s := p.dot(&a[0], &b[0], m)
		for i := m; i < len(a); i++ {
			s += a[i] * b[i]
		}
		return s
	}
	return dotGo(a, b)
}

// dotGo is the plain Go Dot.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Axpy computes y += a·x.
func Axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	if p := cur.Load(); p.axpy != nil && len(y) >= p.lanes {
		m := len(y) &^ (p.lanes - 1)
		p.axpy(&y[0], a, &x[0], m)
		y, x = y[m:], x[m:]
	}
	for i := range y {
		y[i] += a * x[i]
	}
}

// Add computes y += x elementwise.
func Add(y, x []float32) {
	x = x[:len(y)]
	if p := cur.Load(); p.add != nil && len(y) >= p.lanes {
		m := len(y) &^ (p.lanes - 1)
		p.add(&y[0], &x[0], m)
		y, x = y[m:], x[m:]
	}
	for i := range y {
		y[i] += x[i]
	}
}

// Scale computes x *= a.
func Scale(x []float32, a float32) {
	if p := cur.Load(); p.scale != nil && len(x) >= p.lanes {
		m := len(x) &^ (p.lanes - 1)
		p.scale(&x[0], a, m)
		x = x[m:]
	}
	for i := range x {
		x[i] *= a
	}
}

// RMSNorm writes x / rms(x) · w into dst for one row; with plusOne the weight
// is applied as (1 + w), as Gemma stores it. dst may alias x.
// The plain Go version sums squares in float64; SIMD paths use float32
// vector partial sums (relative difference ~1e-7).
func RMSNorm(dst, x, w []float32, eps float32, plusOne bool) {
	w = w[:len(x)]
	dst = dst[:len(x)]
	if p := cur.Load(); p.mulScale != nil && len(x) >= p.lanes {
		ss := Dot(x, x)
		inv := float32(1 / math.Sqrt(float64(ss)/float64(len(x))+float64(eps)))
		one := float32(0)
		if plusOne {
			one = 1
		}
		m := len(x) &^ (p.lanes - 1)
		p.mulScale(&dst[0], &x[0], &w[0], inv, one, m)
		for i := m; i < len(x); i++ {
			dst[i] = x[i] * inv * (w[i] + one)
		}
		return
	}
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	inv := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	if plusOne {
		for i, v := range x {
			dst[i] = v * inv * (1 + w[i])
		}
		return
	}
	for i, v := range x {
		dst[i] = v * inv * w[i]
	}
}

// LayerNorm writes (x - mean)/sqrt(var + eps) · w + b into dst for one row.
// b may be nil. dst may alias x.
func LayerNorm(dst, x, w, b []float32, eps float32) {
	var mean float64
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	var vs float64
	for _, v := range x {
		d := float64(v) - mean
		vs += d * d
	}
	inv := 1 / math.Sqrt(vs/float64(len(x))+float64(eps))
	for i, v := range x {
		o := float32((float64(v) - mean) * inv)
		o *= w[i]
		if b != nil {
			o += b[i]
		}
		dst[i] = o
	}
}

// Softmax normalises x in place to probabilities.
func Softmax(x []float32) { softmaxScaled(x, 1) }

// softmaxScaled sets x to softmax(x·scale) (scale > 0).
func softmaxScaled(x []float32, scale float32) {
	if len(x) == 0 {
		return
	}
	p := cur.Load()
	if p.expSum == nil || len(x) < p.lanes {
		if scale != 1 {
			for i := range x {
				x[i] *= scale
			}
		}
		softmaxGo(x)
		return
	}
	m := len(x) &^ (p.lanes - 1)
	mx := p.max(&x[0], m)
	for _, v := range x[m:] {
		mx = max(mx, v)
	}
	ms := mx * scale
	sum := p.expSum(&x[0], &x[0], m, scale, ms)
	for i := m; i < len(x); i++ {
		e := float32(math.Exp(float64(x[i]*scale - ms)))
		x[i] = e
		sum += e
	}
	Scale(x, 1/sum)
}

func softmaxGo(x []float32) {
	mx := x[0]
	for _, v := range x[1:] {
		if v > mx {
			mx = v
		}
	}
	var sum float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - mx)))
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}

// SiLU returns x·σ(x).
func SiLU(x float32) float32 { return x / (1 + float32(math.Exp(float64(-x)))) }

// GELUTanh is the tanh approximation of GELU used by GPT-2 and Gemma.
func GELUTanh(x float32) float32 {
	const c = 0.7978845608028654 // sqrt(2/π)
	xf := float64(x)
	return float32(0.5 * xf * (1 + math.Tanh(c*(xf+0.044715*xf*xf*xf))))
}

// SwiGLU writes act(gate[i])·up[i] into dst, where act is SiLU or GELUTanh.
func SwiGLU(dst, gate, up []float32, gelu bool) {
	up = up[:len(gate)]
	dst = dst[:len(gate)]
	if p := cur.Load(); p.gateMul != nil && len(gate) >= p.lanes {
		m := len(gate) &^ (p.lanes - 1)
		g := 0
		if gelu {
			g = 1
		}
		p.gateMul(&dst[0], &gate[0], &up[0], m, g)
		dst, gate, up = dst[m:], gate[m:], up[m:]
	}
	if gelu {
		for i, g := range gate {
			dst[i] = GELUTanh(g) * up[i]
		}
		return
	}
	for i, g := range gate {
		dst[i] = SiLU(g) * up[i]
	}
}

// Softcap computes cap·tanh(x/cap) in place (Gemma 2 logit soft-capping).
func Softcap(x []float32, cap float32) {
	for i, v := range x {
		x[i] = cap * float32(math.Tanh(float64(v/cap)))
	}
}

// Prefetch asks the CPU to start loading x into its L2 cache, so that a
// later pass over it finds it there. It changes no values, and does nothing
// on the plain Go path. The engine prefetches a layer's attention cache
// before the layer's q/k/v projection: a decode step streams all weights
// between two visits to a layer, so the cache is otherwise read cold.
func Prefetch(x []float32) {
	if p := cur.Load(); p.prefetch != nil && len(x) > 0 {
		p.prefetch(&x[0], len(x))
	}
}

// Argmax returns the index of the first largest value of x, or -1 when x is
// empty. NaNs never win, except that a NaN at index 0 is returned as the
// plain loop "best = 0; if x[i] > x[best] { best = i }" would. On a SIMD
// path it finds each 1024-value block's maximum with vector instructions
// and scans only the block holding the first overall maximum: greedy
// sampling over a 32,000-token vocabulary takes about a tenth of the time
// of the plain loop.
func Argmax(x []float32) int {
	if len(x) == 0 {
		return -1
	}
	p := cur.Load()
	const block = 1024
	if p.max == nil || len(x) < 2*block || x[0] != x[0] {
		return argmaxGo(x, 0)
	}
	best, bestMax := -1, float32(0)
	for b := 0; b < len(x); b += block {
		e := min(b+block, len(x))
		m := (e - b) &^ (p.lanes - 1)
		var bm float32
		if m > 0 {
			bm = p.max(&x[b], m)
		} else {
			bm = x[b]
		}
		for _, v := range x[b+m : e] {
			bm = max(bm, v)
		}
		if bm != bm { // a NaN: the vector max does not define which wins
			return argmaxGo(x, 0)
		}
		if best < 0 || bm > bestMax {
			best, bestMax = b, bm
		}
	}
	for i, v := range x[best:min(best+block, len(x))] {
		if v == bestMax {
			return best + i
		}
	}
	return argmaxGo(x, 0) // not reached for finite input
}

func argmaxGo(x []float32, best int) int {
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
