package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/testref"
)

func TestOpenStories15MForward(t *testing.T) {
	paths, err := filepath.Glob(testref.Path("stories15m", "forward", "prompt-*.safetensors"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no reference files (err %v)", err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			f, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Metadata["prompt"] == "" {
				t.Errorf("Metadata[prompt] is empty; metadata = %v", f.Metadata)
			}
			if f.Header().DataStart%8 != 0 {
				t.Errorf("DataStart = %d, want a multiple of 8", f.Header().DataStart)
			}
			tok, err := f.Tensor("tokens")
			if err != nil {
				t.Fatal(err)
			}
			ids, err := tok.Ints()
			if err != nil {
				t.Fatal(err)
			}
			if tok.DType != tensor.I32 || len(tok.Shape) != 1 || ids[0] != 1 {
				t.Errorf("tokens: got %v %v starting %v, want I32 [T] starting with BOS 1", tok.DType, tok.Shape, ids[:1])
			}
			T := tok.Shape[0]
			for l := range 6 {
				r, err := f.Tensor("resid." + string(rune('0'+l)))
				if err != nil {
					t.Fatal(err)
				}
				if want := []int{T, 288}; r.DType != tensor.F32 || !slices.Equal(r.Shape, want) {
					t.Errorf("%s: got %v %v, want F32 %v", r.Name, r.DType, r.Shape, want)
				}
				if p := uintptr(unsafe.Pointer(&r.Data[0])); p%4 != 0 {
					t.Errorf("%s: data at %#x is not 4-byte aligned", r.Name, p)
				}
			}
			lg, err := f.Tensor("logits")
			if err != nil {
				t.Fatal(err)
			}
			v, err := lg.F32()
			if err != nil {
				t.Fatal(err)
			}
			if lg.Shape[1] != 32000 || len(v) != lg.Shape[0]*32000 {
				t.Errorf("logits: shape %v, %d values", lg.Shape, len(v))
			}
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("logits hold a non-finite value %v", x)
				}
			}
		})
	}
}

