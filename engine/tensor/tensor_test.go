package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestBF16(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80}, {-2, 0xc000}, {0, 0},
		{1.00390625, 0x3f80}, // halfway 0x3f80 and 0x3f81: ties to even
		{1.01171875, 0x3f82}, // halfway 0x3f81 and 0x3f82: ties to even
		{float32(math.Inf(1)), 0x7f80},
	}
	for _, tt := range tests {
		if got := F32ToBF16(tt.in); got != tt.want {
			t.Errorf("F32ToBF16(%v) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
	if v := BF16ToF32(F32ToBF16(float32(math.NaN()))); !math.IsNaN(float64(v)) {
		t.Error("NaN lost")
	}
}

func TestF16RoundTripAndRounding(t *testing.T) {
	// Every finite half value survives the round trip.
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 {
			continue
		}
		f := F16ToF32(uint16(h))
		if got := F32ToF16(f); got != uint16(h) && !(f == 0 && got&0x7fff == 0) {
			t.Fatalf("%#x → %v → %#x", h, f, got)
		}
	}
	tests := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3c00}, {65504, 0x7bff}, {65520, 0x7c00}, {1e-8, 0}, {5.9604645e-8, 1}, {-0.5, 0xb800},
	}
	for _, tt := range tests {
		if got := F32ToF16(tt.in); got != tt.want {
			t.Errorf("F32ToF16(%v) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}

func TestQ8RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 96)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	q := QuantQ8_0(x)
	if len(q) != 3*Q8BlockBytes {
		t.Fatalf("%d bytes", len(q))
	}
	y := make([]float32, len(x))
	DequantQ8_0(y, q)
	for b := 0; b < 3; b++ {
		amax := 0.0
		for _, v := range x[b*32 : (b+1)*32] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		for i := b * 32; i < (b+1)*32; i++ {
			if d := math.Abs(float64(x[i] - y[i])); !(d <= amax/127*0.51+1e-3*amax) {
				t.Fatalf("value %d: %v → %v (block max %v)", i, x[i], y[i], amax)
			}
		}
	}
}

func TestTensorCheckAndConvert(t *testing.T) {
	x := FromF32("x", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	if err := x.Check(); err != nil {
		t.Fatal(err)
	}
	v, err := x.F32()
	if err != nil || v[5] != 6 {
		t.Fatalf("F32 = %v, %v", v, err)
	}
	bad := &Tensor{Name: "b", DType: F32, Shape: []int{2, 2}, Data: make([]byte, 12)}
	if err := bad.Check(); err == nil {
		t.Error("short data accepted")
	}
	i := FromI32("i", []int{3}, []int{-1, 0, 7})
	if got, err := i.Ints(); err != nil || got[0] != -1 || got[2] != 7 {
		t.Errorf("Ints = %v, %v", got, err)
	}
	if d, err := ParseDType("q4_k"); err != nil || d != Q4_K {
		t.Errorf("ParseDType(q4_k) = %v, %v", d, err)
	}
	if _, err := ParseDType("iq2_xxs"); err == nil {
		t.Error("unknown dtype accepted")
	}
	if d, err := ParseDType("bf16"); err != nil || d != BF16 {
		t.Errorf("ParseDType(bf16) = %v, %v", d, err)
	}
	if _, err := Q8_0.Bytes(33); err == nil {
		t.Error("33 Q8_0 values accepted")
	}
}
