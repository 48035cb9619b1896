// Package tensor holds the in-memory form of a named weight tensor as the
// format readers produce it: a dtype, a shape and the raw little-endian bytes.
//
// Conventions: shapes are row-major and outermost first, as in safetensors and
// PyTorch (a linear weight is [out, in]); GGUF readers reverse GGUF's
// innermost-first dimension order so that every reader yields the same shape.
// Data may alias a memory-mapped file; treat it as read-only.
package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// DType is an element type.
type DType uint8

// The element types the engine knows.
const (
	Invalid DType = iota
	F32
	F16
	BF16
	Q8_0 // GGUF block quantisation: blocks of 32 values, an f16 scale then 32 int8
	I32
	I64
	I8
	U8
	F64
)

var dtypeNames = [...]string{Invalid: "invalid", F32: "F32", F16: "F16", BF16: "BF16", Q8_0: "Q8_0",
	I32: "I32", I64: "I64", I8: "I8", U8: "U8", F64: "F64",
	Q4_0: "Q4_0", Q4_1: "Q4_1", Q5_0: "Q5_0", Q5_1: "Q5_1", Q2_K: "Q2_K", Q3_K: "Q3_K", Q4_K: "Q4_K",
	Q5_K: "Q5_K", Q6_K: "Q6_K", IQ4_NL: "IQ4_NL", IQ4_XS: "IQ4_XS"}

// String returns the safetensors spelling of d ("F32", "BF16", ...).
func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// ParseDType parses a dtype name, case-insensitively ("f32", "BF16", "q8_0").
func ParseDType(s string) (DType, error) {
	for i, n := range dtypeNames {
		if i != int(Invalid) && equalFold(n, s) {
			return DType(i), nil
		}
	}
	return Invalid, fmt.Errorf("unknown dtype %q (want one of F32, F16, BF16, I32, I64, I8, U8, F64, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)", s)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Q8BlockSize is the number of values in one Q8_0 block, and Q8BlockBytes its size.
const (
	Q8BlockSize  = 32
	Q8BlockBytes = 2 + Q8BlockSize
)

// Bytes returns the storage size of n elements of d, or an error when n is not
// a whole number of blocks for a block-quantised type.
func (d DType) Bytes(n int) (int, error) {
	switch d {
	case F32, I32:
		return 4 * n, nil
	case F16, BF16:
		return 2 * n, nil
	case I64, F64:
		return 8 * n, nil
	case I8, U8:
		return n, nil
	}
	if q, ok := quants[d]; ok {
		if n%q.size != 0 {
			return 0, fmt.Errorf("%d elements is not a whole number of %v blocks of %d", n, d, q.size)
		}
		return n / q.size * q.bytes, nil
	}
	return 0, fmt.Errorf("dtype %v has no size", d)
}

// Tensor is a named tensor with raw little-endian data.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// Numel returns the number of elements (1 for a scalar).
func (t *Tensor) Numel() int { return Numel(t.Shape) }

// Numel returns the product of shape's dimensions.
func Numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// Check verifies that len(Data) matches DType and Shape.
func (t *Tensor) Check() error {
	for _, s := range t.Shape {
		if s < 0 {
			return fmt.Errorf("tensor %q: negative dimension in shape %v", t.Name, t.Shape)
		}
	}
	want, err := t.DType.Bytes(t.Numel())
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if len(t.Data) != want {
		return fmt.Errorf("tensor %q: %v %v needs %d bytes, have %d", t.Name, t.DType, t.Shape, want, len(t.Data))
	}
	return nil
}

// F32 returns the tensor's values as float32. For F32 data that is 4-byte
// aligned it returns a view of Data without copying (do not write to it);
// other dtypes are converted into a new slice.
func (t *Tensor) F32() ([]float32, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	n := t.Numel()
	switch t.DType {
	case F32:
		if n == 0 {
			return []float32{}, nil
		}
		if uintptr(unsafe.Pointer(&t.Data[0]))%4 == 0 {
			return unsafe.Slice((*float32)(unsafe.Pointer(&t.Data[0])), n), nil
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
		return out, nil
	case F16:
		out := make([]float32, n)
		for i := range out {
			out[i] = F16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
		return out, nil
	case BF16:
		out := make([]float32, n)
		for i := range out {
			out[i] = BF16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
		return out, nil
	case F64:
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:])))
		}
		return out, nil
	}
	if t.DType.IsQuant() {
		out := make([]float32, n)
		if err := Dequant(t.DType, out, t.Data); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("tensor %q: cannot convert %v to F32", t.Name, t.DType)
}

