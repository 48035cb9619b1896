package gguf

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/testref"
)

// quantFiles are the twelve quantised files of the shared llama.cpp
// reference (testdata/reference/quant/README.md).
var quantFiles = []string{"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"}

// sharedQuantDir returns the full llama.cpp quant reference (twelve model
// files and dequantised rows), or "" when this machine does not have it.
func sharedQuantDir() string {
	d := os.Getenv("LIMBIC_QUANT_REF")
	if d == "" {
		d = "/work/shared/reference/quant"
	}
	if _, err := os.Stat(filepath.Join(d, "model-Q4_0.gguf")); err != nil {
		return ""
	}
	return d
}

// quantRefRows is how many rows of each tensor the compact testdata keeps.
const quantRefRows = 4

// TestMakeQuantRef writes testdata/reference/quant/blocks.gguf from the
// shared reference: for each file and each quantised type in it, the first
// quantRefRows rows of one tensor as stored ("FILE/NAME"), as llama.cpp's
// gguf-py dequantises them ("FILE/NAME.want", F32) and as they are in the
// f32 model that llama-quantize quantised ("FILE/NAME.f32"). Run with
// LIMBIC_MAKE_QUANTREF=1.
func TestMakeQuantRef(t *testing.T) {
	if os.Getenv("LIMBIC_MAKE_QUANTREF") == "" {
		t.Skip("set LIMBIC_MAKE_QUANTREF=1 to regenerate testdata/reference/quant/blocks.gguf")
	}
	dir := sharedQuantDir()
	if dir == "" {
		t.Fatal("no shared quant reference")
	}
	src, err := Open(filepath.Join(dir, "model-f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	w := NewWriter()
	for _, name := range quantFiles {
		f, err := Open(filepath.Join(dir, "model-"+name+".gguf"))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[GGMLType]bool{}
		for _, ti := range f.TensorInfos() {
			if ti.Type == F32 || seen[ti.Type] {
				continue
			}
			seen[ti.Type] = true
			q, err := f.Tensor(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			cols := q.Shape[len(q.Shape)-1]
			nb, _ := q.DType.Bytes(cols)
			raw := &tensor.Tensor{Name: name + "/" + ti.Name, DType: q.DType, Shape: []int{quantRefRows, cols}, Data: append([]byte(nil), q.Data[:quantRefRows*nb]...)}
			want := dequantRef(t, dir, name, ti.Name)
			if err := w.AddTensor(raw); err != nil {
				t.Fatal(err)
			}
			if err := w.AddTensor(tensor.FromF32(raw.Name+".want", raw.Shape, want[:quantRefRows*cols])); err != nil {
				t.Fatal(err)
			}
			st, err := src.Tensor(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			sv, err := st.F32()
			if err != nil {
				t.Fatal(err)
			}
			if err := w.AddTensor(tensor.FromF32(raw.Name+".f32", raw.Shape, sv[:quantRefRows*cols])); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
	}
	if err := w.WriteFile(testref.Path("quant", "blocks.gguf")); err != nil {
		t.Fatal(err)
	}
}

// dequantRef reads the reference dequantisation (rows 0..31) of one tensor.
func dequantRef(t *testing.T, dir, file, name string) []float32 {
	t.Helper()
	sf, err := safetensors.Open(filepath.Join(dir, "dequant-"+file+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	rt, err := sf.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := rt.F32()
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), v...)
}

// checkBits compares got with want bit for bit.
func checkBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad < 3 {
				t.Errorf("%s[%d] = %g (%#x), want %g (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(got))
	}
}

// TestDequantBlocks checks every block type's dequantisation bit for bit
// against llama.cpp's, on the compact testdata.
func TestDequantBlocks(t *testing.T) {
	f, err := Open(testref.Path("quant", "blocks.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	types := map[tensor.DType]bool{}
	for _, ti := range f.TensorInfos() {
		if strings.HasSuffix(ti.Name, ".want") || strings.HasSuffix(ti.Name, ".f32") {
			continue
		}
		q, err := f.Tensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := f.Tensor(ti.Name + ".want")
		if err != nil {
			t.Fatal(err)
		}
		wv, _ := want.F32()
		got, err := q.F32()
		if err != nil {
			t.Fatal(err)
		}
		checkBits(t, fmt.Sprintf("%s (%v)", ti.Name, q.DType), got, wv)
		types[q.DType] = true
	}
	for _, d := range tensor.QuantTypes {
		if !types[d] {
			t.Errorf("no reference blocks of %v", d)
		}
	}
}

// TestDequantShared checks rows 0..31 of every quantised tensor of the
// twelve shared files (skipped where the shared reference is absent).
func TestDequantShared(t *testing.T) {
	dir := sharedQuantDir()
	if dir == "" {
		t.Skip("shared quant reference not present (set LIMBIC_QUANT_REF)")
	}
	for _, name := range quantFiles {
		t.Run(name, func(t *testing.T) {
			f, err := Open(filepath.Join(dir, "model-"+name+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			n := 0
			for _, ti := range f.TensorInfos() {
				if ti.Type == F32 {
					continue
				}
				q, err := f.Tensor(ti.Name)
				if err != nil {
					t.Fatal(err)
				}
				want := dequantRef(t, dir, name, ti.Name)
				got := make([]float32, len(want))
				if err := tensor.Dequant(q.DType, got, q.Data); err != nil {
					t.Fatal(err)
				}
				checkBits(t, ti.Name, got, want)
				n++
			}
			if n < 16 {
				t.Errorf("%d quantised tensors checked, want 16", n)
			}
		})
	}
}

// quantizable lists the types tensor.Quantize writes.
var quantizable = []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K}

// TestQuantizeBlocks checks tensor.Quantize against llama-quantize's output
// for the same f32 rows, byte for byte, on the compact testdata.
func TestQuantizeBlocks(t *testing.T) {
	f, err := Open(testref.Path("quant", "blocks.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := map[tensor.DType]int{}
	for _, ti := range f.TensorInfos() {
		if strings.Contains(ti.Name, ".") && (strings.HasSuffix(ti.Name, ".want") || strings.HasSuffix(ti.Name, ".f32")) {
			continue
		}
		q, err := f.Tensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(quantizable, q.DType) {
			continue
		}
		src, err := f.Tensor(ti.Name + ".f32")
		if err != nil {
			t.Fatal(err)
		}
		v, _ := src.F32()
		got, err := tensor.Quantize(q.DType, v)
		if err != nil {
			t.Fatal(err)
		}
		checkBytes(t, ti.Name, got, q.Data)
		done[q.DType]++
	}
	for _, d := range quantizable {
		if done[d] == 0 {
			t.Errorf("no reference rows of %v", d)
		}
	}
}

// TestQuantizeShared quantises every tensor of the shared f32 model to the
// type llama-quantize chose for it in the Q4_0, Q4_K_M, Q6_K and Q8_0 files
// and compares the bytes (skipped where the shared reference is absent).
func TestQuantizeShared(t *testing.T) {
	dir := sharedQuantDir()
	if dir == "" {
		t.Skip("shared quant reference not present (set LIMBIC_QUANT_REF)")
	}
	src, err := Open(filepath.Join(dir, "model-f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, name := range []string{"Q4_0", "Q4_K_M", "Q6_K", "Q8_0"} {
		f, err := Open(filepath.Join(dir, "model-"+name+".gguf"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ti := range f.TensorInfos() {
			if ti.Type == F32 {
				continue
			}
			q, _ := f.Tensor(ti.Name)
			s, err := src.Tensor(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := s.F32()
			got, err := tensor.Quantize(q.DType, v)
			if err != nil {
				t.Fatalf("%s %s: %v", name, ti.Name, err)
			}
			checkBytes(t, name+" "+ti.Name, got, q.Data)
			n++
		}
		f.Close()
		if n != 16 {
			t.Errorf("%s: %d tensors compared, want 16", name, n)
		}
	}
}

func checkBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d bytes, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if got[i] != want[i] {
			n := 0
			for j := range got {
				if got[j] != want[j] {
					n++
				}
			}
			t.Errorf("%s: %d of %d bytes differ, first at %d: %#x, want %#x", what, n, len(got), i, got[i], want[i])
			return
		}
	}
}
