package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/testref"
)

// FuzzParseHeader parses arbitrary bytes as the start of a file whose data
// section is extra bytes longer than b. It checks that parsing never panics,
// that an accepted header is self-consistent and, when the whole file is in
// b, that every loadable tensor reads and survives an Encode/Parse round trip.
// Minimising a new input of kilobytes takes seconds, so run it as
//
//	go test -run '^$' -fuzz FuzzParseHeader -fuzztime 10s -fuzzminimizetime 50x
func FuzzParseHeader(f *testing.F) {
	// Real headers (the smaller ones), with the length of their data section.
	paths, _ := filepath.Glob(testref.Path("synthetic", "*", "*.safetensors"))
	more, _ := filepath.Glob(testref.Path("stories15m", "forward", "*.safetensors"))
	for _, p := range append(paths, more...) {
		b, err := os.ReadFile(p)
		if err != nil || len(b) < 8 {
			continue
		}
		n := binary.LittleEndian.Uint64(b)
		if n > uint64(len(b)-8) || n > 4096 {
			continue // large seeds stall the mutator
		}
		f.Add(b[:8+n], uint32(uint64(len(b))-8-n))
	}
	// Hand-made broken and valid files.
	for _, h := range badHeaders {
		f.Add(h.b, uint32(0))
	}
	f.Add(file(`{"__metadata__":{"a":"b"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"BOOL","shape":[1],"data_offsets":[8,9]}}`, make([]byte, 9)), uint32(0))
	f.Add(file(`{"s":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}`, []byte{1, 2}), uint32(0))

	f.Fuzz(func(t *testing.T, b []byte, extra uint32) {
		size := int64(len(b)) + int64(extra)
		h, err := ParseHeader(b, size)
		if err != nil {
			if h != nil {
				t.Fatalf("got a header and the error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		if h.DataStart < 8 || h.DataStart > size {
			t.Fatalf("DataStart %d outside [8, %d]", h.DataStart, size)
		}
		for i := range h.Tensors {
			ti := &h.Tensors[i]
			if ti.Begin < 0 || ti.Begin > ti.End || ti.End > size-h.DataStart {
				t.Fatalf("tensor %q: range [%d %d] outside the %d-byte data section", ti.Name, ti.Begin, ti.End, size-h.DataStart)
			}
			if got, ok := h.Lookup(ti.Name); !ok || got != ti {
				t.Fatalf("Lookup(%q) does not find the tensor", ti.Name)
			}
		}
		if extra != 0 {
			return
		}
		file, err := Parse(b)
		if err != nil {
			t.Fatalf("ParseHeader accepted what Parse rejects: %v", err)
		}
		var ts []*tensor.Tensor
		for _, name := range file.Names() {
			tt, err := file.Tensor(name)
			if err != nil {
				if ti, _ := file.Info(name); ti.DType != tensor.Invalid {
					t.Fatalf("Tensor(%q): %v", name, err)
				}
				continue
			}
			if err := tt.Check(); err != nil {
				t.Fatalf("Tensor(%q) is inconsistent: %v", name, err)
			}
			ts = append(ts, tt)
		}
		var buf bytes.Buffer
		if err := Encode(&buf, ts, file.Metadata); err != nil {
			t.Fatalf("Encode of parsed tensors: %v", err)
		}
		back, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("Parse of re-encoded file: %v", err)
		}
		for _, want := range ts {
			got, err := back.Tensor(want.Name)
			if err != nil {
				t.Fatal(err)
			}
			if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("tensor %q changed in the round trip", want.Name)
			}
		}
	})
}