// Ints returns integer tensor values (I32, I64, I8, U8) as int.
func (t *Tensor) Ints() ([]int, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	n := t.Numel()
	out := make([]int, n)
	switch t.DType {
	case I32:
		for i := range out {
			out[i] = int(int32(binary.LittleEndian.Uint32(t.Data[4*i:])))
		}
	case I64:
		for i := range out {
			out[i] = int(int64(binary.LittleEndian.Uint64(t.Data[8*i:])))
		}
	case I8:
		for i := range out {
			out[i] = int(int8(t.Data[i]))
		}
	case U8:
		for i := range out {
			out[i] = int(t.Data[i])
		}
	default:
		return nil, fmt.Errorf("tensor %q: %v is not an integer dtype", t.Name, t.DType)
	}
	return out, nil
}

// FromF32 builds an F32 tensor that owns a little-endian copy of v.
func FromF32(name string, shape []int, v []float32) *Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return &Tensor{Name: name, DType: F32, Shape: append([]int(nil), shape...), Data: b}
}

// FromI32 builds an I32 tensor from v.
func FromI32(name string, shape []int, v []int) *Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(int32(x)))
	}
	return &Tensor{Name: name, DType: I32, Shape: append([]int(nil), shape...), Data: b}
}

// BF16ToF32 widens a bfloat16 bit pattern.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds to nearest even; NaN stays NaN.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// F16ToF32 widens an IEEE half-precision bit pattern.
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		for mant&0x400 == 0 {
			mant <<= 1
			exp--
		}
		exp++
		mant &= 0x3ff
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// F32ToF16 rounds to the nearest half-precision value (ties to even).
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	if b&0x7fffffff > 0x7f800000 { // NaN
		return sign | 0x7e00
	}
	if exp >= 0x1f {
		return sign | 0x7c00
	}
	if exp <= 0 {
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - exp)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++
	}
	return sign | uint16(r)
}

// DequantQ8_0 expands Q8_0 blocks from src into dst (len(dst) values).
func DequantQ8_0(dst []float32, src []byte) {
	for b := 0; b*Q8BlockSize < len(dst); b++ {
		blk := src[b*Q8BlockBytes:]
		d := F16ToF32(binary.LittleEndian.Uint16(blk))
		for i := 0; i < Q8BlockSize; i++ {
			dst[b*Q8BlockSize+i] = d * float32(int8(blk[2+i]))
		}
	}
}

// QuantQ8_0 quantises src (a multiple of 32 values) into Q8_0 blocks as llama.cpp does:
// scale = max|x|/127, values rounded to nearest.
func QuantQ8_0(src []float32) []byte {
	out := make([]byte, len(src)/Q8BlockSize*Q8BlockBytes)
	for b := 0; b < len(src)/Q8BlockSize; b++ {
		x := src[b*Q8BlockSize : (b+1)*Q8BlockSize]
		amax := float32(0)
		for _, v := range x {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax = a
			}
		}
		d := amax / 127
		id := float32(0)
		if d != 0 {
			id = 1 / d
		}
		blk := out[b*Q8BlockBytes:]
		binary.LittleEndian.PutUint16(blk, F32ToF16(d))
		for i, v := range x {
			blk[2+i] = byte(int8(math.Round(float64(v * id))))
		}
	}
	return out
}
