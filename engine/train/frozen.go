package train

import (
	"encoding/binary"
	"unsafe"

	"github.com/limbic-dev/limbic/engine/kernels"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// rawMat is a frozen weight matrix kept in its stored 16-bit dtype (bf16 or
// f16) instead of f32 master weights: a LoRA base costs half the memory.
// The engine's kernels multiply by it as stored.
type rawMat struct {
	dtype      tensor.DType
	rows, cols int
	bits       []uint16
	m          *kernels.Matrix
}

// newRawMat copies t's 16-bit values.
func newRawMat(t *tensor.Tensor) (*rawMat, error) {
	r := &rawMat{dtype: t.DType, rows: t.Shape[0], cols: t.Shape[1], bits: make([]uint16, t.Numel())}
	for i := range r.bits {
		r.bits[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
	}
	m, err := matrixOf(r.dtype, r.bits, r.rows, r.cols)
	r.m = m
	return r, err
}

// matrixOf wraps 16-bit values [rows, cols] as a kernels.Matrix (no copy).
func matrixOf(dt tensor.DType, bits []uint16, rows, cols int) (*kernels.Matrix, error) {
	var b []byte
	if len(bits) > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(&bits[0])), 2*len(bits))
	}
	return kernels.NewMatrix(&tensor.Tensor{Name: "frozen", DType: dt, Shape: []int{rows, cols}, Data: b})
}

// f32 returns the values as float32.
func (r *rawMat) f32() []float32 {
	out := make([]float32, len(r.bits))
	for i, h := range r.bits {
		if r.dtype == tensor.BF16 {
			out[i] = tensor.BF16ToF32(h)
		} else {
			out[i] = tensor.F16ToF32(h)
		}
	}
	return out
}

// values returns p's weights as F (converted from a 16-bit frozen matrix).
func (p *tparam[F]) values() []F {
	if p.raw == nil {
		return p.data
	}
	v := p.raw.f32()
	if out, ok := any(v).([]F); ok {
		return out
	}
	out := make([]F, len(v))
	for i, x := range v {
		out[i] = F(x)
	}
	return out
}

// row writes row i of p [rows, cols] into dst.
func (p *tparam[F]) row(i int, dst []F) {
	if p.raw != nil {
		p.raw.m.Row(i, any(dst).([]float32))
		return
	}
	c := p.shape[1]
	copy(dst, p.data[i*c:(i+1)*c])
}

// mul computes y[n, out] = x[n, in]·pᵀ for p [out, in].
func (p *tparam[F]) mul(y, x []F, n int) {
	if p.raw != nil {
		p.raw.m.MatMul(any(y).([]float32), any(x).([]float32), n)
		return
	}
	matmul(y, x, p.data, n, p.shape[0], p.shape[1])
}

// mulT computes y[n, in] = x[n, out]·p for p [out, in], transposing p
// into the net's scratch (16-bit frozen matrices stay 16-bit).
func (m *net[F]) mulT(y, x []F, p *tparam[F], n int) {
	out, in := p.shape[0], p.shape[1]
	if r := p.raw; r != nil {
		m.rawT = growU16(m.rawT, out*in)
		transposeCols(m.rawT, r.bits, out, in, 0, in)
		mt, err := matrixOf(r.dtype, m.rawT, in, out)
		if err != nil {
			panic(err) // shapes and dtype were checked when r was made
		}
		mt.MatMul(any(y).([]float32), any(x).([]float32), n)
		return
	}
	wT := m.buf("wT", out*in)
	transpose(wT, p.data, out, in)
	matmul(y, x, wT, n, in, out)
}

func growU16(b []uint16, n int) []uint16 {
	if cap(b) < n {
		return make([]uint16, n)
	}
	return b[:n]
}
