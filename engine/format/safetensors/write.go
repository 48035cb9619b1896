package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/atomicfile"
)

// Write writes tensors (in the given order) and meta to a safetensors file at
// path. It is atomic: the file is written to a temporary file in the same
// directory, fsynced and renamed over path; on error nothing is left at path
// (an existing file there is untouched) and the temporary is removed.
func Write(path string, tensors []*tensor.Tensor, meta map[string]string) error {
	header, err := EncodeHeader(tensors, meta)
	if err != nil {
		return err
	}
	err = atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		return writeData(w, header, tensors)
	})
	if err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	return nil
}

// Encode writes a safetensors file to w.
func Encode(w io.Writer, tensors []*tensor.Tensor, meta map[string]string) error {
	header, err := EncodeHeader(tensors, meta)
	if err != nil {
		return err
	}
	if err := writeData(w, header, tensors); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

func writeData(w io.Writer, header []byte, tensors []*tensor.Tensor) error {
	if _, err := w.Write(header); err != nil {
		return err
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// EncodeHeader returns the first part of a safetensors file for tensors and
// meta: the 8-byte length and the JSON header, padded with spaces to a
// multiple of 8 bytes. The tensors' data, concatenated in order, follows it.
func EncodeHeader(tensors []*tensor.Tensor, meta map[string]string) ([]byte, error) {
	b := make([]byte, 8, 256)
	b = append(b, '{')
	first := true
	if len(meta) > 0 {
		b = append(b, `"__metadata__":{`...)
		for i, k := range slices.Sorted(maps.Keys(meta)) {
			if !utf8.ValidString(k) || !utf8.ValidString(meta[k]) {
				return nil, fmt.Errorf("safetensors: metadata %q: keys and values must be valid UTF-8", k)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, meta[k])
		}
		b = append(b, '}')
		first = false
	}
	seen := make(map[string]bool, len(tensors))
	var off int64
	for i, t := range tensors {
		if t == nil {
			return nil, fmt.Errorf("safetensors: tensor %d is nil", i)
		}
		if t.Name == "__metadata__" {
			return nil, errors.New(`safetensors: a tensor cannot be named "__metadata__"`)
		}
		if !utf8.ValidString(t.Name) {
			return nil, fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", t.Name)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("safetensors: tensor %q given twice", t.Name)
		}
		seen[t.Name] = true
		name := dtypeName(t.DType)
		if name == "" {
			return nil, fmt.Errorf("safetensors: tensor %q: dtype %v has no safetensors equivalent", t.Name, t.DType)
		}
		if err := t.Check(); err != nil {
			return nil, fmt.Errorf("safetensors: %w", err)
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, t.Name)
		b = append(b, `:{"dtype":"`...)
		b = append(b, name...)
		b = append(b, `","shape":[`...)
		for j, s := range t.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(s), 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendInt(b, off, 10)
		b = append(b, ',')
		off += int64(len(t.Data))
		b = strconv.AppendInt(b, off, 10)
		b = append(b, "]}"...)
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	if len(b)-8 > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors: header of %d bytes exceeds the limit of %d", len(b)-8, MaxHeaderSize)
	}
	binary.LittleEndian.PutUint64(b, uint64(len(b)-8))
	return b, nil
}

// appendJSONString appends s, valid UTF-8, as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		return strconv.AppendQuote(b, s)
	}
	return append(b, q...)
}
