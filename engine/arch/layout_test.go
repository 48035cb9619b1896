package arch

import (
	"testing"

	"github.com/limbic-dev/limbic/engine/tensor"
)

func TestRopeLayoutRoundTrip(t *testing.T) {
	v := make([]float32, 2*8*3) // 2 heads of 8, 3 columns
	for i := range v {
		v[i] = float32(i)
	}
	x := tensor.FromF32("q", []int{16, 3}, v)
	h, err := InterleavedToHalf(x, 2)
	if err != nil {
		t.Fatal(err)
	}
	hv, _ := h.F32()
	// Head 0: interleaved row 1 (pair 0, second) becomes row 4 (= hd/2 + 0).
	if got, want := hv[4*3], v[1*3]; got != want {
		t.Errorf("row 4 starts with %v, want %v", got, want)
	}
	back, err := HalfToInterleaved(h, 2)
	if err != nil {
		t.Fatal(err)
	}
	bv, _ := back.F32()
	for i := range v {
		if bv[i] != v[i] {
			t.Fatalf("round trip differs at %d: %v != %v", i, bv[i], v[i])
		}
	}
	if _, err := InterleavedToHalf(x, 3); err == nil {
		t.Error("16 rows split into 3 heads accepted")
	}
}
