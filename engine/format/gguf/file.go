package gguf

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/limbic-dev/limbic/engine/format/mmap"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// Well-known metadata keys.
const (
	KeyArchitecture = "general.architecture"
	KeyAlignment    = "general.alignment"
)

// KV is one metadata key-value pair. Value holds one of the Go types listed
// in the package documentation.
type KV struct {
	Key   string
	Value any
}

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name string
	Type GGMLType
	// Dims are the dimensions in GGUF order: Dims[0] (ne0) is the innermost,
	// contiguous one.
	Dims []uint64
	// Shape is Dims reversed: outermost first.
	Shape []int
	// Offset is the data's offset from the start of the data section.
	Offset uint64
	// Size is the data's size in bytes.
	Size int64
}

// TypeError reports a metadata value whose type does not fit the accessor.
type TypeError struct {
	Key  string
	Have string // the value's type, e.g. "uint32" or "array of string"
	Want string // what the accessor needs
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("gguf: key %q holds %s, want %s", e.Key, e.Have, e.Want)
}

// File is an open GGUF file.
type File struct {
	// Version is the file's GGUF version (2 or 3).
	Version uint32
	// Alignment is the alignment of tensor data.
	Alignment int
	// DataOffset is the file offset of the data section.
	DataOffset int64

	kvs     []KV
	kvIndex map[string]int
	tensors []TensorInfo
	tIndex  map[string]int

	path   string
	data   []byte
	region *mmap.Region
}

// Open maps the file at path and parses it.
func Open(path string) (*File, error) {
	r, err := mmap.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	p, err := parse(r.Data)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	f := newFile(p, r.Data)
	f.path, f.region = path, r
	return f, nil
}

// Parse parses a GGUF file held in memory. Tensor data aliases b.
func Parse(b []byte) (*File, error) {
	p, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	return newFile(p, b), nil
}

func newFile(p *parsed, b []byte) *File {
	return &File{
		Version:    p.version,
		Alignment:  p.alignment,
		DataOffset: p.dataOffset,
		kvs:        p.kvs,
		kvIndex:    p.kvIndex,
		tensors:    p.tensors,
		tIndex:     p.tIndex,
		data:       b,
	}
}

// Path returns the path the file was opened from ("" for Parse).
func (f *File) Path() string { return f.path }

// Evict drops the file's pages from the process's resident set (see
// mmap.Region.Evict): tensors stay valid and read them again on access. A
// loader calls it after copying the weights it uses.
func (f *File) Evict() error { return f.region.Evict() }

// EvictRange drops the pages wholly inside b, a part of the file's data,
// from the resident set (mmap.Region.EvictRange).
func (f *File) EvictRange(b []byte) error { return f.region.EvictRange(b) }

// Close releases the file's memory. Tensors obtained from it must not be used
// afterwards. Close is safe to call more than once.
func (f *File) Close() error {
	f.data = nil
	if f.region == nil {
		return nil
	}
	err := f.region.Close()
	f.region = nil
	return err
}

// KVs returns the metadata in file order. The slice is the file's own: do
// not modify it.
func (f *File) KVs() []KV { return f.kvs }

// Keys returns the metadata keys in file order.
func (f *File) Keys() []string {
	keys := make([]string, len(f.kvs))
	for i, kv := range f.kvs {
		keys[i] = kv.Key
	}
	return keys
}

// Value returns the value of key, whatever its type.
func (f *File) Value(key string) (any, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return nil, false
	}
	return f.kvs[i].Value, true
}

// Architecture returns general.architecture, "" when absent or not a string.
func (f *File) Architecture() string {
	s, _, _ := f.String(KeyArchitecture)
	return s
}

// String returns a string value.
func (f *File) String(key string) (string, bool, error) {
	v, ok := f.Value(key)
	if !ok {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, &TypeError{key, typeString(v), "string"}
	}
	return s, true, nil
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, bool, error) {
	v, ok := f.Value(key)
	if !ok {
		return false, false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, false, &TypeError{key, typeString(v), "bool"}
	}
	return b, true, nil
}

// Uint returns an integer value of any width that is not negative.
func (f *File) Uint(key string) (uint64, bool, error) {
	v, ok := f.Value(key)
	if !ok {
		return 0, false, nil
	}
	if u, ok := asUint(v); ok {
		return u, true, nil
	}
	if i, ok := asInt(v); ok {
		return 0, false, &TypeError{key, fmt.Sprintf("%s %d", typeString(v), i), "a non-negative integer"}
	}
	return 0, false, &TypeError{key, typeString(v), "an unsigned integer"}
}

// Int returns an integer value of any width that fits in an int64.
func (f *File) Int(key string) (int64, bool, error) {
	v, ok := f.Value(key)
	if !ok {
		return 0, false, nil
	}
	if i, ok := asInt(v); ok {
		return i, true, nil
	}
	if u, ok := v.(uint64); ok {
		return 0, false, &TypeError{key, fmt.Sprintf("uint64 %d", u), "an integer that fits in int64"}
	}
	return 0, false, &TypeError{key, typeString(v), "an integer"}
}

