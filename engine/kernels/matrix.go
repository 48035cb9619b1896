package kernels

import (
	"fmt"
	"unsafe"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// Matrix is a read-only weight matrix [Rows, Cols] in one of the dtypes the
// kernels support (F32, BF16, F16 and the block quantisations of
// tensor.QuantTypes). Data is kept in its stored dtype: a bf16 checkpoint
// stays bf16 in memory, a Q4_K one stays in its blocks.
type Matrix struct {
	Rows, Cols int
	DType      tensor.DType
	f32        []float32
	u16        []uint16 // BF16 or F16 bit patterns
	q          []byte   // quantised blocks, row-major, Cols/qsize blocks per row
	qsize      int      // values per block
	qbytes     int      // bytes per block
}

// NewMatrix wraps a 2-D tensor without copying when its data is aligned
// (memory-mapped data usually is). A 1-D tensor is treated as [1, n].
func NewMatrix(t *tensor.Tensor) (*Matrix, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	var rows, cols int
	switch len(t.Shape) {
	case 1:
		rows, cols = 1, t.Shape[0]
	case 2:
		rows, cols = t.Shape[0], t.Shape[1]
	default:
		return nil, fmt.Errorf("tensor %q: shape %v is not a matrix", t.Name, t.Shape)
	}
	m := &Matrix{Rows: rows, Cols: cols, DType: t.DType}
	switch t.DType {
	case tensor.F32:
		v, err := t.F32()
		if err != nil {
			return nil, err
		}
		m.f32 = v
	case tensor.BF16, tensor.F16:
		if rows*cols > 0 {
			if uintptr(unsafe.Pointer(&t.Data[0]))%2 == 0 {
				m.u16 = unsafe.Slice((*uint16)(unsafe.Pointer(&t.Data[0])), rows*cols)
			} else {
				m.u16 = make([]uint16, rows*cols)
				for i := range m.u16 {
					m.u16[i] = uint16(t.Data[2*i]) | uint16(t.Data[2*i+1])<<8
				}
			}
		}
	default:
		if !t.DType.IsQuant() {
			return nil, fmt.Errorf("tensor %q: dtype %v is not supported for weights (want F32, BF16, F16 or a block quantisation)", t.Name, t.DType)
		}
		m.qsize, m.qbytes = t.DType.Block()
		if cols%m.qsize != 0 {
			return nil, fmt.Errorf("tensor %q: %v row length %d is not a multiple of %d", t.Name, t.DType, cols, m.qsize)
		}
		m.q = t.Data
	}
	return m, nil
}

// NewF32Matrix wraps v as an F32 matrix [rows, cols] without copying.
func NewF32Matrix(rows, cols int, v []float32) *Matrix {
	if len(v) != rows*cols {
		panic(fmt.Sprintf("kernels: NewF32Matrix: %d values for [%d %d]", len(v), rows, cols))
	}
	return &Matrix{Rows: rows, Cols: cols, DType: tensor.F32, f32: v}
}

// F32Data returns the backing slice of an F32 matrix, or nil for other dtypes.
func (m *Matrix) F32Data() []float32 { return m.f32 }

// Bytes returns the storage size of the matrix's data.
func (m *Matrix) Bytes() int {
	switch m.DType {
	case tensor.F32:
		return 4 * len(m.f32)
	case tensor.BF16, tensor.F16:
		return 2 * len(m.u16)
	}
	return len(m.q)
}

// Row writes row i, converted to float32, into dst[:Cols].
func (m *Matrix) Row(i int, dst []float32) {
	dst = dst[:m.Cols]
	switch m.DType {
	case tensor.F32:
		copy(dst, m.f32[i*m.Cols:(i+1)*m.Cols])
	case tensor.BF16:
		for j, h := range m.u16[i*m.Cols : (i+1)*m.Cols] {
			dst[j] = tensor.BF16ToF32(h)
		}
	case tensor.F16:
		for j, h := range m.u16[i*m.Cols : (i+1)*m.Cols] {
			dst[j] = tensor.F16ToF32(h)
		}
	default:
		rb := m.rowBytes()
		tensor.Dequant(m.DType, dst, m.q[i*rb:(i+1)*rb])
	}
}

// MatMul computes y[n, Rows] = x[n, Cols] · mᵀ, overwriting y.
//
// On a SIMD path, n ≤ gemvMaxN streams the weight once, row after row, for
// all n rows of x (decode); larger n runs a packed, cache-blocked GEMM
// (prefill), which for F32 weights and n ≤ gemmSwapMaxN (a batched decode)
// packs x instead of the weights (gemmSwapped, same results bit for bit). Both are spread over the worker pool. BF16 and F16 weights are read as stored:
// the GEMV widens them in registers, the GEMM widens one L2-sized block at a
// time while packing it. On the avx512bf16 path the bf16 GEMM instead rounds
// x to bf16 once per call and uses VDPBF16PS (about 3 significant digits
// in each product, as llama.cpp does; see BF16Activations).
func (m *Matrix) MatMul(y, x []float32, n int) {
	if len(x) < n*m.Cols || len(y) < n*m.Rows {
		panic(fmt.Sprintf("kernels: MatMul: x has %d values, y %d; want %d×%d and %d×%d", len(x), len(y), n, m.Cols, n, m.Rows))
	}
	if n <= 0 || m.Rows == 0 {
		return
	}
	if m.Cols == 0 {
		clear(y[:n*m.Rows])
		return
	}
	p := cur.Load()
	switch {
	case m.q != nil:
		m.matmulQuant(p, y, x, n)
	case p.gemm == nil:
		m.matmulGo(y, x, n)
	case n <= gemvMaxN:
		m.gemv(p, y, x, n)
	case n <= gemmSwapMaxN && m.DType == tensor.F32:
		m.gemmSwapped(p, y, x, n)
	default:
		m.gemmBlocked(p, y, x, n)
	}
}

// matmulGo is the plain Go MatMul, the reference of every other path.
func (m *Matrix) matmulGo(y, x []float32, n int) {
	// Split the output rows (weight rows) across workers; each worker
	// streams its weight rows once and applies them to all n inputs.
	grain := 1 + 4096/(m.Cols+1)
	matmulGoLoop.Run(m.Rows, grain, gemvArgs{m: m, y: y, x: x, n: n})
}

var matmulGoLoop = Loop[gemvArgs]{Body: func(a *gemvArgs, lo, hi int) { a.m.matmulRange(a.y, a.x, a.n, lo, hi) }}

func (m *Matrix) matmulRange(y, x []float32, n, lo, hi int) {
	cols := m.Cols
	var tmp []float32
	if m.DType != tensor.F32 {
		tmp = make([]float32, cols)
	}
	for r := lo; r < hi; r++ {
		var w []float32
		if m.DType == tensor.F32 {
			w = m.f32[r*cols : (r+1)*cols]
		} else {
			m.Row(r, tmp)
			w = tmp
		}
		for i := 0; i < n; i++ {
			y[i*m.Rows+r] = dotGo(x[i*cols:(i+1)*cols], w)
		}
	}
}

// DataPointer returns the address of the matrix's first stored value (nil
// when empty), for checks of where weights live.
func (m *Matrix) DataPointer() unsafe.Pointer {
	switch {
	case len(m.f32) > 0:
		return unsafe.Pointer(&m.f32[0])
	case len(m.u16) > 0:
		return unsafe.Pointer(&m.u16[0])
	case len(m.q) > 0:
		return unsafe.Pointer(&m.q[0])
	}
	return nil
}
