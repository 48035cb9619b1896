package tensor

import (
	"math"
	"testing"
)

// FuzzDequant feeds arbitrary bytes to every block decoder: it must never
// panic, must reject partial blocks and short input with an error, and must
// decode blocks independently (a block's values do not depend on its
// neighbours).
func FuzzDequant(f *testing.F) {
	f.Add(uint8(0), 32, []byte{0x00, 0x3c, 1, 2, 3})
	f.Add(uint8(7), 256, make([]byte, 144))
	f.Add(uint8(11), 512, make([]byte, 300))
	f.Fuzz(func(t *testing.T, sel uint8, n int, src []byte) {
		d := QuantTypes[int(sel)%len(QuantTypes)]
		size, bytes := d.Block()
		if n < 0 || n > 1<<14 {
			n = len(src) / bytes * size
		}
		dst := make([]float32, n)
		err := Dequant(d, dst, src)
		whole := n%size == 0 && len(src) >= n/size*bytes
		if whole != (err == nil) {
			t.Fatalf("%v: %d values from %d bytes: err = %v, want error: %v", d, n, len(src), err, !whole)
		}
		if err != nil {
			return
		}
		one := make([]float32, size)
		for b := 0; b < n/size; b++ {
			DequantBlock(d, one, src[b*bytes:(b+1)*bytes])
			for i, v := range one {
				if math.Float32bits(v) != math.Float32bits(dst[b*size+i]) {
					t.Fatalf("%v block %d value %d: %g alone, %g in the run", d, b, i, v, dst[b*size+i])
				}
			}
		}
	})
}

// TestDequantErrors checks the errors of Dequant and Bytes for bad input.
func TestDequantErrors(t *testing.T) {
	tests := []struct {
		name string
		d    DType
		n    int
		src  int
	}{
		{"not quantised", F32, 32, 128},
		{"partial block", Q4_K, 255, 144},
		{"short data", Q6_K, 512, 419},
		{"partial legacy block", Q4_0, 33, 36},
	}
	for _, tt := range tests {
		if err := Dequant(tt.d, make([]float32, tt.n), make([]byte, tt.src)); err == nil {
			t.Errorf("%s: Dequant(%v, %d values, %d bytes) = nil, want an error", tt.name, tt.d, tt.n, tt.src)
		}
	}
	for _, d := range QuantTypes {
		size, bytes := d.Block()
		if got, err := d.Bytes(3 * size); err != nil || got != 3*bytes {
			t.Errorf("%v.Bytes(%d) = %d, %v; want %d", d, 3*size, got, err, 3*bytes)
		}
		if _, err := d.Bytes(size + 1); err == nil {
			t.Errorf("%v.Bytes(%d) accepted a partial block", d, size+1)
		}
		if p, err := ParseDType(d.String()); err != nil || p != d {
			t.Errorf("ParseDType(%q) = %v, %v", d.String(), p, err)
		}
	}
}

// TestQuantizeEdges checks Quantize's errors and its all-zero blocks, which
// must decode to zeros.
func TestQuantizeEdges(t *testing.T) {
	if _, err := Quantize(Q5_K, make([]float32, 256)); err == nil {
		t.Error("Quantize(Q5_K) accepted a type it cannot write")
	}
	if _, err := Quantize(Q4_K, make([]float32, 255)); err == nil {
		t.Error("Quantize(Q4_K, 255 values) accepted a partial block")
	}
	for _, d := range []DType{Q8_0, Q4_0, Q4_K, Q6_K} {
		q, err := Quantize(d, make([]float32, 512))
		if err != nil {
			t.Fatalf("%v: %v", d, err)
		}
		back := make([]float32, 512)
		if err := Dequant(d, back, q); err != nil {
			t.Fatal(err)
		}
		for i, v := range back {
			if v != 0 {
				t.Fatalf("%v: zero block decodes to %g at %d", d, v, i)
			}
		}
	}
}