// Float returns a float32 or float64 value.
func (f *File) Float(key string) (float64, bool, error) {
	v, ok := f.Value(key)
	if !ok {
		return 0, false, nil
	}
	switch x := v.(type) {
	case float32:
		return float64(x), true, nil
	case float64:
		return x, true, nil
	}
	return 0, false, &TypeError{key, typeString(v), "a float"}
}

// Strings returns an array of strings.
func (f *File) Strings(key string) ([]string, bool, error) {
	v, ok := f.Value(key)
	if !ok {
		return nil, false, nil
	}
	s, ok := v.([]string)
	if !ok {
		return nil, false, &TypeError{key, typeString(v), "array of string"}
	}
	return s, true, nil
}

// Ints returns an array of integers of any width as int64 values (it fails
// for a uint64 element above MaxInt64).
func (f *File) Ints(key string) ([]int64, bool, error) {
	v, ok := f.Value(key)
	if !ok {
		return nil, false, nil
	}
	var out []int64
	switch a := v.(type) {
	case []uint8:
		out = widen(a, func(x uint8) int64 { return int64(x) })
	case []int8:
		out = widen(a, func(x int8) int64 { return int64(x) })
	case []uint16:
		out = widen(a, func(x uint16) int64 { return int64(x) })
	case []int16:
		out = widen(a, func(x int16) int64 { return int64(x) })
	case []uint32:
		out = widen(a, func(x uint32) int64 { return int64(x) })
	case []int32:
		out = widen(a, func(x int32) int64 { return int64(x) })
	case []int64:
		out = append([]int64{}, a...)
	case []uint64:
		out = make([]int64, len(a))
		for i, x := range a {
			if x > math.MaxInt64 {
				return nil, false, &TypeError{key, fmt.Sprintf("array of uint64 with element %d = %d", i, x), "integers that fit in int64"}
			}
			out[i] = int64(x)
		}
	default:
		return nil, false, &TypeError{key, typeString(v), "array of integers"}
	}
	return out, true, nil
}

// Floats returns an array of float32 or float64 as float64 values.
func (f *File) Floats(key string) ([]float64, bool, error) {
	v, ok := f.Value(key)
	if !ok {
		return nil, false, nil
	}
	switch a := v.(type) {
	case []float32:
		return widen(a, func(x float32) float64 { return float64(x) }), true, nil
	case []float64:
		return append([]float64{}, a...), true, nil
	}
	return nil, false, &TypeError{key, typeString(v), "array of floats"}
}

func widen[S, T any](a []S, f func(S) T) []T {
	out := make([]T, len(a))
	for i, x := range a {
		out[i] = f(x)
	}
	return out
}

func asUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	}
	if i, ok := asInt(v); ok && i >= 0 {
		return uint64(i), true
	}
	return 0, false
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// TensorInfos returns the tensor infos in file order. The slice is the
// file's own: do not modify it.
func (f *File) TensorInfos() []TensorInfo { return f.tensors }

// TensorInfo returns the info of the tensor named name.
func (f *File) TensorInfo(name string) (TensorInfo, bool) {
	i, ok := f.tIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	ti := f.tensors[i]
	ti.Dims, ti.Shape = slices.Clone(ti.Dims), slices.Clone(ti.Shape)
	return ti, true
}

// Names returns the tensor names in file order.
func (f *File) Names() []string {
	names := make([]string, len(f.tensors))
	for i := range f.tensors {
		names[i] = f.tensors[i].Name
	}
	return names
}

// Has reports whether the file holds a tensor named name.
func (f *File) Has(name string) bool {
	_, ok := f.tIndex[name]
	return ok
}

// Tensor returns the tensor named name, with its shape outermost first. Its
// Data aliases the file's memory (read-only, valid until Close).
func (f *File) Tensor(name string) (*tensor.Tensor, error) {
	i, ok := f.tIndex[name]
	if !ok {
		return nil, f.errorf("no tensor %q", name)
	}
	return f.tensor(&f.tensors[i])
}

func (f *File) tensor(ti *TensorInfo) (*tensor.Tensor, error) {
	if f.data == nil {
		return nil, f.errorf("tensor %q: file is closed", ti.Name)
	}
	d, ok := ti.Type.DType()
	if !ok {
		return nil, f.errorf("tensor %q has type %s, which limbic cannot load (supported: %s)", ti.Name, ti.Type, SupportedTypes)
	}
	lo := f.DataOffset + int64(ti.Offset)
	hi := lo + ti.Size
	return &tensor.Tensor{
		Name:  ti.Name,
		DType: d,
		Shape: append([]int{}, ti.Shape...),
		Data:  f.data[lo:hi:hi],
	}, nil
}

// Tensors returns every tensor in file order. It fails when a tensor has a
// type limbic cannot load.
func (f *File) Tensors() ([]*tensor.Tensor, error) {
	out := make([]*tensor.Tensor, 0, len(f.tensors))
	for i := range f.tensors {
		t, err := f.tensor(&f.tensors[i])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func (f *File) errorf(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if f.path != "" {
		return errors.New("gguf: " + f.path + ": " + msg)
	}
	return errors.New("gguf: " + msg)
}
