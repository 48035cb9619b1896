package kernels

import "math"

// LogSumExp returns log Σ exp(x_i) (the log of softmax's denominator), with
// the exponentials summed by the SIMD path when there is one. x is left
// unchanged; tmp is scratch of at least len(x) values.
func LogSumExp(x, tmp []float32) float64 {
	if len(x) == 0 {
		return math.Inf(-1)
	}
	tmp = tmp[:len(x)]
	p := cur.Load()
	m := 0
	if p.expSum != nil && len(x) >= p.lanes {
		m = len(x) &^ (p.lanes - 1)
	}
	var mx float32
	if m > 0 {
		mx = p.max(&x[0], m)
	} else {
		mx = x[0]
	}
	for _, v := range x[m:] {
		mx = max(mx, v)
	}
	if math.IsInf(float64(mx), 0) || math.IsNaN(float64(mx)) {
		return float64(mx)
	}
	var sum float64
	if m > 0 {
		sum = float64(p.expSum(&tmp[0], &x[0], m, 1, mx))
	}
	for _, v := range x[m:] {
		sum += math.Exp(float64(v - mx))
	}
	return float64(mx) + math.Log(sum)
}
