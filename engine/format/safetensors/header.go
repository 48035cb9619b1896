package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// MaxHeaderSize is the largest JSON header accepted (100 MB, as in the
// reference implementation).
const MaxHeaderSize = 100_000_000

// dtypeInfo describes one safetensors dtype.
type dtypeInfo struct {
	bits  int          // bits per element
	dtype tensor.DType // tensor.Invalid when limbic cannot hold it
}

var dtypes = map[string]dtypeInfo{
	"BOOL":    {8, tensor.Invalid},
	"U8":      {8, tensor.U8},
	"I8":      {8, tensor.I8},
	"F8_E5M2": {8, tensor.Invalid},
	"F8_E4M3": {8, tensor.Invalid},
	"F8_E8M0": {8, tensor.Invalid},
	"I16":     {16, tensor.Invalid},
	"U16":     {16, tensor.Invalid},
	"F16":     {16, tensor.F16},
	"BF16":    {16, tensor.BF16},
	"I32":     {32, tensor.I32},
	"U32":     {32, tensor.Invalid},
	"F32":     {32, tensor.F32},
	"F64":     {64, tensor.F64},
	"I64":     {64, tensor.I64},
	"U64":     {64, tensor.Invalid},
	"C64":     {64, tensor.Invalid},
	"F4":      {4, tensor.Invalid},
	"F6_E2M3": {6, tensor.Invalid},
	"F6_E3M2": {6, tensor.Invalid},
}

// dtypeName is the safetensors spelling of a tensor.DType, "" when the format
// has none (Q8_0).
func dtypeName(d tensor.DType) string {
	switch d {
	case tensor.F32, tensor.F16, tensor.BF16, tensor.F64, tensor.I64, tensor.I32, tensor.I8, tensor.U8:
		return d.String()
	}
	return ""
}

// supported lists the dtypes limbic loads, for error messages.
const supported = "F64, F32, F16, BF16, I64, I32, I8, U8"

// TensorInfo describes one tensor of a header.
type TensorInfo struct {
	Name string
	// DType is the element type, tensor.Invalid for a dtype of the format
	// that limbic cannot hold (see DTypeName).
	DType tensor.DType
	// DTypeName is the dtype as spelled in the file ("F32", "BOOL", ...).
	DTypeName string
	// Shape is outermost first.
	Shape []int
	// Begin and End are the data_offsets: the tensor's bytes are [Begin, End)
	// relative to the start of the data section.
	Begin, End int64
}

// Size returns the tensor's size in bytes.
func (ti *TensorInfo) Size() int64 { return ti.End - ti.Begin }

// Header is a parsed and validated safetensors header.
type Header struct {
	// Metadata is the __metadata__ object, nil when the file has none.
	Metadata map[string]string
	// Tensors lists the tensors in header order.
	Tensors []TensorInfo
	// DataStart is the file offset of the data section: 8 + header length.
	DataStart int64

	index map[string]int
}

// Lookup returns the tensor named name.
func (h *Header) Lookup(name string) (*TensorInfo, bool) {
	i, ok := h.index[name]
	if !ok {
		return nil, false
	}
	return &h.Tensors[i], true
}

// ParseHeader parses and validates the header of a safetensors file. b holds
// the start of the file, at least the 8-byte length and the JSON header (the
// whole file will do); fileSize is the size of the whole file, against which
// the data offsets are checked.
func ParseHeader(b []byte, fileSize int64) (*Header, error) {
	h, err := parseHeader(b, fileSize)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return h, nil
}

// entry is one tensor of the JSON header as written.
type entry struct {
	DType   *string       `json:"dtype"`
	Shape   []json.Number `json:"shape"`
	Offsets []json.Number `json:"data_offsets"`
}

func parseHeader(b []byte, fileSize int64) (*Header, error) {
	if fileSize < 8 {
		return nil, fmt.Errorf("file is %d bytes, too short for the 8-byte header length", fileSize)
	}
	if len(b) < 8 {
		return nil, fmt.Errorf("have %d bytes, need the 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(fileSize-8) {
		return nil, fmt.Errorf("header length %d runs past the end of the %d-byte file", n, fileSize)
	}
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("header length %d exceeds the limit of %d", n, MaxHeaderSize)
	}
	if uint64(len(b)-8) < n {
		return nil, fmt.Errorf("header length is %d but only %d header bytes were given", n, len(b)-8)
	}
	hb := b[8 : 8+n]
	dataStart := int64(8 + n)
	dataSize := fileSize - dataStart
	if !utf8.Valid(hb) {
		return nil, errors.New("header is not valid UTF-8")
	}
	if len(hb) == 0 || hb[0] != '{' {
		return nil, errors.New("header does not start with '{'")
	}

	dec := json.NewDecoder(bytes.NewReader(hb))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the '{' checked above
		return nil, fmt.Errorf("header JSON: %w", jsonError(err))
	}
	h := &Header{DataStart: dataStart, index: map[string]int{}}
	sawMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header JSON: %w", jsonError(err))
		}
		name, ok := tok.(string)
		if !ok { // cannot happen for a well-formed object; be safe
			return nil, fmt.Errorf("header JSON: unexpected %v", tok)
		}
		if name == "__metadata__" {
			if sawMeta {
				return nil, errors.New("__metadata__ appears twice")
			}
			sawMeta = true
			var meta map[string]*string // pointers to catch null values
			if err := dec.Decode(&meta); err != nil {
				return nil, fmt.Errorf("__metadata__ must be an object of strings: %w", jsonError(err))
			}
			if meta != nil {
				h.Metadata = make(map[string]string, len(meta))
				for k, v := range meta {
					if v == nil {
						return nil, fmt.Errorf("__metadata__ %q is null, want a string", k)
					}
					h.Metadata[k] = *v
				}
			}
			continue
		}
		if _, dup := h.index[name]; dup {
			return nil, fmt.Errorf("tensor %q appears twice", name)
		}
		var e entry
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, jsonError(err))
		}
		ti, err := checkEntry(name, &e, dataSize)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		h.index[name] = len(h.Tensors)
		h.Tensors = append(h.Tensors, ti)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("header JSON: %w", jsonError(err))
	}
	for _, c := range hb[dec.InputOffset():] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return nil, fmt.Errorf("header JSON: unexpected %q after the closing brace", c)
		}
	}
	if err := checkOverlap(h.Tensors); err != nil {
		return nil, err
	}
	return h, nil
}