func TestOpenSyntheticModel(t *testing.T) {
	p := testref.Path("synthetic", "llama", "model.safetensors")
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, want := f.Metadata, map[string]string{"format": "pt"}; !mapsEqual(got, want) {
		t.Errorf("Metadata = %v, want %v", got, want)
	}
	names := f.Names()
	if want := []string{"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"}; !slices.Equal(names[:3], want) {
		t.Errorf("Names()[:3] = %v, want header order %v", names[:3], want)
	}
	emb, err := f.Tensor("model.embed_tokens.weight")
	if err != nil {
		t.Fatal(err)
	}
	if emb.DType != tensor.BF16 || !slices.Equal(emb.Shape, []int{256, 64}) {
		t.Errorf("embedding: got %v %v, want BF16 [256 64]", emb.DType, emb.Shape)
	}
	all, err := f.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(names) {
		t.Errorf("Tensors() gave %d tensors, Names() %d", len(all), len(names))
	}
	for i, tt := range all {
		if tt.Name != names[i] {
			t.Errorf("Tensors()[%d] = %q, want %q", i, tt.Name, names[i])
		}
		if err := tt.Check(); err != nil {
			t.Error(err)
		}
	}
	if _, err := f.Tensor("nope"); err == nil || !strings.Contains(err.Error(), `no tensor "nope"`) || !strings.Contains(err.Error(), p) {
		t.Errorf("Tensor(nope): err = %v, want one naming the tensor and the file", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Tensor("model.norm.weight"); err == nil {
		t.Errorf("Tensor after Close: got nil error")
	}
}

// TestRewriteIsByteExact writes the tensors of a file produced by the Python
// reference writer back out and expects the very same bytes.
func TestRewriteIsByteExact(t *testing.T) {
	for _, arch := range []string{"llama", "gpt2"} {
		p := testref.Path("synthetic", arch, "model.safetensors")
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(want)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := f.Tensors()
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := Encode(&got, ts, f.Metadata); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			n := binary.LittleEndian.Uint64(want)
			t.Errorf("%s: rewritten file differs (%d bytes, want %d); header\n got %q\nwant %q", arch, got.Len(), len(want),
				got.Bytes()[8:min(got.Len(), 8+int(n))], want[8:8+n])
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestWriteRoundTrip(t *testing.T) {
	f64 := make([]byte, 16)
	binary.LittleEndian.PutUint64(f64, math.Float64bits(math.Pi))
	binary.LittleEndian.PutUint64(f64[8:], math.Float64bits(-1))
	in := []*tensor.Tensor{
		{Name: "bf16", DType: tensor.BF16, Shape: []int{3}, Data: []byte{1, 2, 3, 4, 5, 6}},
		tensor.FromF32("f32", []int{2, 2}, []float32{1, 2, 3, 4}),
		{Name: "f64", DType: tensor.F64, Shape: []int{2}, Data: f64},
		{Name: "f16", DType: tensor.F16, Shape: []int{1, 1}, Data: []byte{0, 0x3c}},
		tensor.FromI32("i32", []int{}, []int{-7}),
		{Name: "i64", DType: tensor.I64, Shape: []int{1}, Data: []byte{1, 0, 0, 0, 0, 0, 0, 0x80}},
		{Name: "i8", DType: tensor.I8, Shape: []int{2}, Data: []byte{0xff, 1}},
		{Name: "u8", DType: tensor.U8, Shape: []int{0, 5}, Data: []byte{}},
		{Name: "ünï \"quoted\" <name>", DType: tensor.U8, Shape: []int{1}, Data: []byte{42}},
	}
	meta := map[string]string{"format": "pt", "note": "a \"quoted\"\nline"}
	p := filepath.Join(t.TempDir(), "x.safetensors")
	if err := Write(p, in, meta); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Header().DataStart%8 != 0 {
		t.Errorf("DataStart = %d, want a multiple of 8", f.Header().DataStart)
	}
	if !mapsEqual(f.Metadata, meta) {
		t.Errorf("Metadata = %q, want %q", f.Metadata, meta)
	}
	var names []string
	for _, w := range in {
		names = append(names, w.Name)
	}
	if got := f.Names(); !slices.Equal(got, names) {
		t.Errorf("Names() = %q, want %q", got, names)
	}
	for _, w := range in {
		g, err := f.Tensor(w.Name)
		if err != nil {
			t.Fatal(err)
		}
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("%q: got %v %v %v, want %v %v %v", w.Name, g.DType, g.Shape, g.Data, w.DType, w.Shape, w.Data)
		}
	}
	// No temporary left beside the file.
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(ents))
	}
}

func TestWriteEmpty(t *testing.T) {
	p := filepath.Join(t.TempDir(), "empty.safetensors")
	if err := Write(p, nil, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.Names()) != 0 || f.Metadata != nil {
		t.Errorf("got names %v, metadata %v; want none", f.Names(), f.Metadata)
	}
}

func TestWriteErrors(t *testing.T) {
	ok := tensor.FromF32("a", []int{1}, []float32{1})
	tests := []struct {
		name    string
		tensors []*tensor.Tensor
		meta    map[string]string
		want    string
	}{
		{"q8_0", []*tensor.Tensor{{Name: "q", DType: tensor.Q8_0, Shape: []int{32}, Data: make([]byte, 34)}}, nil, "no safetensors equivalent"},
		{"duplicate", []*tensor.Tensor{ok, ok}, nil, `"a" given twice`},
		{"short data", []*tensor.Tensor{{Name: "s", DType: tensor.F32, Shape: []int{2}, Data: make([]byte, 4)}}, nil, "needs 8 bytes, have 4"},
		{"negative", []*tensor.Tensor{{Name: "n", DType: tensor.F32, Shape: []int{-1}}}, nil, "negative dimension"},
		{"metadata name", []*tensor.Tensor{{Name: "__metadata__", DType: tensor.U8, Shape: []int{0}}}, nil, "__metadata__"},
		{"nil", []*tensor.Tensor{nil}, nil, "tensor 0 is nil"},
		{"bad utf8 name", []*tensor.Tensor{{Name: "\xff", DType: tensor.U8, Shape: []int{0}}}, nil, "UTF-8"},
		{"bad utf8 meta", nil, map[string]string{"k": "\xfe"}, "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "x.safetensors")
			err := Write(p, tc.tensors, tc.meta)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("failed Write left %d entries in the directory", len(ents))
			}
		})
	}
	// Writing into a missing directory fails and creates nothing.
	if err := Write(filepath.Join(t.TempDir(), "no", "x.safetensors"), []*tensor.Tensor{ok}, nil); err == nil {
		t.Errorf("Write into a missing directory: got nil error")
	}
	// A failed write leaves an existing file untouched.
	dir := t.TempDir()
	p := filepath.Join(dir, "x.safetensors")
	os.WriteFile(p, []byte("old"), 0o644)
	if err := Write(p, []*tensor.Tensor{ok, ok}, nil); err == nil {
		t.Fatal("Write with a duplicate: got nil error")
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("existing file changed to %q", b)
	}
}

