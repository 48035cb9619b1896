package gguf

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/internal/testref"
)

// FuzzParse parses arbitrary bytes as a GGUF file. It checks that parsing
// never panics (nor allocates without bound: counts are checked against the
// input's size), that an accepted file is self-consistent, and that the
// loadable part of it survives a Writer round trip unchanged. Minimising a
// new input of kilobytes takes seconds, so run it as
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 10s -fuzzminimizetime 50x
func FuzzParse(f *testing.F) {
	// A file with every metadata type and tensor type.
	w := NewWriter()
	for _, kv := range allKVs {
		w.AddKV(kv.Key, kv.Value)
	}
	for _, t := range allTensors() {
		w.AddTensor(t)
	}
	var buf bytes.Buffer
	w.WriteTo(&buf)
	f.Add(buf.Bytes())
	// The metadata of the real files with arrays cut short, and the real
	// files cut after their tensor infos.
	for _, arch := range []string{"llama", "gpt2"} {
		b, err := os.ReadFile(testref.Path("synthetic", arch, "model-f32.gguf"))
		if err != nil {
			f.Fatal(err)
		}
		real, err := Parse(b)
		if err != nil {
			f.Fatal(err)
		}
		w := NewWriter()
		for _, kv := range real.KVs() {
			w.AddKV(kv.Key, shorten(kv.Value))
		}
		buf.Reset()
		w.WriteTo(&buf)
		f.Add(buf.Bytes())
		f.Add(b[:min(len(b), int(real.DataOffset), 4096)])
	}
	for _, bf := range badFiles {
		f.Add(bf.b)
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if err != nil {
			if file != nil {
				t.Fatalf("got a file and the error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "gguf: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		if file.DataOffset > int64(len(b)) || file.Alignment <= 0 {
			t.Fatalf("DataOffset %d, Alignment %d for a %d-byte file", file.DataOffset, file.Alignment, len(b))
		}
		if file.Alignment > 1<<16 {
			return // valid, but the rewrite would pad with up to 2 GiB of zeros
		}
		w := NewWriter()
		for _, kv := range file.KVs() {
			if v, ok := file.Value(kv.Key); !ok || !sameType(v, kv.Value) {
				t.Fatalf("Value(%q) does not give the pair's value", kv.Key)
			}
			if err := w.AddKV(kv.Key, kv.Value); err != nil {
				t.Fatalf("AddKV of a parsed pair: %v", err)
			}
		}
		for _, info := range file.TensorInfos() {
			if end := file.DataOffset + int64(info.Offset) + info.Size; end > int64(len(b)) {
				t.Fatalf("tensor %q ends at %d, past the %d-byte file", info.Name, end, len(b))
			}
			tt, err := file.Tensor(info.Name)
			if _, loadable := info.Type.DType(); !loadable {
				if err == nil {
					t.Fatalf("Tensor(%q) of type %v: got nil error", info.Name, info.Type)
				}
				continue
			}
			if err != nil {
				t.Fatalf("Tensor(%q): %v", info.Name, err)
			}
			if err := tt.Check(); err != nil {
				t.Fatalf("Tensor(%q) is inconsistent: %v", info.Name, err)
			}
			if len(tt.Shape) == 0 || len(info.Name) > MaxNameLen {
				continue // the writer stores scalars as [1] and refuses long names
			}
			if err := w.AddTensor(tt); err != nil {
				t.Fatalf("AddTensor of a parsed tensor: %v", err)
			}
		}
		var first, second bytes.Buffer
		if _, err := w.WriteTo(&first); err != nil {
			t.Fatal(err)
		}
		back, err := Parse(first.Bytes())
		if err != nil {
			t.Fatalf("Parse of the rewritten file: %v", err)
		}
		w2 := NewWriter()
		for _, kv := range back.KVs() {
			w2.AddKV(kv.Key, kv.Value)
		}
		ts, err := back.Tensors()
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range ts {
			w2.AddTensor(tt)
		}
		w2.WriteTo(&second)
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("write → parse → write is not stable")
		}
	})
}

func sameType(a, b any) bool {
	ta, ea, _ := TypeOf(a)
	tb, eb, _ := TypeOf(b)
	return ta == tb && ea == eb
}

// shorten cuts arrays to 8 elements.
func shorten(v any) any {
	switch a := v.(type) {
	case []string:
		return a[:min(len(a), 8)]
	case []float32:
		return a[:min(len(a), 8)]
	case []int32:
		return a[:min(len(a), 8)]
	}
	return v
}
