package gguf

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// Magic is the first four bytes of a GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the alignment of tensor data when general.alignment is
// absent.
const DefaultAlignment = 32

// MaxDims is the most dimensions a tensor may have (GGML_MAX_DIMS).
const MaxDims = 4

// Minimum encoded sizes, used to reject counts that cannot fit in the file
// before anything is allocated.
const (
	minKVSize     = 8 + 4 + 1     // key length, type, smallest value
	minTensorInfo = 8 + 4 + 4 + 8 // name length, n_dims, type, offset
)

// maxPrealloc caps the capacity allocated from a count read from the file.
const maxPrealloc = 1024

// decoder reads little-endian values from b, tracking the offset.
type decoder struct {
	b   []byte
	off int
}

func (d *decoder) left() int { return len(d.b) - d.off }

// errShort is returned when a read runs past the end of the file.
func (d *decoder) errShort(n uint64, what string) error {
	return fmt.Errorf("at byte %d: %s needs %d bytes, only %d left in the file", d.off, what, n, d.left())
}

func (d *decoder) bytes(n uint64, what string) ([]byte, error) {
	if n > uint64(d.left()) {
		return nil, d.errShort(n, what)
	}
	b := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

func (d *decoder) u8(what string) (uint8, error) {
	b, err := d.bytes(1, what)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (d *decoder) u16(what string) (uint16, error) {
	b, err := d.bytes(2, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(b), nil
}

func (d *decoder) u32(what string) (uint32, error) {
	b, err := d.bytes(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	b, err := d.bytes(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (d *decoder) str(what string) (string, error) {
	start := d.off
	n, err := d.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(d.left()) {
		return "", fmt.Errorf("at byte %d: %s length %d runs past the end of the file (%d bytes left)", start, what, n, d.left())
	}
	b, _ := d.bytes(n, what)
	return string(b), nil
}

// header fields parsed from the start of the file.
type parsed struct {
	version    uint32
	kvs        []KV
	kvIndex    map[string]int
	alignment  int
	dataOffset int64
	tensors    []TensorInfo
	tIndex     map[string]int
}

func parse(b []byte) (*parsed, error) {
	d := &decoder{b: b}
	if len(b) < 4 {
		return nil, fmt.Errorf("file is %d bytes, too short for the GGUF magic", len(b))
	}
	if string(b[:4]) != Magic {
		return nil, fmt.Errorf("bad magic %q, want %q: not a GGUF file", b[:4], Magic)
	}
	d.off = 4
	version, err := d.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return nil, errors.New("GGUF version 1 is not supported (want 2 or 3)")
	case bits.ReverseBytes32(version) == 2 || bits.ReverseBytes32(version) == 3:
		return nil, fmt.Errorf("big-endian GGUF (version %d) is not supported", bits.ReverseBytes32(version))
	default:
		return nil, fmt.Errorf("unsupported GGUF version %d (want 2 or 3)", version)
	}
	nTensors, err := d.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64("metadata count")
	if err != nil {
		return nil, err
	}
	if nKV > uint64(d.left())/minKVSize {
		return nil, fmt.Errorf("metadata count %d cannot fit in the %d bytes left in the file", nKV, d.left())
	}
	if nTensors > uint64(d.left())/minTensorInfo {
		return nil, fmt.Errorf("tensor count %d cannot fit in the %d bytes left in the file", nTensors, d.left())
	}
	if nKV*minKVSize+nTensors*minTensorInfo > uint64(d.left()) {
		return nil, fmt.Errorf("%d metadata pairs and %d tensor infos cannot fit in the %d bytes left in the file", nKV, nTensors, d.left())
	}

	// Counts only bound what is preallocated: the slices grow as entries are
	// actually read, so a corrupt count in a large file cannot allocate more
	// than the entries present.
	p := &parsed{version: version, kvIndex: make(map[string]int, min(nKV, maxPrealloc)), alignment: DefaultAlignment}
	p.kvs = make([]KV, 0, min(nKV, maxPrealloc))
	for i := range nKV {
		start := d.off
		key, err := d.str(fmt.Sprintf("key of metadata pair %d", i))
		if err != nil {
			return nil, err
		}
		if _, dup := p.kvIndex[key]; dup {
			return nil, fmt.Errorf("at byte %d: metadata key %q appears twice", start, key)
		}
		t, err := d.u32(fmt.Sprintf("type of key %q", key))
		if err != nil {
			return nil, err
		}
		v, err := d.value(ValueType(t))
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		p.kvIndex[key] = len(p.kvs)
		p.kvs = append(p.kvs, KV{Key: key, Value: v})
	}
	if i, ok := p.kvIndex[KeyAlignment]; ok {
		a, ok := p.kvs[i].Value.(uint32)
		if !ok {
			return nil, fmt.Errorf("%s holds %s, want uint32", KeyAlignment, typeString(p.kvs[i].Value))
		}
		if a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("%s is %d, want a power of two", KeyAlignment, a)
		}
		p.alignment = int(a)
	}

	p.tensors = make([]TensorInfo, 0, min(nTensors, maxPrealloc))
	p.tIndex = make(map[string]int, min(nTensors, maxPrealloc))
	for i := range nTensors {
		ti, err := d.tensorInfo(i)
		if err != nil {
			return nil, err
		}
		if _, dup := p.tIndex[ti.Name]; dup {
			return nil, fmt.Errorf("tensor %q appears twice", ti.Name)
		}
		p.tIndex[ti.Name] = len(p.tensors)
		p.tensors = append(p.tensors, ti)
	}

	// The data section starts at the next multiple of the alignment. A file
	// without tensor data may end before it.
	start := uint64(d.off)
	if r := start % uint64(p.alignment); r != 0 {
		start += uint64(p.alignment) - r
	}
	p.dataOffset = int64(min(start, uint64(len(b))))
	dataSize := uint64(len(b)) - uint64(p.dataOffset)
	for i := range p.tensors {
		ti := &p.tensors[i]
		if ti.Offset%uint64(p.alignment) != 0 {
			return nil, fmt.Errorf("tensor %q: offset %d is not a multiple of the alignment %d", ti.Name, ti.Offset, p.alignment)
		}
		if ti.Offset > dataSize || uint64(ti.Size) > dataSize-ti.Offset {
			return nil, fmt.Errorf("tensor %q: data [%d, %d) runs past the end of the %d-byte data section (file offset %d)",
				ti.Name, ti.Offset, ti.Offset+uint64(ti.Size), dataSize, p.dataOffset)
		}
	}
	if err := checkOverlap(p.tensors); err != nil {
		return nil, err
	}
	return p, nil
}

// value reads a metadata value of type t.
func (d *decoder) value(t ValueType) (any, error) {
	what := t.String() + " value"
	switch t {
	case TypeUint8:
		return d.u8(what)
	case TypeInt8:
		v, err := d.u8(what)
		return int8(v), err
	case TypeUint16:
		return d.u16(what)
	case TypeInt16:
		v, err := d.u16(what)
		return int16(v), err
	case TypeUint32:
		return d.u32(what)
	case TypeInt32:
		v, err := d.u32(what)
		return int32(v), err
	case TypeFloat32:
		v, err := d.u32(what)
		return math.Float32frombits(v), err
	case TypeBool:
		v, err := d.u8(what)
		return v != 0, err
	case TypeString:
		return d.str("string")
	case TypeUint64:
		return d.u64(what)
	case TypeInt64:
		v, err := d.u64(what)
		return int64(v), err
	case TypeFloat64:
		v, err := d.u64(what)
		return math.Float64frombits(v), err
	case TypeArray:
		return d.array()
	}
	return nil, fmt.Errorf("at byte %d: unknown value type %d", d.off-4, uint32(t))
}

// array reads an array value: element type, count, elements.
func (d *decoder) array() (any, error) {
	start := d.off
	et, err := d.u32("array element type")
	if err != nil {
		return nil, err
	}
	elem := ValueType(et)
	n, err := d.u64("array length")
	if err != nil {
		return nil, err
	}
	size := elem.size()
	switch {
	case elem == TypeArray:
		return nil, fmt.Errorf("at byte %d: arrays of arrays are not supported", start)
	case size < 0:
		return nil, fmt.Errorf("at byte %d: unknown array element type %d", start, et)
	case size == 0: // strings: at least their 8-byte length each
		size = 8
	}
	if n > uint64(d.left())/uint64(size) {
		return nil, fmt.Errorf("at byte %d: array of %d %s cannot fit in the %d bytes left in the file", start, n, elem, d.left())
	}
	if elem == TypeString {
		out := make([]string, 0, min(n, maxPrealloc))
		for i := range n {
			s, err := d.str("string")
			if err != nil {
				return nil, fmt.Errorf("array element %d: %w", i, err)
			}
			out = append(out, s)
		}
		return out, nil
	}
	// The elements are all present (checked above): allocating them costs no
	// more than the bytes they occupy in the file.
	raw, _ := d.bytes(n*uint64(size), "array")
	return decodeArray(elem, raw, int(n)), nil
}

// decodeArray converts n fixed-size little-endian elements of type elem.
func decodeArray(elem ValueType, raw []byte, n int) any {
	le := binary.LittleEndian
	switch elem {
	case TypeUint8:
		return slices.Clone(raw)
	case TypeInt8:
		return convert(n, func(i int) int8 { return int8(raw[i]) })
	case TypeBool:
		return convert(n, func(i int) bool { return raw[i] != 0 })
	case TypeUint16:
		return convert(n, func(i int) uint16 { return le.Uint16(raw[2*i:]) })
	case TypeInt16:
		return convert(n, func(i int) int16 { return int16(le.Uint16(raw[2*i:])) })
	case TypeUint32:
		return convert(n, func(i int) uint32 { return le.Uint32(raw[4*i:]) })
	case TypeInt32:
		return convert(n, func(i int) int32 { return int32(le.Uint32(raw[4*i:])) })
	case TypeFloat32:
		return convert(n, func(i int) float32 { return math.Float32frombits(le.Uint32(raw[4*i:])) })
	case TypeUint64:
		return convert(n, func(i int) uint64 { return le.Uint64(raw[8*i:]) })
	case TypeInt64:
		return convert(n, func(i int) int64 { return int64(le.Uint64(raw[8*i:])) })
	case TypeFloat64:
		return convert(n, func(i int) float64 { return math.Float64frombits(le.Uint64(raw[8*i:])) })
	}
	return nil
}

func convert[T any](n int, f func(int) T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// tensorInfo reads the i-th tensor info.
func (d *decoder) tensorInfo(i uint64) (TensorInfo, error) {
	var ti TensorInfo
	name, err := d.str(fmt.Sprintf("name of tensor %d", i))
	if err != nil {
		return ti, err
	}
	ti.Name = name
	fail := func(format string, args ...any) (TensorInfo, error) {
		return ti, fmt.Errorf("tensor %q: %s", name, fmt.Sprintf(format, args...))
	}
	nd, err := d.u32("dimension count")
	if err != nil {
		return fail("%v", err)
	}
	if nd > MaxDims {
		return fail("%d dimensions, at most %d are allowed", nd, MaxDims)
	}
	ti.Dims = make([]uint64, nd)
	for j := range ti.Dims {
		v, err := d.u64("dimension")
		if err != nil {
			return fail("%v", err)
		}
		if v > math.MaxInt {
			return fail("dimension %d is %d, more than the maximum %d", j, v, math.MaxInt)
		}
		ti.Dims[j] = v
	}
	t, err := d.u32("type")
	if err != nil {
		return fail("%v", err)
	}
	ti.Type = GGMLType(t)
	if ti.Offset, err = d.u64("data offset"); err != nil {
		return fail("%v", err)
	}
	info, ok := ggmlTypes[ti.Type]
	if !ok {
		return fail("unknown ggml type id %d", t)
	}
	numel, ok := product(ti.Dims)
	if !ok {
		return fail("dimensions %v overflow", ti.Dims)
	}
	if nd > 0 && ti.Dims[0]%uint64(info.blockSize) != 0 {
		return fail("first dimension %d is not a multiple of the %s block size %d", ti.Dims[0], info.name, info.blockSize)
	}
	if nd == 0 && info.blockSize != 1 {
		return fail("a scalar cannot be %s", info.name)
	}
	hi, size := bits.Mul64(numel/uint64(info.blockSize), uint64(info.typeSize))
	if hi != 0 || size > math.MaxInt64 {
		return fail("%s %v is too large", info.name, ti.Dims)
	}
	ti.Size = int64(size)
	ti.Shape = make([]int, nd)
	for j, v := range ti.Dims {
		ti.Shape[int(nd)-1-j] = int(v)
	}
	return ti, nil
}

// product multiplies dims; ok is false when the product exceeds MaxInt64.
func product(dims []uint64) (uint64, bool) {
	if slices.Contains(dims, 0) {
		return 0, true
	}
	n := uint64(1)
	for _, v := range dims {
		hi, lo := bits.Mul64(n, v)
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	return n, true
}

// checkOverlap reports two tensors whose non-empty data ranges overlap.
func checkOverlap(ts []TensorInfo) error {
	order := make([]int, 0, len(ts))
	for i := range ts {
		if ts[i].Size > 0 {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ts[a].Offset, ts[b].Offset) })
	for k := 1; k < len(order); k++ {
		p, q := &ts[order[k-1]], &ts[order[k]]
		if q.Offset < p.Offset+uint64(p.Size) {
			return fmt.Errorf("tensors %q [%d, %d) and %q [%d, %d) overlap", p.Name, p.Offset, p.Offset+uint64(p.Size), q.Name, q.Offset, q.Offset+uint64(q.Size))
		}
	}
	return nil
}