// file assembles a safetensors file from a header and a data section.
func file(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

var d16 = make([]byte, 16)

var badHeaders = []struct {
	name string
	b    []byte
	want string
}{
	{"empty", nil, "too short for the 8-byte header length"},
	{"short length", []byte{1, 0, 0}, "too short"},
	{"length past end", binary.LittleEndian.AppendUint64(nil, 100), "header length 100 runs past the end of the 8-byte file"},
	{"huge length", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "runs past the end"},
	{"not an object", file(`[1,2]`, nil), "does not start with '{'"},
	{"bad json", file(`{"a":{"dtype":"F32",}}`, nil), `tensor "a"`},
	{"truncated json", file(`{"a":`, nil), `tensor "a": header JSON ends early`},
	{"truncated object", file(`{"a":{"dtype":"F32"`, nil), "ends early"},
	{"unclosed", file(`{`, nil), "ends early"},
	{"leading whitespace", file(` {}`, nil), "does not start with '{'"},
	{"trailing junk", file(`{} x`, nil), "after the closing brace"},
	{"two objects", file(`{}{}`, nil), "after the closing brace"},
	{"invalid utf8", file("{\"\xff\":1}", nil), "UTF-8"},
	{"metadata not strings", file(`{"__metadata__":{"a":1}}`, nil), "__metadata__ must be an object of strings"},
	{"metadata null value", file(`{"__metadata__":{"a":null}}`, nil), `__metadata__ "a" is null`},
	{"metadata twice", file(`{"__metadata__":{},"__metadata__":{}}`, nil), "__metadata__ appears twice"},
	{"unknown dtype", file(`{"w":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}`, d16), `tensor "w": unknown dtype "F17"`},
	{"lowercase dtype", file(`{"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}`, d16), `unknown dtype "f32"`},
	{"missing dtype", file(`{"w":{"shape":[1],"data_offsets":[0,4]}}`, d16), `missing "dtype"`},
	{"missing shape", file(`{"w":{"dtype":"F32","data_offsets":[0,4]}}`, d16), `missing "shape"`},
	{"missing offsets", file(`{"w":{"dtype":"F32","shape":[1]}}`, d16), `"data_offsets" must be [begin, end]`},
	{"three offsets", file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, d16), `must be [begin, end]`},
	{"entry not object", file(`{"w":3}`, d16), `tensor "w"`},
	{"negative dim", file(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, d16), "dimension 0 (-1) is not a non-negative integer"},
	{"fractional dim", file(`{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, d16), "(1.5) is not a non-negative integer"},
	{"huge dim", file(`{"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}`, d16), "is not a non-negative integer"},
	{"overflowing shape", file(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, d16), "size does not fit"},
	{"negative offset", file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, d16), "-4 is not a non-negative integer"},
	{"begin after end", file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}`, d16), "data_offsets [8 4] end before they begin"},
	{"past end", file(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[4,20]}}`, d16), "data_offsets [4 20] run past the end of the 16-byte data section"},
	{"size mismatch", file(`{"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}`, d16), `tensor "x": data_offsets [0 12] hold 12 bytes, F32 [2 2] needs 16`},
	{"sub-byte remainder", file(`{"x":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, d16), "not a whole number of bytes"},
	{"duplicate", file(`{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, d16), `tensor "x" appears twice`},
	{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, d16), `tensors "a" [0 8] and "b" [4 12] overlap`},
	{"nested overlap", file(`{"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},"b":{"dtype":"U8","shape":[1],"data_offsets":[5,6]}}`, d16), "overlap"},
}

