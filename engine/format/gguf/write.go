package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/atomicfile"
)

// MaxNameLen is the longest tensor name the writer accepts: llama.cpp keeps
// names in 64-byte buffers including the terminating NUL.
const MaxNameLen = 63

// Writer assembles a GGUF file (version 3) in memory and writes it out.
// Metadata and tensors are written in the order they were added.
type Writer struct {
	kvs     []KV
	kvIndex map[string]int
	tensors []*tensor.Tensor
	names   map[string]bool
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{kvIndex: map[string]int{}, names: map[string]bool{}}
}

// AddKV adds a metadata pair. value must be one of the Go types listed in the
// package documentation (uint8 ... float64, string, bool, or a slice of one of
// them); slices are copied. general.alignment must be a uint32 power of two.
// Adding a key twice is an error.
func (w *Writer) AddKV(key string, value any) error {
	if _, dup := w.kvIndex[key]; dup {
		return fmt.Errorf("gguf: metadata key %q added twice", key)
	}
	if _, _, ok := TypeOf(value); !ok {
		return fmt.Errorf("gguf: metadata key %q: Go type %T has no GGUF type (use a sized type such as uint32, int32, float32, int64, or a slice of one)", key, value)
	}
	if key == KeyAlignment {
		a, ok := value.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf: %s must be a uint32 power of two, got %s %v", KeyAlignment, typeString(value), value)
		}
	}
	w.kvIndex[key] = len(w.kvs)
	w.kvs = append(w.kvs, KV{Key: key, Value: cloneValue(value)})
	return nil
}

func cloneValue(v any) any {
	switch a := v.(type) {
	case []uint8:
		return slices.Clone(a)
	case []int8:
		return slices.Clone(a)
	case []uint16:
		return slices.Clone(a)
	case []int16:
		return slices.Clone(a)
	case []uint32:
		return slices.Clone(a)
	case []int32:
		return slices.Clone(a)
	case []float32:
		return slices.Clone(a)
	case []bool:
		return slices.Clone(a)
	case []string:
		return slices.Clone(a)
	case []uint64:
		return slices.Clone(a)
	case []int64:
		return slices.Clone(a)
	case []float64:
		return slices.Clone(a)
	}
	return v
}

// AddTensor adds a tensor of type F32, F16, BF16, I8, I32, I64, F64 or one
// of the block-quantised types (tensor.QuantTypes)
// with its shape outermost first; the file stores the shape reversed. A
// scalar (shape []) is stored as one dimension of 1. The tensor's data is not
// copied: it must stay unchanged until the file is written.
func (w *Writer) AddTensor(t *tensor.Tensor) error {
	if t == nil {
		return errors.New("gguf: AddTensor(nil)")
	}
	if w.names[t.Name] {
		return fmt.Errorf("gguf: tensor %q added twice", t.Name)
	}
	if len(t.Name) > MaxNameLen {
		return fmt.Errorf("gguf: tensor name %q is %d bytes, llama.cpp allows at most %d", t.Name, len(t.Name), MaxNameLen)
	}
	if _, ok := ggmlTypeOf(t.DType); !ok {
		return fmt.Errorf("gguf: tensor %q: dtype %v cannot be written to GGUF", t.Name, t.DType)
	}
	if len(t.Shape) > MaxDims {
		return fmt.Errorf("gguf: tensor %q: shape %v has more than %d dimensions", t.Name, t.Shape, MaxDims)
	}
	if err := t.Check(); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	if bs, _ := t.DType.Block(); bs > 1 && len(t.Shape) > 0 && t.Shape[len(t.Shape)-1]%bs != 0 {
		return fmt.Errorf("gguf: tensor %q: %v needs the innermost dimension of %v to be a multiple of %d", t.Name, t.DType, t.Shape, bs)
	}
	w.names[t.Name] = true
	w.tensors = append(w.tensors, t)
	return nil
}

func (w *Writer) alignment() uint64 {
	if i, ok := w.kvIndex[KeyAlignment]; ok {
		return uint64(w.kvs[i].Value.(uint32))
	}
	return DefaultAlignment
}

// WriteFile writes the file at path atomically: to a temporary file in the
// same directory, fsynced, then renamed over path. On error nothing is left
// at path (an existing file there is untouched).
func (w *Writer) WriteFile(path string) error {
	err := atomicfile.WriteFile(path, 0o644, func(out io.Writer) error {
		_, err := w.WriteTo(out)
		return err
	})
	if err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	return nil
}

// WriteTo writes the file to out.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(out, 64<<10)
	cw := &countWriter{w: bw}
	e := &encoder{w: cw}
	align := w.alignment()

	e.bytes([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		e.str(kv.Key)
		e.value(kv.Value)
	}
	var off uint64
	for _, t := range w.tensors {
		typ, _ := ggmlTypeOf(t.DType)
		e.str(t.Name)
		if len(t.Shape) == 0 {
			e.u32(1)
			e.u64(1)
		} else {
			e.u32(uint32(len(t.Shape)))
			for j := len(t.Shape) - 1; j >= 0; j-- {
				e.u64(uint64(t.Shape[j]))
			}
		}
		e.u32(uint32(typ))
		e.u64(off)
		off += padLen(uint64(len(t.Data)), align) + uint64(len(t.Data))
	}
	e.pad(align)
	for _, t := range w.tensors {
		e.bytes(t.Data)
		e.pad(align)
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err != nil {
		return cw.n - int64(bw.Buffered()), fmt.Errorf("gguf: %w", e.err)
	}
	return cw.n, nil
}

func padLen(n, align uint64) uint64 { return (align - n%align) % align }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes little-endian values, remembering the first error.
type encoder struct {
	w   *countWriter
	err error
	buf [8]byte
}

func (e *encoder) bytes(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) u8(v uint8) { e.bytes([]byte{v}) }

func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.buf[:], v)
	e.bytes(e.buf[:2])
}

func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:], v)
	e.bytes(e.buf[:4])
}

func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], v)
	e.bytes(e.buf[:8])
}

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.bytes([]byte(s))
}

func (e *encoder) pad(align uint64) {
	var zeros [64]byte
	for n := padLen(uint64(e.w.n), align); n > 0; {
		k := min(n, uint64(len(zeros)))
		e.bytes(zeros[:k])
		n -= k
	}
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// value writes a value's type and the value.
func (e *encoder) value(v any) {
	t, elem, _ := TypeOf(v)
	e.u32(uint32(t))
	if t == TypeArray {
		e.u32(uint32(elem))
	}
	switch x := v.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		e.u8(b2u(x))
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case []uint8:
		e.u64(uint64(len(x)))
		e.bytes(x)
	case []int8:
		arr(e, x, func(v int8) { e.u8(uint8(v)) })
	case []uint16:
		arr(e, x, e.u16)
	case []int16:
		arr(e, x, func(v int16) { e.u16(uint16(v)) })
	case []uint32:
		arr(e, x, e.u32)
	case []int32:
		arr(e, x, func(v int32) { e.u32(uint32(v)) })
	case []float32:
		arr(e, x, func(v float32) { e.u32(math.Float32bits(v)) })
	case []bool:
		arr(e, x, func(v bool) { e.u8(b2u(v)) })
	case []string:
		arr(e, x, e.str)
	case []uint64:
		arr(e, x, e.u64)
	case []int64:
		arr(e, x, func(v int64) { e.u64(uint64(v)) })
	case []float64:
		arr(e, x, func(v float64) { e.u64(math.Float64bits(v)) })
	}
}

func arr[T any](e *encoder, a []T, put func(T)) {
	e.u64(uint64(len(a)))
	for _, v := range a {
		put(v)
	}
}
