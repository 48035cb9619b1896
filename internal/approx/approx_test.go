package approx

import (
	"math"
	"testing"
)

var (
	nan  = math.NaN()
	inf  = math.Inf(1)
	nan3 = float32(math.NaN())
)

func TestDiff(t *testing.T) {
	for _, tt := range []struct {
		got, want, d float64
	}{
		{1, 1, 0},
		{1, 3, 2},
		{-3, 1, 4},
		{nan, 1, inf},
		{1, nan, inf},
		{nan, nan, inf},
		{inf, inf, inf},
		{1, -inf, inf},
	} {
		if got := Diff(tt.got, tt.want); got != tt.d {
			t.Errorf("Diff(%v, %v) = %v, want %v", tt.got, tt.want, got, tt.d)
		}
	}
	if got := RelDiff(3.0, 1.0); got != 1 {
		t.Errorf("RelDiff(3, 1) = %v, want 1", got)
	}
	if got := RelDiff(1.0, nan); got != inf {
		t.Errorf("RelDiff(1, NaN) = %v, want +Inf", got)
	}
}

func TestMaxAbsDiff(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want []float32
		d         float64
	}{
		{"equal", []float32{1, 2, 3}, []float32{1, 2, 3}, 0},
		{"empty", nil, []float32{}, 0},
		{"largest", []float32{1, 2, 3}, []float32{1.5, 2, 0}, 3},
		{"NaN got", []float32{1, nan3, 3}, []float32{1, 2, 3}, inf},
		{"NaN want", []float32{1, 2, 3}, []float32{1, 2, nan3}, inf},
		{"NaN first", []float32{nan3, 2, 30}, []float32{1, 2, 3}, inf},
		{"Inf", []float32{1, float32(inf)}, []float32{1, float32(inf)}, inf},
		{"shorter", []float32{1, 2}, []float32{1, 2, 3}, inf},
		{"longer", []float32{1, 2, 3}, []float32{1, 2}, inf},
	} {
		if got := MaxAbsDiff(tt.got, tt.want); got != tt.d {
			t.Errorf("%s: MaxAbsDiff = %v, want %v", tt.name, got, tt.d)
		}
		if got := MaxRelDiff(tt.got, tt.want); (tt.d == inf) != (got == inf) {
			t.Errorf("%s: MaxRelDiff = %v, want +Inf: %v", tt.name, got, tt.d == inf)
		}
		// The check every test writes must fail on each +Inf case.
		if ok := MaxAbsDiff(tt.got, tt.want) <= 1e-3; ok != (tt.d <= 1e-3) {
			t.Errorf("%s: within 1e-3 = %v, want %v", tt.name, ok, tt.d <= 1e-3)
		}
	}
	if got := MaxAbsDiff([]float64{1, nan}, []float64{1, 0}); got != inf {
		t.Errorf("float64 NaN: MaxAbsDiff = %v, want +Inf", got)
	}
	if got := MaxRelDiff([]float64{110}, []float64{100}); !(math.Abs(got-10.0/101) <= 1e-15) {
		t.Errorf("MaxRelDiff(110, 100) = %v, want %v", got, 10.0/101)
	}
}

func TestWorst(t *testing.T) {
	for _, tt := range []struct {
		ds   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{1, 3, 2}, 3},
		{[]float64{1, nan, 2}, inf},
		{[]float64{nan}, inf},
		{[]float64{inf, 1}, inf},
	} {
		if got := Worst(tt.ds...); got != tt.want {
			t.Errorf("Worst(%v) = %v, want %v", tt.ds, got, tt.want)
		}
	}
}