// jsonError turns the decoder's bare EOF into a readable error.
func jsonError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("header JSON ends early")
	}
	return err
}

func checkEntry(name string, e *entry, dataSize int64) (TensorInfo, error) {
	ti := TensorInfo{Name: name}
	if e.DType == nil {
		return ti, errors.New(`missing "dtype"`)
	}
	info, ok := dtypes[*e.DType]
	if !ok {
		return ti, fmt.Errorf("unknown dtype %q", *e.DType)
	}
	ti.DTypeName, ti.DType = *e.DType, info.dtype
	if e.Shape == nil {
		return ti, errors.New(`missing "shape"`)
	}
	ti.Shape = make([]int, len(e.Shape))
	for i, s := range e.Shape {
		v, err := strconv.ParseInt(s.String(), 10, 64)
		if err != nil || v < 0 || int64(int(v)) != v {
			return ti, fmt.Errorf("shape %v: dimension %d (%s) is not a non-negative integer", e.Shape, i, s)
		}
		ti.Shape[i] = int(v)
	}
	if len(e.Offsets) != 2 {
		return ti, fmt.Errorf(`"data_offsets" must be [begin, end], got %v`, e.Offsets)
	}
	var off [2]int64
	for i, s := range e.Offsets {
		v, err := strconv.ParseUint(s.String(), 10, 64)
		if err != nil || v > math.MaxInt64 {
			return ti, fmt.Errorf("data_offsets %v: %s is not a non-negative integer", e.Offsets, s)
		}
		off[i] = int64(v)
	}
	ti.Begin, ti.End = off[0], off[1]
	if ti.Begin > ti.End {
		return ti, fmt.Errorf("data_offsets [%d %d] end before they begin", ti.Begin, ti.End)
	}
	if ti.End > dataSize {
		return ti, fmt.Errorf("data_offsets [%d %d] run past the end of the %d-byte data section", ti.Begin, ti.End, dataSize)
	}
	need, ok := byteSize(ti.Shape, info.bits)
	if !ok {
		return ti, fmt.Errorf("%s %v: size does not fit in a file (or is not a whole number of bytes)", ti.DTypeName, ti.Shape)
	}
	if have := ti.End - ti.Begin; have != need {
		return ti, fmt.Errorf("data_offsets [%d %d] hold %d bytes, %s %v needs %d", ti.Begin, ti.End, have, ti.DTypeName, ti.Shape, need)
	}
	return ti, nil
}

// byteSize returns the number of bytes of a tensor of shape with bitsPer bits
// per element; ok is false when it overflows or is not a whole byte count.
func byteSize(shape []int, bitsPer int) (int64, bool) {
	if slices.Contains(shape, 0) {
		return 0, true
	}
	n := uint64(1)
	for _, s := range shape {
		hi, lo := bits.Mul64(n, uint64(s))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	hi, nbits := bits.Mul64(n, uint64(bitsPer))
	if hi != 0 || nbits%8 != 0 || nbits/8 > math.MaxInt64 {
		return 0, false
	}
	return int64(nbits / 8), true
}

// checkOverlap reports two tensors whose non-empty byte ranges overlap.
func checkOverlap(ts []TensorInfo) error {
	order := make([]int, 0, len(ts))
	for i := range ts {
		if ts[i].End > ts[i].Begin {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(ts[a].Begin, ts[b].Begin); c != 0 {
			return c
		}
		return cmp.Compare(ts[a].End, ts[b].End)
	})
	for k := 1; k < len(order); k++ {
		p, q := &ts[order[k-1]], &ts[order[k]]
		if q.Begin < p.End {
			return fmt.Errorf("tensors %q [%d %d] and %q [%d %d] overlap", p.Name, p.Begin, p.End, q.Name, q.Begin, q.End)
		}
	}
	return nil
}
