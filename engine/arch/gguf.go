package arch

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// GGUF support: how llama.cpp's converter (convert_hf_to_gguf.py) stores
// each family — its architecture name, metadata keys, tensor names and
// tensor layout — so that limbic reads llama.cpp's files and writes files
// llama.cpp reads. The engine binds Hugging Face names; a GGUF file's
// tensors are renamed through the family's Names table.

// Meta reads GGUF metadata; *gguf.File implements it.
type Meta interface {
	Uint(key string) (uint64, bool, error)
	Float(key string) (float64, bool, error)
	String(key string) (string, bool, error)
}

// KV is a GGUF metadata entry, typed as llama.cpp writes it: uint32 for
// counts and lengths, float32 for reals, string.
type KV struct {
	Key   string
	Value any
}

// GGUFSpec is how llama.cpp stores a family in GGUF files.
type GGUFSpec struct {
	Arch string // general.architecture
	// Names pairs Hugging Face tensor names with GGUF names; "{L}" stands for
	// the layer number.
	Names [][2]string
	// PermuteQK: the rows of q and k (weights and biases) are permuted so
	// that rope rotates interleaved pairs (llama.cpp's "llama"). Loaded
	// with RopeInterleaved, no copy.
	PermuteQK bool
	// NormShift: RMSNorm weights are stored as 1+w (Gemma's (1+w) folded
	// in); loaded as a plain RMSNorm, no copy.
	NormShift bool
	// Conv1D lists the Hugging Face name suffixes of Conv1D weights, which
	// GGUF stores transposed as linear weights [out, in] (GPT-2); loaded
	// with Conv1DTransposed.
	Conv1D []string
	// DupOutput: output.weight is written even when tied (llama.cpp's GPT-2
	// converter does).
	DupOutput bool
	// TrimVocab: embedding rows beyond the tokenizer's vocabulary are
	// dropped (llama.cpp's Gemma 3 converter does; other families pad the
	// vocabulary with [PAD] tokens instead).
	TrimVocab bool
	// HeadDimKeys: attention.key_length and value_length are always written
	// (else only when head_dim differs from d_model/heads).
	HeadDimKeys bool
	// FromGGUF reads the family's config from the metadata and tensors.
	FromGGUF func(r *GGUFReader) (Config, error)
	// ToGGUF returns the family's metadata beyond the shared keys.
	ToGGUF func(c *Config) ([]KV, error)
}

// RopeFreqsName is the GGUF tensor of per-frequency rope divisors that
// llama.cpp's converter writes for llama3 rope scaling. It has no Hugging
// Face counterpart; GGUF sources offer it under this same name.
const RopeFreqsName = "rope_freqs.weight"

// decoderGGUFNames is the tensor table of Llama-style decoders (llama,
// Mistral, Qwen2, Qwen3) in llama.cpp's names.
var decoderGGUFNames = [][2]string{
	{"model.embed_tokens.weight", "token_embd.weight"},
	{"model.norm.weight", "output_norm.weight"},
	{"lm_head.weight", "output.weight"},
	{RopeFreqsName, RopeFreqsName},
	{"model.layers.{L}.input_layernorm.weight", "blk.{L}.attn_norm.weight"},
	{"model.layers.{L}.self_attn.q_proj.weight", "blk.{L}.attn_q.weight"},
	{"model.layers.{L}.self_attn.q_proj.bias", "blk.{L}.attn_q.bias"},
	{"model.layers.{L}.self_attn.k_proj.weight", "blk.{L}.attn_k.weight"},
	{"model.layers.{L}.self_attn.k_proj.bias", "blk.{L}.attn_k.bias"},
	{"model.layers.{L}.self_attn.v_proj.weight", "blk.{L}.attn_v.weight"},
	{"model.layers.{L}.self_attn.v_proj.bias", "blk.{L}.attn_v.bias"},
	{"model.layers.{L}.self_attn.o_proj.weight", "blk.{L}.attn_output.weight"},
	{"model.layers.{L}.self_attn.o_proj.bias", "blk.{L}.attn_output.bias"},
	{"model.layers.{L}.self_attn.q_norm.weight", "blk.{L}.attn_q_norm.weight"},
	{"model.layers.{L}.self_attn.k_norm.weight", "blk.{L}.attn_k_norm.weight"},
	{"model.layers.{L}.post_attention_layernorm.weight", "blk.{L}.ffn_norm.weight"},
	{"model.layers.{L}.mlp.gate_proj.weight", "blk.{L}.ffn_gate.weight"},
	{"model.layers.{L}.mlp.gate_proj.bias", "blk.{L}.ffn_gate.bias"},
	{"model.layers.{L}.mlp.up_proj.weight", "blk.{L}.ffn_up.weight"},
	{"model.layers.{L}.mlp.up_proj.bias", "blk.{L}.ffn_up.bias"},
	{"model.layers.{L}.mlp.down_proj.weight", "blk.{L}.ffn_down.weight"},
	{"model.layers.{L}.mlp.down_proj.bias", "blk.{L}.ffn_down.bias"},
}