func TestParseHeaderErrors(t *testing.T) {
	for _, tc := range badHeaders {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHeader(tc.b, int64(len(tc.b)))
			if err == nil {
				t.Fatalf("got header %+v, want an error containing %q", h, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "safetensors: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want one starting %q containing %q", err, "safetensors: ", tc.want)
			}
		})
	}
}

func TestParseHeaderValid(t *testing.T) {
	d := make([]byte, 16)
	tests := []struct {
		name   string
		b      []byte
		tensor string
		dtype  tensor.DType
		shape  []int
	}{
		{"scalar", file(`{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, d), "s", tensor.F32, []int{}},
		{"zero size shares offset", file(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, d), "a", tensor.F32, []int{0}},
		{"null metadata", file(`{"__metadata__":null,"b":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}}`, d), "b", tensor.I8, []int{2}},
		{"unknown field ignored", file(`{"b":{"dtype":"I8","shape":[2],"data_offsets":[0,2],"extra":true}}`, d), "b", tensor.I8, []int{2}},
		{"trailing whitespace", file("{\n} \t\r\n", nil), "", 0, nil},
		{"bool parses", file(`{"m":{"dtype":"BOOL","shape":[2,2],"data_offsets":[0,4]}}`, d), "m", tensor.Invalid, []int{2, 2}},
		{"f4", file(`{"m":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]}}`, d), "m", tensor.Invalid, []int{2, 3}},
		{"gap and trailing data", file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}`, d), "a", tensor.U8, []int{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHeader(tc.b, int64(len(tc.b)))
			if err != nil {
				t.Fatal(err)
			}
			if tc.tensor == "" {
				return
			}
			ti, ok := h.Lookup(tc.tensor)
			if !ok {
				t.Fatalf("no tensor %q", tc.tensor)
			}
			if ti.DType != tc.dtype || !slices.Equal(ti.Shape, tc.shape) {
				t.Errorf("got %v %v, want %v %v", ti.DType, ti.Shape, tc.dtype, tc.shape)
			}
		})
	}
}

func TestUnsupportedDType(t *testing.T) {
	f, err := Parse(file(`{"mask":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}`, []byte{1, 0}))
	if err != nil {
		t.Fatal(err)
	}
	ti, _ := f.Info("mask")
	if ti.DTypeName != "BOOL" || ti.DType != tensor.Invalid {
		t.Errorf("Info = %+v, want BOOL/Invalid", ti)
	}
	_, err = f.Tensor("mask")
	want := `safetensors: tensor "mask" has dtype BOOL, which limbic cannot load (supported: F64, F32, F16, BF16, I64, I32, I8, U8)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	if _, err := f.Tensors(); err == nil {
		t.Errorf("Tensors(): got nil error")
	}
}

// TestUnalignedOffsets checks that a file whose data section is not aligned
// (a header that was not padded) still reads correctly.
func TestUnalignedOffsets(t *testing.T) {
	want := []float32{1.5, -2, 3.25}
	data := tensor.FromF32("v", nil, want).Data
	b := file(`{"v":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}`, data) // 8+55: odd start
	p := filepath.Join(t.TempDir(), "u.safetensors")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Header().DataStart%4 == 0 {
		t.Fatalf("test file is aligned after all (DataStart %d)", f.Header().DataStart)
	}
	v, err := f.Tensor("v")
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.F32()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing.safetensors")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	p := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(p, file(`{"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}`, make([]byte, 12)), 0o644)
	_, err := Open(p)
	want := "safetensors: " + p + `: tensor "x": data_offsets [0 12] hold 12 bytes, F32 [2 2] needs 16`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}
