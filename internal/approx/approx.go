package approx

import "math"

// Float is the element type the comparisons accept.
type Float interface{ ~float32 | ~float64 }

// Diff returns |got - want|, or +Inf when either is NaN or infinite.
func Diff[T Float](got, want T) float64 {
	g, w := float64(got), float64(want)
	if !finite(g) || !finite(w) {
		return math.Inf(1)
	}
	return math.Abs(g - w)
}

// RelDiff returns |got - want| / (1 + |want|): an absolute difference for
// small values and a relative one for large. It is +Inf when either is NaN
// or infinite.
func RelDiff[T Float](got, want T) float64 {
	d := Diff(got, want)
	if math.IsInf(d, 1) {
		return d
	}
	return d / (1 + math.Abs(float64(want)))
}

// MaxAbsDiff returns the largest |got[i] - want[i]|: 0 for two empty slices,
// +Inf when the lengths differ or any element of either is NaN or infinite.
func MaxAbsDiff[T Float](got, want []T) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range got {
		if d := Diff(got[i], want[i]); d > m {
			m = d
		}
	}
	return m
}

// MaxRelDiff returns the largest RelDiff(got[i], want[i]), with the same
// +Inf cases as MaxAbsDiff.
func MaxRelDiff[T Float](got, want []T) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range got {
		if d := RelDiff(got[i], want[i]); d > m {
			m = d
		}
	}
	return m
}

// Worst returns the largest of ds, +Inf if any is NaN: the NaN-safe
// replacement for folding differences with math.Max.
func Worst(ds ...float64) float64 {
	m := 0.0
	for _, d := range ds {
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		if d > m {
			m = d
		}
	}
	return m
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
