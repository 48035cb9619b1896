package model

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/gguf"
	"github.com/limbic-dev/limbic/engine/format/hfdir"
	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/approx"
	"github.com/limbic-dev/limbic/internal/testref"
)

// syntheticTensors returns the synthetic checkpoint's config.json and tensors.
func syntheticTensors(t *testing.T, fam string) ([]byte, []*tensor.Tensor) {
	t.Helper()
	dir := testref.Path("synthetic", fam)
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var ts []*tensor.Tensor
	for _, n := range f.Names() {
		x, err := f.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, x)
	}
	return cfg, ts
}

// TestHFLayouts loads the same weights in the layouts Hugging Face
// directories come in — sharded with an index, f32 and f16, GPT-2 without
// the "transformer." prefix, Gemma 3 inside a multimodal checkpoint — with
// the logits of the plain directory.
func TestHFLayouts(t *testing.T) {
	exactKernels(t)
	toks := []int{1, 9, 33, 250, 4, 77, 2, 100}
	logits := func(dir string) []float32 {
		m := loadOrFail(t, dir, LoadOptions{})
		c, err := Capture(m.Transformer, toks, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Logits
	}
	tmp := t.TempDir()
	for _, fam := range []string{"llama", "gpt2"} {
		cfg, ts := syntheticTensors(t, fam)
		base := logits(testref.Path("synthetic", fam))
		variants := map[string][]*tensor.Tensor{}
		for _, dt := range []tensor.DType{tensor.F32, tensor.F16} {
			var conv []*tensor.Tensor
			for _, x := range ts {
				y, err := arch.Convert(x, dt)
				if err != nil {
					t.Fatal(err)
				}
				conv = append(conv, y)
			}
			variants[dt.String()] = conv
		}
		sharded := filepath.Join(tmp, fam+"-sharded")
		if err := hfdir.Write(sharded, cfg, ts, nil, hfdir.MaxShardBytes(40_000)); err != nil {
			t.Fatal(err)
		}
		if !exists(filepath.Join(sharded, hfdir.IndexFile)) {
			t.Fatalf("%s: no index written", sharded)
		}
		dirs := map[string]string{"sharded": sharded}
		for name, conv := range variants {
			d := filepath.Join(tmp, fam+"-"+name)
			if err := hfdir.Write(d, cfg, conv, nil); err != nil {
				t.Fatal(err)
			}
			dirs[name] = d
		}
		if fam == "gpt2" { // the original checkpoints' names: no "transformer."
			var bare []*tensor.Tensor
			for _, x := range ts {
				y := *x
				y.Name = strings.TrimPrefix(x.Name, "transformer.")
				bare = append(bare, &y)
			}
			d := filepath.Join(tmp, "gpt2-bare")
			if err := hfdir.Write(d, cfg, bare, nil); err != nil {
				t.Fatal(err)
			}
			dirs["no prefix"] = d
		}
		for name, d := range dirs {
			if dd := approx.MaxAbsDiff(logits(d), base); !(dd <= 1e-4) {
				t.Errorf("%s %s: max |Δlogit| %g vs the plain directory", fam, name, dd)
			}
		}
	}
}

// TestGemma3Multimodal loads a random Gemma 3 language model from a
// text-only directory and from multimodal ones (both tensor prefixes, a
// vision tensor beside), with the same logits, and exports it as text-only.
func TestGemma3Multimodal(t *testing.T) {
	text := map[string]any{"model_type": "gemma3_text", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48,
		"num_hidden_layers": 7, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
		"query_pre_attn_scalar": 8, "sliding_window": 3, "rope_scaling": map[string]any{"rope_type": "linear", "factor": 8.0}}
	tj, _ := json.Marshal(text)
	var m map[string]any
	json.Unmarshal(tj, &m)
	fam, _ := arch.Lookup("gemma3_text")
	cfg, err := fam.FromHF(m)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := arch.RandomTensors(cfg, 11, tensor.BF16)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	plain := filepath.Join(tmp, "text")
	if err := hfdir.Write(plain, tj, ts, nil); err != nil {
		t.Fatal(err)
	}
	toks := []int{2, 5, 9, 11, 40, 3, 8, 63, 1}
	logits := func(dir string) []float32 {
		mm := loadOrFail(t, dir, LoadOptions{})
		c, err := Capture(mm.Transformer, toks, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Logits
	}
	base := logits(plain)
	mcfg, _ := json.Marshal(map[string]any{"model_type": "gemma3", "architectures": []string{"Gemma3ForConditionalGeneration"},
		"text_config": text, "vision_config": map[string]any{"hidden_size": 8}})
	vision := tensor.FromF32("vision_tower.vision_model.post_layernorm.weight", []int{8}, make([]float32, 8))
	for _, prefix := range []string{"language_model.model.", "model.language_model."} {
		var mts []*tensor.Tensor
		for _, x := range ts {
			y := *x
			y.Name = prefix + strings.TrimPrefix(x.Name, "model.")
			mts = append(mts, &y)
		}
		d := filepath.Join(tmp, strings.TrimSuffix(prefix, "."))
		if err := hfdir.Write(d, mcfg, append(mts, vision), nil); err != nil {
			t.Fatal(err)
		}
		if dd := approx.MaxAbsDiff(logits(d), base); !(dd <= 1e-5) {
			t.Errorf("%s: max |Δlogit| %g vs the text-only directory", prefix, dd)
		}
		// Exported, it is a text-only checkpoint without the vision tower.
		mm := loadOrFail(t, d, LoadOptions{})
		out := filepath.Join(tmp, "export-"+strings.TrimSuffix(prefix, "."))
		if err := mm.ExportHF(out, false); err != nil {
			t.Fatal(err)
		}
		back, err := hfdir.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		if back.Config["model_type"] != "gemma3_text" || back.Has(vision.Name) || !back.Has("model.embed_tokens.weight") {
			t.Errorf("export of %s: model_type %v, names %v", prefix, back.Config["model_type"], back.Names()[:3])
		}
		back.Close()
		if dd := approx.MaxAbsDiff(logits(out), base); !(dd <= 1e-5) {
			t.Errorf("export of %s: max |Δlogit| %g", prefix, dd)
		}
	}
}

// TestUnverifiedFamiliesRoundTrip writes random Mistral, Qwen3 and Gemma 3
// models (no reference exists for them) as Hugging Face directories and
// GGUF files and loads them back with the same logits: the families' config
// writers, name tables and layouts are consistent, not verified against
// Hugging Face.
func TestUnverifiedFamiliesRoundTrip(t *testing.T) {
	configs := map[string]map[string]any{
		"mistral": {"model_type": "mistral", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
			"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "sliding_window": 3},
		"qwen3": {"model_type": "qwen3", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
			"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "tie_word_embeddings": true},
		"gemma3": {"model_type": "gemma3_text", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 7,
			"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "query_pre_attn_scalar": 32, "sliding_window": 3,
			"rope_scaling": map[string]any{"rope_type": "linear", "factor": 8.0}},
		"llama3": {"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
			"num_attention_heads": 4, "num_key_value_heads": 2, "rope_theta": 500000.0, "tie_word_embeddings": true,
			"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 4}},
	}
	toks := []int{2, 5, 9, 11, 40, 3, 8, 63, 1, 7, 7}
	logits := func(path string) ([]float32, *Model) {
		mm := loadOrFail(t, path, LoadOptions{})
		c, err := Capture(mm.Transformer, toks, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Logits, mm
	}
	for name, m := range configs {
		tj, _ := json.Marshal(m)
		var mm map[string]any
		json.Unmarshal(tj, &mm)
		fam, _ := arch.Lookup(mm["model_type"].(string))
		cfg, err := fam.FromHF(mm)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := arch.RandomTensors(cfg, 7, tensor.F32)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), name)
		if err := hfdir.Write(dir, tj, ts, nil); err != nil {
			t.Fatal(err)
		}
		base, orig := logits(dir)
		g := dir + ".gguf"
		if err := orig.ExportGGUF(g, tensor.F32); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		viaGGUF, gm := logits(g)
		if gm.Arch != cfg.Arch {
			t.Errorf("%s: GGUF loads as %s", name, gm.Arch)
		}
		hf := dir + "-back"
		err = gm.ExportHF(hf, false)
		if name == "llama3" { // GGUF holds llama3 scaling as a factor table
			if err == nil || !strings.Contains(err.Error(), "rope") {
				t.Errorf("llama3 GGUF → HF: error %v, want one about the rope factors", err)
			}
			if d := approx.MaxAbsDiff(viaGGUF, base); !(d <= 1e-4) {
				t.Errorf("%s: GGUF max |Δlogit| %g", name, d)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		viaHF, _ := logits(hf)
		for what, got := range map[string][]float32{"GGUF": viaGGUF, "GGUF → HF": viaHF} {
			if d := approx.MaxAbsDiff(got, base); !(d <= 1e-4) {
				t.Errorf("%s %s: max |Δlogit| %g", name, what, d)
			}
		}
	}
}

// writeRawSafetensors writes tensors with the given safetensors dtype
// spellings, for dtypes the writer refuses.
func writeRawSafetensors(t *testing.T, path string, ts []*tensor.Tensor, dtypes map[string]string) {
	t.Helper()
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	header := map[string]any{}
	var data []byte
	for _, x := range ts {
		dt := x.DType.String()
		if s, ok := dtypes[x.Name]; ok {
			dt = s
		}
		header[x.Name] = map[string]any{"dtype": dt, "shape": x.Shape, "data_offsets": []int{len(data), len(data) + len(x.Data)}}
		data = append(data, x.Data...)
	}
	h, _ := json.Marshal(header)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), data...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBadCheckpoints: every malformed input gives an error that says what
// and where.
func TestBadCheckpoints(t *testing.T) {
	tmp := t.TempDir()
	cfg, ts := syntheticTensors(t, "llama")
	dir := func(name string, config []byte, tensors []*tensor.Tensor, opts ...hfdir.Option) string {
		d := filepath.Join(tmp, name)
		if err := hfdir.Write(d, config, tensors, nil, opts...); err != nil {
			t.Fatal(err)
		}
		return d
	}
	var c map[string]any
	json.Unmarshal(cfg, &c)
	c["model_type"] = "mamba"
	mamba, _ := json.Marshal(c)

	// A shard the index names is missing.
	sharded := dir("missing-shard", cfg, ts, hfdir.MaxShardBytes(40_000))
	shards, _ := filepath.Glob(filepath.Join(sharded, "model-*.safetensors"))
	os.Remove(shards[len(shards)-1])

	// A weight in a dtype limbic cannot hold (F8_E4M3), and one the engine
	// cannot compute with (F64).
	f8 := filepath.Join(tmp, "f8")
	os.MkdirAll(f8, 0o755)
	os.WriteFile(filepath.Join(f8, "config.json"), cfg, 0o644)
	var f8ts []*tensor.Tensor
	for _, x := range ts {
		y := *x
		if x.Name == "model.layers.0.mlp.up_proj.weight" {
			y.Data = make([]byte, x.Numel())
		}
		f8ts = append(f8ts, &y)
	}
	writeRawSafetensors(t, filepath.Join(f8, "model.safetensors"), f8ts, map[string]string{"model.layers.0.mlp.up_proj.weight": "F8_E4M3"})
	var f64ts []*tensor.Tensor
	for _, x := range ts {
		y := x
		if x.Name == "model.layers.1.self_attn.o_proj.weight" {
			v, _ := x.F32()
			b := make([]byte, 8*len(v))
			for i, f := range v {
				binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(float64(f)))
			}
			y = &tensor.Tensor{Name: x.Name, DType: tensor.F64, Shape: x.Shape, Data: b}
		}
		f64ts = append(f64ts, y)
	}
	f64 := dir("f64", cfg, f64ts)

	// A weight of the wrong shape.
	var bad []*tensor.Tensor
	for _, x := range ts {
		y := *x
		if x.Name == "model.layers.1.mlp.down_proj.weight" {
			y.Shape = []int{x.Shape[1], x.Shape[0]}
		}
		bad = append(bad, &y)
	}
	shape := dir("shape", cfg, bad)

	tests := []struct {
		name, path string
		want       []string
	}{
		{"unknown model_type", dir("mamba", mamba, ts), []string{`"mamba"`, "supported", "gemma3_text", "qwen3", "gpt2", "mistral"}},
		{"missing shard", sharded, []string{"shard", "missing", filepath.Base(shards[len(shards)-1])}},
		{"unsupported dtype", f8, []string{"model.layers.0.mlp.up_proj.weight", "F8_E4M3", "cannot load"}},
		{"dtype the engine lacks", f64, []string{"model.layers.1.self_attn.o_proj.weight", "F64", "not supported"}},
		{"wrong shape", shape, []string{"model.layers.1.mlp.down_proj.weight", "shape"}},
		{"gguf: unknown architecture", writeGGUF(t, tmp, "mamba.gguf", "mamba", nil), []string{`"mamba"`, "supported", "llama", "gemma2", "gpt2"}},
		{"gguf: unknown quantization type", writeGGUF(t, tmp, "q4.gguf", "llama", &rawTensor{"token_embd.weight", 16, []uint64{256, 4}}), []string{"token_embd.weight", "IQ2_XXS", "cannot load", "Q4_K", "IQ4_XS"}},
		{"gguf: unknown tensor", writeGGUF(t, tmp, "extra.gguf", "llama", &rawTensor{"blk.0.attn_sinks.weight", 0, []uint64{4}}), []string{"blk.0.attn_sinks.weight"}},
		{"gguf: missing metadata", writeGGUF(t, tmp, "nometa.gguf", "llama", &rawTensor{"token_embd.weight", 0, []uint64{4, 4}}), []string{"llama.embedding_length"}},
	}
	for _, tt := range tests {
		_, err := Load(context.Background(), tt.path, LoadOptions{})
		if err == nil {
			t.Errorf("%s: loaded", tt.name)
			continue
		}
		t.Logf("%s: %v", tt.name, err)
		for _, w := range append(tt.want, filepath.Base(tt.path)) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %s", tt.name, err, w)
			}
		}
	}
}

// rawTensor is one tensor of a hand-made GGUF file, of any ggml type.
type rawTensor struct {
	name string
	typ  uint32
	dims []uint64 // ne0 first
}

// writeGGUF writes a GGUF v3 file by hand: general.architecture and one
// tensor (zero data), so that any ggml type can be tested.
func writeGGUF(t *testing.T, dir, name, archName string, rt *rawTensor) string {
	t.Helper()
	var b []byte
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	u64 := func(v uint64) { b = binary.LittleEndian.AppendUint64(b, v) }
	str := func(s string) { u64(uint64(len(s))); b = append(b, s...) }
	b = append(b, "GGUF"...)
	u32(3)
	n := uint64(0)
	if rt != nil {
		n = 1
	}
	u64(n)
	u64(1)
	str(gguf.KeyArchitecture)
	u32(8) // string
	str(archName)
	size := 0
	if rt != nil {
		str(rt.name)
		u32(uint32(len(rt.dims)))
		elems := uint64(1)
		for _, d := range rt.dims {
			u64(d)
			elems *= d
		}
		u32(rt.typ)
		u64(0)
		switch rt.typ {
		case 0:
			size = int(elems) * 4
		case 16: // IQ2_XXS: blocks of 256 values in 66 bytes
			size = int(elems) / 256 * 66
		}
	}
	for len(b)%32 != 0 {
		b = append(b, 0)
	}
	b = append(b, make([]byte, size)...)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