// LookupGGUF returns the family that reads GGUF architecture arch, or an
// error listing the supported ones.
func LookupGGUF(arch string) (*Family, error) {
	if f, ok := families[arch]; ok && f.GGUF != nil && f.GGUF.Arch == arch {
		return f, nil
	}
	return nil, fmt.Errorf("unsupported GGUF architecture %q (supported: %s)", arch, strings.Join(SupportedGGUF(), ", "))
}

// SupportedGGUF lists the GGUF architectures limbic reads.
func SupportedGGUF() []string {
	var out []string
	for name, f := range families {
		if f.GGUF != nil && f.GGUF.Arch == name {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// GGUFName returns the GGUF name of a Hugging Face tensor name.
func (s *GGUFSpec) GGUFName(hf string) (string, bool) { return mapName(s.Names, 0, 1, hf) }

// HFName returns the Hugging Face name of a GGUF tensor name.
func (s *GGUFSpec) HFName(gguf string) (string, bool) { return mapName(s.Names, 1, 0, gguf) }

func mapName(pairs [][2]string, from, to int, name string) (string, bool) {
	for _, p := range pairs {
		pat := p[from]
		i := strings.Index(pat, "{L}")
		if i < 0 {
			if name == pat {
				return p[to], true
			}
			continue
		}
		pre, suf := pat[:i], pat[i+3:]
		if len(name) <= len(pre)+len(suf) || !strings.HasPrefix(name, pre) || !strings.HasSuffix(name, suf) {
			continue
		}
		num := name[len(pre) : len(name)-len(suf)]
		if strings.Trim(num, "0123456789") != "" || (len(num) > 1 && num[0] == '0') {
			continue
		}
		return strings.Replace(p[to], "{L}", num, 1), true
	}
	return "", false
}

func (s *GGUFSpec) isConv1D(hf string) bool {
	for _, suf := range s.Conv1D {
		if strings.HasSuffix(hf, suf) {
			return true
		}
	}
	return false
}

// qkHeads returns the number of heads whose rows a q or k projection
// (weight or bias) holds, or 0 for other tensors.
func qkHeads(c *Config, hf string) int {
	switch {
	case strings.Contains(hf, "self_attn.q_proj."):
		return c.Heads
	case strings.Contains(hf, "self_attn.k_proj."):
		return c.KVHeads
	}
	return 0
}

// ConfigFromGGUF reads a model config from GGUF metadata and the file's
// tensors (under Hugging Face names), with the layout flags of the stored
// tensors set (RopeInterleaved, plain RMSNorm for shifted norms,
// Conv1DTransposed).
func (f *Family) ConfigFromGGUF(meta Meta, src Source) (Config, error) {
	if f.GGUF == nil || f.GGUF.FromGGUF == nil {
		return Config{}, fmt.Errorf("family %s has no GGUF support", f.Name)
	}
	r := &GGUFReader{Meta: meta, Src: src, arch: f.GGUF.Arch}
	c, err := f.GGUF.FromGGUF(r)
	if err == nil {
		err = r.err
	}
	if err != nil {
		return c, err
	}
	c.RopeInterleaved = f.GGUF.PermuteQK
	if f.GGUF.NormShift {
		c.Norm = RMSNorm
	}
	c.Conv1DTransposed = len(f.GGUF.Conv1D) > 0
	return c, c.Validate()
}

// GGUFReader reads one family's GGUF metadata ("{arch}.key") and inspects
// its tensors, keeping the first error.
type GGUFReader struct {
	Meta Meta
	Src  Source // the file's tensors under Hugging Face names
	arch string
	err  error
}

func (r *GGUFReader) fail(err error) {
	if r.err == nil && err != nil {
		r.err = err
	}
}

// uint reads "{arch}.key"; def < 0 makes it required.
func (r *GGUFReader) uint(key string, def int) int {
	k := r.arch + "." + key
	v, ok, err := r.Meta.Uint(k)
	switch {
	case err != nil:
		r.fail(err)
		return 0
	case !ok && def < 0:
		r.fail(fmt.Errorf("gguf: missing metadata key %q", k))
		return 0
	case !ok:
		return def
	case v > math.MaxInt32:
		r.fail(fmt.Errorf("gguf: %q is %d, too large", k, v))
		return 0
	}
	return int(v)
}

func (r *GGUFReader) float(key string, def float64) float64 {
	v, ok, err := r.Meta.Float(r.arch + "." + key)
	r.fail(err)
	if !ok || err != nil {
		return def
	}
	return v
}

func (r *GGUFReader) has(hf string) bool { return r.Src.Has(hf) }

// rows returns the first dimension of a tensor.
func (r *GGUFReader) rows(hf string) int {
	t, err := r.Src.Tensor(hf)
	if err != nil {
		r.fail(err)
		return 0
	}
	if len(t.Shape) == 0 {
		r.fail(fmt.Errorf("tensor %q is a scalar", hf))
		return 0
	}
	return t.Shape[0]
}

// tied reports whether the output projection is the token embedding:
// absent, or a byte-identical copy (llama.cpp writes one for GPT-2).
func (r *GGUFReader) tied(embed, out string) bool {
	if !r.Src.Has(out) {
		return true
	}
	a, err1 := r.Src.Tensor(embed)
	b, err2 := r.Src.Tensor(out)
	return err1 == nil && err2 == nil && a.DType == b.DType && slices.Equal(a.Shape, b.Shape) && bytes.Equal(a.Data, b.Data)
}

// decoder reads the metadata of a Llama-style decoder (llama, qwen2,
// qwen3, gemma2, gemma3): sizes, RMSNorm epsilon, rope base, scaling and
// dimensions, sliding window, and which optional tensors exist.
func (r *GGUFReader) decoder(arch string) Config {
	c := Config{
		Arch:    arch,
		Dim:     r.uint("embedding_length", -1),
		Layers:  r.uint("block_count", -1),
		Heads:   r.uint("attention.head_count", -1),
		FFN:     r.uint("feed_forward_length", -1),
		MaxSeq:  r.uint("context_length", 2048),
		Norm:    RMSNorm,
		NormEps: r.float("attention.layer_norm_rms_epsilon", 1e-5),
		Act:     SiLU,
		Gated:   true,
	}
	c.KVHeads = r.uint("attention.head_count_kv", c.Heads)
	c.HeadDim = r.uint("attention.key_length", c.Dim/max(c.Heads, 1))
	if v := r.uint("attention.value_length", c.HeadDim); v != c.HeadDim {
		r.fail(fmt.Errorf("gguf: value_length %d differs from key_length %d, which limbic does not support", v, c.HeadDim))
	}
	c.Vocab = r.rows("model.embed_tokens.weight")
	c.RopeTheta = r.float("rope.freq_base", 10000)
	if rot := r.uint("rope.dimension_count", c.HeadDim); rot != c.HeadDim {
		c.RotaryDim = rot
	}
	c.RopeScaling = r.ropeScaling(&c)
	if w := r.uint("attention.sliding_window", 0); w > 0 {
		c.SlidingWindow = w
		c.Sliding = slices.Repeat([]bool{true}, max(c.Layers, 0))
	}
	c.QKVBias = r.has("model.layers.0.self_attn.q_proj.bias")
	c.OutBias = r.has("model.layers.0.self_attn.o_proj.bias")
	c.MLPBias = r.has("model.layers.0.mlp.up_proj.bias")
	c.QKNorm = r.has("model.layers.0.self_attn.q_norm.weight")
	c.Tied = r.tied("model.embed_tokens.weight", "lm_head.weight")
	return c
}

// ropeScaling reads rope.scaling.type/factor and the rope_freqs tensor.
func (r *GGUFReader) ropeScaling(c *Config) *RopeScaling {
	var s *RopeScaling
	typ, ok, err := r.Meta.String(r.arch + ".rope.scaling.type")
	r.fail(err)
	switch {
	case !ok || typ == "none":
	case typ == "linear":
		f := r.float("rope.scaling.factor", 1)
		if f != 1 {
			s = &RopeScaling{Type: "linear", Factor: f}
		}
	default:
		r.fail(fmt.Errorf("gguf: rope scaling %q is not supported (want linear, or llama3 as the %s tensor)", typ, RopeFreqsName))
	}
	if r.Src.Has(RopeFreqsName) {
		t, err := r.Src.Tensor(RopeFreqsName)
		if err != nil {
			r.fail(err)
			return nil
		}
		v, err := t.F32()
		if err != nil {
			r.fail(err)
			return nil
		}
		if s != nil {
			r.fail(fmt.Errorf("gguf: both linear rope scaling and %s", RopeFreqsName))
		}
		s = &RopeScaling{Type: "factors", Factors: make([]float64, len(v))}
		for i, x := range v {
			s.Factors[i] = float64(x)
		}
	}
	return s
}

// GGUFMetadata returns the "{arch}.*" metadata llama.cpp's converter writes
// for a model of this family (general.* and tokenizer.* keys are the
// writer's).
func (f *Family) GGUFMetadata(c *Config) ([]KV, error) {
	s := f.GGUF
	if s == nil {
		return nil, fmt.Errorf("writing %s models to GGUF is not supported", f.Name)
	}
	a := s.Arch + "."
	u := func(k string, v int) KV { return KV{a + k, uint32(v)} }
	r := func(k string, v float64) KV { return KV{a + k, float32(v)} }
	kv := []KV{
		u("context_length", c.MaxSeq),
		u("embedding_length", c.Dim),
		u("block_count", c.Layers),
		u("feed_forward_length", c.FFN),
		u("attention.head_count", c.Heads),
	}
	if c.Norm == LayerNorm {
		kv = append(kv, r("attention.layer_norm_epsilon", c.NormEps))
	} else {
		kv = append(kv, u("attention.head_count_kv", c.KVHeads), r("attention.layer_norm_rms_epsilon", c.NormEps))
	}
	if c.RopeTheta > 0 {
		kv = append(kv, r("rope.freq_base", c.RopeTheta))
	}
	if s.HeadDimKeys || c.HeadDim != c.Dim/c.Heads {
		kv = append(kv, u("attention.key_length", c.HeadDim), u("attention.value_length", c.HeadDim))
	}
	if rs := c.RopeScaling; rs != nil {
		switch rs.Type {
		case "linear":
			kv = append(kv, KV{a + "rope.scaling.type", "linear"}, r("rope.scaling.factor", rs.Factor))
		case "llama3", "factors":
			if !s.PermuteQK { // only llama.cpp's llama architecture reads rope_freqs
				return nil, fmt.Errorf("gguf: %s rope scaling cannot be written for %s", rs.Type, s.Arch)
			}
		default:
			return nil, fmt.Errorf("gguf: rope scaling %q cannot be written", rs.Type)
		}
	}
	if s.ToGGUF != nil {
		more, err := s.ToGGUF(c)
		if err != nil {
			return nil, err
		}
		kv = append(kv, more...)
	}
	return kv, nil
}

// RopeFreqs returns the rope_freqs tensor llama.cpp's converter writes for
// llama3 rope scaling (the divisor of each inverse frequency), or nil when
// the model has none.
func RopeFreqs(c *Config) *tensor.Tensor {
	s := c.RopeScaling
	if s == nil || (s.Type != "llama3" && s.Type != "factors") {
		return nil
	}
	if s.Type == "factors" {
		v := make([]float32, len(s.Factors))
		for i, f := range s.Factors {
			v[i] = float32(f)
		}
		return tensor.FromF32(RopeFreqsName, []int{len(v)}, v)
	}
	base := c.invFreq(c.RopeTheta, nil)
	scaled := c.InvFreq(false)
	v := make([]float32, len(base))
	for i := range v {
		v[i] = float32(base[i] / scaled[i])
	}
	return tensor.FromF32(RopeFreqsName, []int{len(v)}, v)
}

// ToGGUFLayout converts a tensor named hf from the Hugging Face layout to
// the family's GGUF layout: q/k rows permuted (llama), norm offsets folded
// in (Gemma), Conv1D weights transposed (GPT-2).
func (f *Family) ToGGUFLayout(c *Config, hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
	s := f.GGUF
	switch {
	case s == nil:
		return t, nil
	case s.PermuteQK && qkHeads(c, hf) > 0:
		return HalfToInterleaved(t, qkHeads(c, hf))
	case s.NormShift && strings.HasSuffix(hf, "norm.weight"):
		return addScalar(t, 1)
	case s.isConv1D(hf):
		return transpose2D(t)
	}
	return t, nil
}

// HFLayout converts a bound tensor named hf from the layout c describes to
// the Hugging Face layout (the inverse of ToGGUFLayout for tensors read
// from GGUF; a no-op for Hugging Face checkpoints).
func (f *Family) HFLayout(c *Config, hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
	switch {
	case c.RopeInterleaved && qkHeads(c, hf) > 0:
		return InterleavedToHalf(t, qkHeads(c, hf))
	case f.normShifted(c) && strings.HasSuffix(hf, "norm.weight"):
		return addScalar(t, -1)
	case c.Conv1DTransposed && f.GGUF != nil && f.GGUF.isConv1D(hf):
		return transpose2D(t)
	}
	return t, nil
}

// HFLayoutConfig returns c as it describes the tensors HFLayout returns.
func (f *Family) HFLayoutConfig(c Config) Config {
	if f.normShifted(&c) {
		c.Norm = RMSNormPlusOne
	}
	c.RopeInterleaved = false
	c.Conv1DTransposed = false
	return c
}

func (f *Family) normShifted(c *Config) bool {
	return f.GGUF != nil && f.GGUF.NormShift && c.Norm == RMSNorm
}

// gemmaGGUFNames is the tensor table of Gemma 2 and 3: four norms per block
// (post_attention_layernorm is on the attention output), q/k norms (Gemma 3).
var gemmaGGUFNames = [][2]string{
	{"model.embed_tokens.weight", "token_embd.weight"},
	{"model.norm.weight", "output_norm.weight"},
	{"lm_head.weight", "output.weight"},
	{"model.layers.{L}.input_layernorm.weight", "blk.{L}.attn_norm.weight"},
	{"model.layers.{L}.self_attn.q_proj.weight", "blk.{L}.attn_q.weight"},
	{"model.layers.{L}.self_attn.k_proj.weight", "blk.{L}.attn_k.weight"},
	{"model.layers.{L}.self_attn.v_proj.weight", "blk.{L}.attn_v.weight"},
	{"model.layers.{L}.self_attn.o_proj.weight", "blk.{L}.attn_output.weight"},
	{"model.layers.{L}.self_attn.q_norm.weight", "blk.{L}.attn_q_norm.weight"},
	{"model.layers.{L}.self_attn.k_norm.weight", "blk.{L}.attn_k_norm.weight"},
	{"model.layers.{L}.post_attention_layernorm.weight", "blk.{L}.post_attention_norm.weight"},
	{"model.layers.{L}.pre_feedforward_layernorm.weight", "blk.{L}.ffn_norm.weight"},
	{"model.layers.{L}.mlp.gate_proj.weight", "blk.{L}.ffn_gate.weight"},
	{"model.layers.{L}.mlp.up_proj.weight", "blk.{L}.ffn_up.weight"},
	{"model.layers.{L}.mlp.down_proj.weight", "blk.{L}.ffn_down.weight"},
	{"model.layers.{L}.post_feedforward_layernorm.weight", "blk.{L}.post_ffw_norm.weight"},
}

// gemmaQueryScale is how llama.cpp picks Gemma's attention scale from a
// GGUF file: an explicit attention.scale (limbic writes one only when the
// rule below would be wrong), else 1/sqrt(d_model/heads) for the 27B models
// (bigLayers layers) and 1/sqrt(head_dim) for the others. For every
// released Gemma 2 and 3 model this equals query_pre_attn_scalar^-0.5.
func (r *GGUFReader) gemmaQueryScale(c *Config, bigLayers int) float64 {
	if s := r.float("attention.scale", 0); s > 0 {
		return s
	}
	return gemmaRuleScale(c, bigLayers)
}

func gemmaRuleScale(c *Config, bigLayers int) float64 {
	if c.Layers == bigLayers {
		return 1 / math.Sqrt(float64(c.Dim/c.Heads))
	}
	return 1 / math.Sqrt(float64(c.HeadDim))
}

// gemmaScaleKV writes attention.scale when llama.cpp's rule would not give
// the model's query scale.
func gemmaScaleKV(arch string, c *Config, bigLayers int) []KV {
	want := c.QueryScale
	if want == 0 {
		want = 1 / math.Sqrt(float64(c.HeadDim))
	}
	if math.Abs(want-gemmaRuleScale(c, bigLayers)) <= 1e-7*want {
		return nil
	}
	return []KV{{arch + ".attention.scale", float32(want)}}
}
