package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/testref"
)

func TestOpenReference(t *testing.T) {
	tests := []struct {
		arch     string
		tensors  int
		ffn      int
		hfEmbed  string // the Hugging Face name of token_embd.weight
		compare  map[string]string
		freqBase float64
	}{
		{"llama", 21, 128, "model.embed_tokens.weight", map[string]string{
			"output.weight":          "lm_head.weight",
			"blk.0.ffn_down.weight":  "model.layers.0.mlp.down_proj.weight",
			"blk.1.ffn_gate.weight":  "model.layers.1.mlp.gate_proj.weight",
			"blk.0.attn_norm.weight": "model.layers.0.input_layernorm.weight",
		}, 500000},
		{"qwen2", 0, 0, "model.embed_tokens.weight", map[string]string{
			"blk.0.attn_q.bias":     "model.layers.0.self_attn.q_proj.bias",
			"blk.0.attn_q.weight":   "model.layers.0.self_attn.q_proj.weight",
			"blk.1.ffn_down.weight": "model.layers.1.mlp.down_proj.weight",
		}, 1e6},
		{"gpt2", 29, 256, "transformer.wte.weight", map[string]string{
			"position_embd.weight": "transformer.wpe.weight",
			"output_norm.bias":     "transformer.ln_f.bias",
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.arch, func(t *testing.T) {
			p := testref.Path("synthetic", tc.arch, "model-f32.gguf")
			f, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Version != 3 || f.Alignment != 32 || f.DataOffset%32 != 0 {
				t.Errorf("Version %d, Alignment %d, DataOffset %d; want 3, 32, a multiple of 32", f.Version, f.Alignment, f.DataOffset)
			}
			if got := f.Architecture(); got != tc.arch {
				t.Errorf("Architecture() = %q, want %q", got, tc.arch)
			}
			if tc.tensors != 0 && len(f.TensorInfos()) != tc.tensors {
				t.Errorf("%d tensors, want %d", len(f.TensorInfos()), tc.tensors)
			}
			for key, want := range map[string]uint64{
				tc.arch + ".block_count":       2,
				tc.arch + ".embedding_length":  64,
				"general.quantization_version": 2,
			} {
				if got, ok, err := f.Uint(key); err != nil || !ok || got != want {
					t.Errorf("Uint(%q) = %d, %v, %v; want %d, true, nil", key, got, ok, err, want)
				}
			}
			if tc.ffn != 0 {
				if got, _, _ := f.Int(tc.arch + ".feed_forward_length"); got != int64(tc.ffn) {
					t.Errorf("feed_forward_length = %d, want %d", got, tc.ffn)
				}
			}
			if tc.freqBase != 0 {
				if got, ok, err := f.Float(tc.arch + ".rope.freq_base"); err != nil || !ok || got != tc.freqBase {
					t.Errorf("rope.freq_base = %v, %v, %v; want %v", got, ok, err, tc.freqBase)
				}
			}
			toks, ok, err := f.Strings("tokenizer.ggml.tokens")
			if err != nil || !ok || len(toks) != 256 || toks[1] != "<s>" {
				t.Errorf("tokens: %d tokens, ok %v, err %v; want 256 with <s> at 1", len(toks), ok, err)
			}
			if scores, _, err := f.Floats("tokenizer.ggml.scores"); err != nil || len(scores) != 256 {
				t.Errorf("scores: %d, err %v; want 256", len(scores), err)
			}
			if types, _, err := f.Ints("tokenizer.ggml.token_type"); err != nil || len(types) != 256 || types[0] != 2 {
				t.Errorf("token_type: %d values (first %v), err %v; want 256 starting with 2", len(types), types[:min(1, len(types))], err)
			}
			if b, ok, err := f.Bool("tokenizer.ggml.add_bos_token"); err != nil || !ok || b {
				t.Errorf("add_bos_token = %v, %v, %v; want false, true, nil", b, ok, err)
			}

			info, ok := f.TensorInfo("token_embd.weight")
			if !ok {
				t.Fatal("no token_embd.weight")
			}
			if info.Type != F32 || !slices.Equal(info.Dims, []uint64{64, 256}) || !slices.Equal(info.Shape, []int{256, 64}) {
				t.Errorf("token_embd.weight: %v dims %v shape %v; want F32 dims [64 256] shape [256 64]", info.Type, info.Dims, info.Shape)
			}
			hf, err := safetensors.Open(testref.Path("synthetic", tc.arch, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer hf.Close()
			pairs := map[string]string{"token_embd.weight": tc.hfEmbed}
			for k, v := range tc.compare {
				pairs[k] = v
			}
			for gname, hname := range pairs {
				g, err := f.Tensor(gname)
				if err != nil {
					t.Fatal(err)
				}
				h, err := hf.Tensor(hname)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(g.Shape, h.Shape) {
					t.Errorf("%s shape %v, %s shape %v: want equal", gname, g.Shape, hname, h.Shape)
					continue
				}
				if p := uintptr(unsafe.Pointer(&g.Data[0])); p%32 != 0 {
					t.Errorf("%s: data at %#x is not 32-byte aligned", gname, p)
				}
				gv, _ := g.F32()
				hv, _ := h.F32() // bf16 widened exactly
				for i := range gv {
					if gv[i] != hv[i] {
						t.Errorf("%s[%d] = %v, %s[%d] = %v: want equal", gname, i, gv[i], hname, i, hv[i])
						break
					}
				}
			}
		})
	}
}

func TestAccessorErrors(t *testing.T) {
	w := NewWriter()
	for _, kv := range []KV{{"u32", uint32(7)}, {"neg", int32(-3)}, {"big", uint64(math.MaxUint64)}, {"s", "x"}, {"f", float32(0.5)}, {"u64s", []uint64{1, math.MaxUint64}}} {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	f := roundTrip(t, w)
	var te *TypeError
	if _, _, err := f.String("u32"); !errors.As(err, &te) || err.Error() != `gguf: key "u32" holds uint32, want string` {
		t.Errorf("String(u32): err = %v", err)
	}
	if _, _, err := f.Uint("neg"); err == nil || !strings.Contains(err.Error(), "int32 -3") {
		t.Errorf("Uint(neg): err = %v, want one mentioning int32 -3", err)
	}
	if v, ok, err := f.Int("neg"); v != -3 || !ok || err != nil {
		t.Errorf("Int(neg) = %v, %v, %v", v, ok, err)
	}
	if _, _, err := f.Int("big"); err == nil {
		t.Errorf("Int(big): got nil error")
	}
	if _, _, err := f.Float("u32"); err == nil {
		t.Errorf("Float(u32): got nil error")
	}
	if _, _, err := f.Strings("s"); !errors.As(err, &te) || te.Want != "array of string" {
		t.Errorf("Strings(s): err = %v", err)
	}
	if _, _, err := f.Ints("u64s"); err == nil {
		t.Errorf("Ints(u64s): got nil error")
	}
	if _, _, err := f.Floats("f"); err == nil {
		t.Errorf("Floats(f): got nil error")
	}
	if _, _, err := f.Bool("f"); err == nil {
		t.Errorf("Bool(f): got nil error")
	}
	if v, ok, err := f.String("absent"); v != "" || ok || err != nil {
		t.Errorf("String(absent) = %q, %v, %v; want \"\", false, nil", v, ok, err)
	}
	if _, ok := f.Value("absent"); ok {
		t.Errorf("Value(absent) found something")
	}
}

// roundTrip writes w to memory and parses it.
func roundTrip(t *testing.T, w *Writer) *File {
	t.Helper()
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var allKVs = []KV{
	{"general.architecture", "llama"},
	{"u8", uint8(200)},
	{"i8", int8(-100)},
	{"u16", uint16(60000)},
	{"i16", int16(-30000)},
	{"u32", uint32(4000000000)},
	{"i32", int32(-2000000000)},
	{"f32", float32(3.25)},
	{"bool", true},
	{"string", "ünïcode ✓"},
	{"empty string", ""},
	{"u64", uint64(math.MaxUint64)},
	{"i64", int64(math.MinInt64)},
	{"f64", math.Pi},
	{"[]u8", []uint8{0, 255}},
	{"[]i8", []int8{-128, 127}},
	{"[]u16", []uint16{1, 65535}},
	{"[]i16", []int16{-1, 2}},
	{"[]u32", []uint32{3, 4}},
	{"[]i32", []int32{-5, 6}},
	{"[]f32", []float32{0.5, -1e30}},
	{"[]bool", []bool{true, false, true}},
	{"[]string", []string{"a", "", "ccc"}},
	{"[]u64", []uint64{7}},
	{"[]i64", []int64{-8, 9}},
	{"[]f64", []float64{1e-300}},
	{"empty []string", []string{}},
	{"empty []f32", []float32{}},
}

func allTensors() []*tensor.Tensor {
	q8src := make([]float32, 64)
	for i := range q8src {
		q8src[i] = float32(i) - 31.5
	}
	f16 := make([]byte, 6*2)
	for i := range 6 {
		binary.LittleEndian.PutUint16(f16[2*i:], tensor.F32ToF16(float32(i)/4))
	}
	bf16 := make([]byte, 5*2)
	for i := range 5 {
		binary.LittleEndian.PutUint16(bf16[2*i:], tensor.F32ToBF16(-float32(i)))
	}
	return []*tensor.Tensor{
		tensor.FromF32("f32", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		{Name: "f16", DType: tensor.F16, Shape: []int{3, 2}, Data: f16},
		{Name: "bf16", DType: tensor.BF16, Shape: []int{5}, Data: bf16},
		{Name: "q8_0", DType: tensor.Q8_0, Shape: []int{2, 32}, Data: tensor.QuantQ8_0(q8src)},
		tensor.FromI32("i32", []int{1, 1, 2, 2}, []int{1, -2, 3, -4}),
		{Name: "i8", DType: tensor.I8, Shape: []int{3}, Data: []byte{1, 2, 0xff}},
		{Name: "i64", DType: tensor.I64, Shape: []int{1}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{Name: "f64", DType: tensor.F64, Shape: []int{1}, Data: []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}},
		{Name: "empty", DType: tensor.F32, Shape: []int{0, 4}, Data: []byte{}},
	}
}

func TestWriteRoundTrip(t *testing.T) {
	for _, align := range []uint32{0, 64} {
		w := NewWriter()
		kvs := slices.Clone(allKVs)
		if align != 0 {
			kvs = append(kvs, KV{KeyAlignment, align})
		}
		for _, kv := range kvs {
			if err := w.AddKV(kv.Key, kv.Value); err != nil {
				t.Fatal(err)
			}
		}
		in := allTensors()
		for _, tt := range in {
			if err := w.AddTensor(tt); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(t.TempDir(), "rt.gguf")
		if err := w.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		f, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		wantAlign := int(max(align, DefaultAlignment))
		if f.Version != 3 || f.Alignment != wantAlign {
			t.Errorf("version %d alignment %d, want 3 and %d", f.Version, f.Alignment, wantAlign)
		}
		if !reflect.DeepEqual(f.KVs(), kvs) {
			t.Errorf("KVs differ:\n got %v\nwant %v", f.KVs(), kvs)
		}
		var names []string
		for _, want := range in {
			names = append(names, want.Name)
			got, err := f.Tensor(want.Name)
			if err != nil {
				t.Fatal(err)
			}
			if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
				t.Errorf("%s: got %v %v %x, want %v %v %x", want.Name, got.DType, got.Shape, got.Data, want.DType, want.Shape, want.Data)
			}
			info, _ := f.TensorInfo(want.Name)
			if info.Offset%uint64(wantAlign) != 0 {
				t.Errorf("%s: offset %d not aligned to %d", want.Name, info.Offset, wantAlign)
			}
		}
		if got := f.Names(); !slices.Equal(got, names) {
			t.Errorf("Names() = %v, want %v", got, names)
		}
		if q, _ := f.TensorInfo("q8_0"); !slices.Equal(q.Dims, []uint64{32, 2}) || q.Size != 2*34 {
			t.Errorf("q8_0 info: dims %v size %d, want [32 2] and 68", q.Dims, q.Size)
		}
	}
}

func TestScalarTensor(t *testing.T) {
	w := NewWriter()
	if err := w.AddTensor(tensor.FromF32("s", nil, []float32{2.5})); err != nil {
		t.Fatal(err)
	}
	f := roundTrip(t, w)
	g, err := f.Tensor("s")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := g.F32(); !slices.Equal(g.Shape, []int{1}) || v[0] != 2.5 {
		t.Errorf("scalar came back as %v %v, want [1] [2.5]", g.Shape, v)
	}
}

func TestRewriteReference(t *testing.T) {
	// Copying a llama.cpp file through Writer gives the same bytes.
	for _, arch := range []string{"llama", "qwen2", "gpt2"} {
		want, err := os.ReadFile(testref.Path("synthetic", arch, "model-f32.gguf"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(want)
		if err != nil {
			t.Fatal(err)
		}
		w := NewWriter()
		for _, kv := range f.KVs() {
			if err := w.AddKV(kv.Key, kv.Value); err != nil {
				t.Fatal(err)
			}
		}
		ts, err := f.Tensors()
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range ts {
			if err := w.AddTensor(tt); err != nil {
				t.Fatal(err)
			}
		}
		var got bytes.Buffer
		if _, err := w.WriteTo(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			i := 0
			for i < min(got.Len(), len(want)) && got.Bytes()[i] == want[i] {
				i++
			}
			t.Errorf("%s: rewritten file (%d bytes) differs from the original (%d bytes) at byte %d", arch, got.Len(), len(want), i)
		}
	}
}

// builder assembles raw GGUF bytes for malformed-file tests.
type builder struct{ bytes.Buffer }

func (b *builder) u32(v uint32) *builder {
	b.Write(binary.LittleEndian.AppendUint32(nil, v))
	return b
}

func (b *builder) u64(v uint64) *builder {
	b.Write(binary.LittleEndian.AppendUint64(nil, v))
	return b
}

func (b *builder) str(s string) *builder { return b.u64(uint64(len(s))).raw(s) }

func (b *builder) raw(s string) *builder {
	b.WriteString(s)
	return b
}

func (b *builder) zeros(n int) *builder {
	b.Write(make([]byte, n))
	return b
}

// hdr starts a version-3 file.
func hdr(nTensors, nKV uint64) *builder {
	b := &builder{}
	return b.raw("GGUF").u32(3).u64(nTensors).u64(nKV)
}

// ti appends a tensor info.
func (b *builder) ti(name string, typ GGMLType, off uint64, dims ...uint64) *builder {
	b.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		b.u64(d)
	}
	return b.u32(uint32(typ)).u64(off)
}

// data pads to 32 and appends n zero bytes.
func (b *builder) data(n int) *builder {
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	return b.zeros(n)
}

var badFiles = []struct {
	name string
	b    []byte
	want string
}{
	{"empty", nil, "too short for the GGUF magic"},
	{"bad magic", []byte("GGML\x03\x00\x00\x00"), `bad magic "GGML"`},
	{"no version", []byte("GGUF\x03"), "version needs 4 bytes"},
	{"version 1", (&builder{}).raw("GGUF").u32(1).Bytes(), "version 1 is not supported"},
	{"version 4", (&builder{}).raw("GGUF").u32(4).Bytes(), "unsupported GGUF version 4"},
	{"big endian", (&builder{}).raw("GGUF").raw("\x00\x00\x00\x03").Bytes(), "big-endian"},
	{"truncated counts", (&builder{}).raw("GGUF").u32(3).u64(0).Bytes(), "metadata count needs 8 bytes"},
	{"huge kv count", hdr(0, math.MaxUint64).Bytes(), "metadata count 18446744073709551615 cannot fit"},
	{"huge tensor count", hdr(1<<40, 0).zeros(100).Bytes(), "tensor count 1099511627776 cannot fit"},
	{"counts together too big", hdr(1, 1).zeros(30).Bytes(), "cannot fit"},
	{"key length past end", hdr(0, 1).u64(1 << 50).zeros(8).Bytes(), "key of metadata pair 0 length 1125899906842624 runs past the end"},
	{"string value past end", hdr(0, 1).str("k").u32(uint32(TypeString)).u64(100).zeros(5).Bytes(), `key "k": at byte 37: string length 100 runs past the end`},
	{"unknown value type", hdr(0, 1).str("k").u32(13).zeros(8).Bytes(), `key "k": at byte 33: unknown value type 13`},
	{"truncated value", hdr(0, 1).str("k").u32(uint32(TypeUint64)).zeros(1).Bytes(), "uint64 value needs 8 bytes"},
	{"huge array", hdr(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint32)).u64(1 << 61).zeros(8).Bytes(), "array of 2305843009213693952 uint32 cannot fit"},
	{"huge string array", hdr(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(1 << 40).zeros(8).Bytes(), "cannot fit"},
	{"nested array", hdr(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeArray)).u64(0).zeros(8).Bytes(), "arrays of arrays are not supported"},
	{"unknown array type", hdr(0, 1).str("k").u32(uint32(TypeArray)).u32(99).u64(0).zeros(8).Bytes(), "unknown array element type 99"},
	{"duplicate key", hdr(0, 2).str("k").u32(uint32(TypeUint8)).raw("\x01").str("k").u32(uint32(TypeUint8)).raw("\x01").Bytes(), `metadata key "k" appears twice`},
	{"alignment wrong type", hdr(0, 1).str(KeyAlignment).u32(uint32(TypeUint64)).u64(32).Bytes(), "general.alignment holds uint64, want uint32"},
	{"alignment not power of two", hdr(0, 1).str(KeyAlignment).u32(uint32(TypeUint32)).u32(48).Bytes(), "general.alignment is 48, want a power of two"},
	{"alignment zero", hdr(0, 1).str(KeyAlignment).u32(uint32(TypeUint32)).u32(0).Bytes(), "is 0, want a power of two"},
	{"unknown ggml type", hdr(1, 0).ti("w", 31, 0, 4).data(16).Bytes(), `tensor "w": unknown ggml type id 31`},
	{"too many dims", hdr(1, 0).ti("w", F32, 0, 1, 1, 1, 1, 1).data(4).Bytes(), `tensor "w": 5 dimensions, at most 4`},
	{"dim too large", hdr(1, 0).ti("w", F32, 0, 1<<63).data(4).Bytes(), "more than the maximum"},
	{"dims overflow", hdr(1, 0).ti("w", F32, 0, 1<<32, 1<<32).data(4).Bytes(), "overflow"},
	{"size overflow", hdr(1, 0).ti("w", F64, 0, 1<<61).data(4).Bytes(), "too large"},
	{"not whole blocks", hdr(1, 0).ti("w", Q4_K, 0, 100, 2).data(400).Bytes(), "first dimension 100 is not a multiple of the Q4_K block size 256"},
	{"quantised scalar", hdr(1, 0).ti("w", Q8_0, 0).data(64).Bytes(), "a scalar cannot be Q8_0"},
	{"tensor name past end", hdr(1, 0).u64(1000).zeros(30).Bytes(), "name of tensor 0 length 1000 runs past the end"},
	{"data past end", hdr(1, 0).ti("w", F32, 0, 8).data(16).Bytes(), `tensor "w": data [0, 32) runs past the end of the 16-byte data section`},
	{"offset past end", hdr(1, 0).ti("w", F32, 1<<62, 8).data(64).Bytes(), "runs past the end"},
	{"misaligned offset", hdr(1, 0).ti("w", F32, 4, 1).data(64).Bytes(), `tensor "w": offset 4 is not a multiple of the alignment 32`},
	{"overlap", hdr(2, 0).ti("a", F32, 0, 16).ti("b", F32, 32, 16).data(128).Bytes(), `tensors "a" [0, 64) and "b" [32, 96) overlap`},
	{"duplicate tensor", hdr(2, 0).ti("a", F32, 0, 1).ti("a", F32, 32, 1).data(64).Bytes(), `tensor "a" appears twice`},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range badFiles {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.b)
			if err == nil {
				t.Fatalf("Parse succeeded (%d tensors), want an error containing %q", len(f.TensorInfos()), tc.want)
			}
			if !strings.HasPrefix(err.Error(), "gguf: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want one starting %q containing %q", err, "gguf: ", tc.want)
			}
		})
	}
}

func TestVersion2AndEmpty(t *testing.T) {
	b := (&builder{}).raw("GGUF").u32(2).u64(0).u64(1).str("k").u32(uint32(TypeString)).str("v").Bytes()
	f, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if s, _, _ := f.String("k"); f.Version != 2 || s != "v" || len(f.TensorInfos()) != 0 {
		t.Errorf("version %d, k = %q, %d tensors; want 2, v, 0", f.Version, s, len(f.TensorInfos()))
	}
}

func TestUnloadableType(t *testing.T) {
	// A Q4_K tensor of 2 rows of 256 values and a Q2_K of 1 block.
	b := hdr(2, 0).ti("blk.0.attn_q.weight", Q4_K, 0, 256, 2).ti("x", IQ2_XXS, 288, 256).data(288 + 66).Bytes()
	f, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	infos := f.TensorInfos()
	if len(infos) != 2 || infos[0].Type != Q4_K || infos[0].Size != 288 || infos[1].Type.String() != "IQ2_XXS" || infos[1].Size != 66 {
		t.Errorf("infos = %+v", infos)
	}
	if q, err := f.Tensor("blk.0.attn_q.weight"); err != nil || q.DType != tensor.Q4_K || len(q.Data) != 288 {
		t.Errorf("Q4_K tensor: %v, %v; want a Q4_K tensor of 288 bytes", q, err)
	}
	_, err = f.Tensor("x")
	for _, w := range []string{`"x"`, "IQ2_XXS", "cannot load", "Q4_K", "Q6_K", "IQ4_XS"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want it to mention %s", err, w)
		}
	}
	if _, err := f.Tensors(); err == nil {
		t.Errorf("Tensors(): got nil error")
	}
}

func TestTypeTable(t *testing.T) {
	tests := []struct {
		t           GGMLType
		name        string
		block, size int
	}{
		{F32, "F32", 1, 4}, {F16, "F16", 1, 2}, {Q4_0, "Q4_0", 32, 18}, {Q4_1, "Q4_1", 32, 20},
		{Q5_0, "Q5_0", 32, 22}, {Q5_1, "Q5_1", 32, 24}, {Q8_0, "Q8_0", 32, 34}, {Q8_1, "Q8_1", 32, 36},
		{Q2_K, "Q2_K", 256, 84}, {Q3_K, "Q3_K", 256, 110}, {Q4_K, "Q4_K", 256, 144}, {Q5_K, "Q5_K", 256, 176},
		{Q6_K, "Q6_K", 256, 210}, {Q8_K, "Q8_K", 256, 292}, {IQ2_XXS, "IQ2_XXS", 256, 66}, {IQ2_XS, "IQ2_XS", 256, 74},
		{IQ3_XXS, "IQ3_XXS", 256, 98}, {IQ1_S, "IQ1_S", 256, 50}, {IQ4_NL, "IQ4_NL", 32, 18}, {IQ3_S, "IQ3_S", 256, 110},
		{IQ2_S, "IQ2_S", 256, 82}, {IQ4_XS, "IQ4_XS", 256, 136}, {I8, "I8", 1, 1}, {I16, "I16", 1, 2},
		{I32, "I32", 1, 4}, {I64, "I64", 1, 8}, {F64, "F64", 1, 8}, {IQ1_M, "IQ1_M", 256, 56},
		{BF16, "BF16", 1, 2}, {TQ1_0, "TQ1_0", 256, 54}, {TQ2_0, "TQ2_0", 256, 66}, {MXFP4, "MXFP4", 32, 17},
		{NVFP4, "NVFP4", 64, 36}, {GGMLType(4), "type(4)", 0, 0},
	}
	for _, tc := range tests {
		if tc.t.String() != tc.name || tc.t.BlockSize() != tc.block || tc.t.TypeSize() != tc.size {
			t.Errorf("type %d: got %s %d/%d, want %s %d/%d", uint32(tc.t), tc.t, tc.t.BlockSize(), tc.t.TypeSize(), tc.name, tc.block, tc.size)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	kvTests := []struct {
		key  string
		v    any
		want string
	}{
		{"k", 5, "Go type int has no GGUF type"},
		{"k", []any{1}, "Go type []interface {} has no GGUF type"},
		{"k", [][]string{{"a"}}, "no GGUF type"},
		{KeyAlignment, uint64(32), "must be a uint32 power of two"},
		{KeyAlignment, uint32(24), "must be a uint32 power of two"},
	}
	for _, tc := range kvTests {
		if err := NewWriter().AddKV(tc.key, tc.v); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddKV(%q, %#v): err = %v, want %q", tc.key, tc.v, err, tc.want)
		}
	}
	w := NewWriter()
	w.AddKV("k", "v")
	if err := w.AddKV("k", "v"); err == nil || !strings.Contains(err.Error(), "added twice") {
		t.Errorf("duplicate AddKV: err = %v", err)
	}

	tensorTests := []struct {
		name string
		t    *tensor.Tensor
		want string
	}{
		{"nil", nil, "AddTensor(nil)"},
		{"u8", &tensor.Tensor{Name: "u", DType: tensor.U8, Shape: []int{1}, Data: []byte{1}}, "dtype U8 cannot be written"},
		{"long name", tensor.FromF32(strings.Repeat("n", 64), []int{1}, []float32{1}), "at most 63"},
		{"5 dims", tensor.FromF32("d", []int{1, 1, 1, 1, 1}, []float32{1}), "more than 4 dimensions"},
		{"bad data", &tensor.Tensor{Name: "b", DType: tensor.F32, Shape: []int{2}, Data: []byte{1}}, "needs 8 bytes, have 1"},
		{"q8 inner dim", &tensor.Tensor{Name: "q", DType: tensor.Q8_0, Shape: []int{32, 2}, Data: make([]byte, 68)}, "innermost dimension"},
	}
	for _, tc := range tensorTests {
		if err := NewWriter().AddTensor(tc.t); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	w = NewWriter()
	a := tensor.FromF32("a", []int{1}, []float32{1})
	w.AddTensor(a)
	if err := w.AddTensor(a); err == nil || !strings.Contains(err.Error(), "added twice") {
		t.Errorf("duplicate AddTensor: err = %v", err)
	}

	// WriteFile into a missing directory fails and leaves nothing.
	dir := t.TempDir()
	if err := w.WriteFile(filepath.Join(dir, "missing", "x.gguf")); err == nil {
		t.Errorf("WriteFile into a missing directory: got nil error")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed WriteFile left %d entries", len(ents))
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	p := filepath.Join(dir, "bad.gguf")
	os.WriteFile(p, []byte("GGML\x03\x00\x00\x00"), 0o644)
	_, err := Open(p)
	if want := "gguf: " + p + `: bad magic "GGML"`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v, want it to start with %s", err, want)
	}
}

// TestCorruptCountsDoNotAllocate checks that counts which fit in a large file
// but are not backed by entries do not make Parse allocate for them.
func TestCorruptCountsDoNotAllocate(t *testing.T) {
	junk := strings.Repeat("\xff", 4<<20)
	files := map[string][]byte{
		"tensor count": hdr(uint64(len(junk))/minTensorInfo, 0).raw(junk).Bytes(),
		"kv count":     hdr(0, uint64(len(junk))/minKVSize).raw(junk).Bytes(),
		"string array": hdr(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(uint64(len(junk)) / 8).raw(junk).Bytes(),
	}
	for name, b := range files {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Parse(b)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: Parse succeeded", name)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("%s: Parse allocated %d bytes for a %d-byte file", name, n, len(b))
		}
	}
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(testref.Path("synthetic", "llama", "model-f32.gguf"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
