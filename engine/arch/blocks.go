package arch

import (
	"fmt"
	"math"
	"slices"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// Shared building blocks of the families: reading the config.json fields
// that Llama-style decoders have in common, binding their tensors, and
// writing their config.json back.

// decoderFromHF reads the fields every Llama-style decoder (Llama, Mistral,
// Qwen2/3, Gemma 2/3) shares: sizes, RMSNorm epsilon, rotary base and
// scaling, tied embeddings. Families set the rest.
func decoderFromHF(h *hfConfig, arch string) Config {
	c := Config{
		Arch:    arch,
		Vocab:   h.int("vocab_size"),
		Dim:     h.int("hidden_size"),
		Layers:  h.int("num_hidden_layers"),
		Heads:   h.int("num_attention_heads"),
		FFN:     h.int("intermediate_size"),
		MaxSeq:  h.intOr("max_position_embeddings", 2048),
		Norm:    RMSNorm,
		NormEps: h.floatOr("rms_norm_eps", 1e-6),
		Act:     SiLU,
		Gated:   true,
		Tied:    h.boolOr("tie_word_embeddings", false),
	}
	c.KVHeads = h.intOr("num_key_value_heads", c.Heads)
	c.HeadDim = h.intOr("head_dim", c.Dim/max(c.Heads, 1))
	c.RopeTheta, c.RopeScaling = h.rope("full_attention", 10000)
	return c
}

// rope reads the rotary base and scaling: rope_theta and rope_scaling, or
// transformers 5's rope_parameters (which may hold one entry per layer
// type, "full_attention" and "sliding_attention").
func (h *hfConfig) rope(layerType string, defTheta float64) (float64, *RopeScaling) {
	if rp, ok := h.m["rope_parameters"].(map[string]any); ok {
		if sub, ok := rp[layerType].(map[string]any); ok {
			rp = sub
		}
		p := &hfConfig{m: rp}
		theta := p.floatOr("rope_theta", defTheta)
		h.fail(p.err)
		s, err := parseRopeScaling(rp)
		h.fail(err)
		return theta, s
	}
	theta := h.floatOr("rope_theta", defTheta)
	rs, ok := h.m["rope_scaling"].(map[string]any)
	if !ok {
		return theta, nil
	}
	s, err := parseRopeScaling(rs)
	h.fail(err)
	return theta, s
}

// maxLayers bounds num_hidden_layers before anything is sized by it (the
// largest models have a few hundred layers).
const maxLayers = 1 << 16

// layerSliding returns the per-layer sliding-window flags: from
// layer_types when the config lists them ("sliding_attention" /
// "full_attention"), else from the family's rule.
func (h *hfConfig) layerSliding(n int, rule func(l int) bool) []bool {
	if n <= 0 || n > maxLayers {
		h.fail(fmt.Errorf("config.json: num_hidden_layers %d, want 1 to %d", n, maxLayers))
		return nil
	}
	out := make([]bool, n)
	if lt, ok := h.m["layer_types"].([]any); ok && lt != nil {
		if len(lt) != n {
			h.fail(fmt.Errorf("config.json: %d layer_types for %d layers", len(lt), n))
			return nil
		}
		for l, v := range lt {
			switch v {
			case "sliding_attention":
				out[l] = true
			case "full_attention":
			default:
				h.fail(fmt.Errorf("config.json: layer_types[%d] is %v, want sliding_attention or full_attention", l, v))
				return nil
			}
		}
		return out
	}
	for l := range out {
		out[l] = rule(l)
	}
	return out
}

func (h *hfConfig) fail(err error) {
	if h.err == nil {
		h.err = err
	}
}

// dtype returns the checkpoint's torch_dtype (transformers 5: dtype).
func (h *hfConfig) dtype() string {
	return h.stringOr("torch_dtype", h.stringOr("dtype", ""))
}

// activation checks the MLP activation named by one of keys against the
// accepted spellings.
func (h *hfConfig) activation(family string, want Activation, keys ...string) {
	ok := map[Activation][]string{
		SiLU:     {"silu", "swish"},
		GELUTanh: {"gelu_pytorch_tanh", "gelu_new", "gelu_fast"},
	}[want]
	for _, k := range keys {
		if v, present := h.m[k]; present && v != nil {
			s := h.stringOr(k, "")
			if !slices.Contains(ok, s) {
				h.fail(fmt.Errorf("config.json: %s %q is not supported for %s (want %s)", k, s, family, ok[0]))
			}
			return
		}
	}
}

// withDefaults returns m with the defaults of its config class filled in
// where a key is absent (multimodal configs leave many text_config fields
// out). An explicit null stays null.
func withDefaults(m map[string]any, defaults map[string]any) map[string]any {
	out := make(map[string]any, len(m)+len(defaults))
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// roundToDType rounds x as the model dtype stores it ("bfloat16",
// "float16"; anything else keeps float32 precision).
func roundToDType(x float64, dtype string) float64 {
	switch dtype {
	case "bfloat16":
		return float64(tensor.BF16ToF32(tensor.F32ToBF16(float32(x))))
	case "float16":
		return float64(tensor.F16ToF32(tensor.F32ToF16(float32(x))))
	}
	return float64(float32(x))
}

// gemmaEmbedScale is Gemma's embedding multiplier sqrt(d_model), rounded to
// the model dtype as Hugging Face computes it (a tensor of the activations'
// dtype): for d_model 3584, sqrt is 59.87 and bfloat16 makes it 59.75.
func gemmaEmbedScale(dim int, dtype string) float64 {
	return roundToDType(math.Sqrt(float64(dim)), dtype)
}

// decoderLayout names the tensors of a Llama-style decoder in Hugging Face
// checkpoints; the Config says which optional ones exist (QKNorm,
// SandwichNorm, biases, Tied).
type decoderLayout struct {
	prefix string // of embed_tokens, layers.N., norm: "model."
	lmHead string // the untied output projection: "lm_head.weight"
}

var hfDecoder = decoderLayout{prefix: "model.", lmHead: "lm_head.weight"}

// bindDecoder binds a Llama-style decoder. Llama names the MLP's input norm
// post_attention_layernorm; Gemma (SandwichNorm) uses that name for the
// norm on the attention output and pre/post_feedforward_layernorm around
// the MLP.
func bindDecoder(c *Config, b *binder, d decoderLayout) *Weights {
	p := d.prefix
	w := &Weights{Embed: b.embedding(p+"embed_tokens.weight", c.Vocab, c.Dim, c.Tied)}
	for l := 0; l < c.Layers; l++ {
		lp := fmt.Sprintf("%slayers.%d.", p, l)
		blk := Block{AttnNorm: b.norm(lp+"input_layernorm", c.Dim, false)}
		blk.Q = b.linear(lp+"self_attn.q_proj", c.QDim(), c.Dim, c.QKVBias)
		blk.K = b.linear(lp+"self_attn.k_proj", c.KVDim(), c.Dim, c.QKVBias)
		blk.V = b.linear(lp+"self_attn.v_proj", c.KVDim(), c.Dim, c.QKVBias)
		blk.O = b.linear(lp+"self_attn.o_proj", c.Dim, c.QDim(), c.OutBias)
		if c.QKNorm {
			blk.QNorm = b.norm(lp+"self_attn.q_norm", c.HeadDim, false)
			blk.KNorm = b.norm(lp+"self_attn.k_norm", c.HeadDim, false)
		}
		if c.SandwichNorm {
			blk.PostAttnNorm = b.norm(lp+"post_attention_layernorm", c.Dim, false)
			blk.MLPNorm = b.norm(lp+"pre_feedforward_layernorm", c.Dim, false)
		} else {
			blk.MLPNorm = b.norm(lp+"post_attention_layernorm", c.Dim, false)
		}
		blk.Gate = b.linear(lp+"mlp.gate_proj", c.FFN, c.Dim, c.MLPBias)
		blk.Up = b.linear(lp+"mlp.up_proj", c.FFN, c.Dim, c.MLPBias)
		blk.Down = b.linear(lp+"mlp.down_proj", c.Dim, c.FFN, c.MLPBias)
		if c.SandwichNorm {
			blk.PostMLPNorm = b.norm(lp+"post_feedforward_layernorm", c.Dim, false)
		}
		w.Blocks = append(w.Blocks, blk)
	}
	w.FinalNorm = b.norm(p+"norm", c.Dim, false)
	if c.Tied {
		w.Output = w.Embed
	} else {
		w.Output = b.mat(d.lmHead, c.Vocab, c.Dim)
	}
	return w
}

// decoderToHF writes the config.json fields shared by Llama-style decoders.
func decoderToHF(c *Config, modelType, class string) map[string]any {
	m := map[string]any{
		"architectures":           []string{class},
		"model_type":              modelType,
		"vocab_size":              c.Vocab,
		"hidden_size":             c.Dim,
		"intermediate_size":       c.FFN,
		"num_hidden_layers":       c.Layers,
		"num_attention_heads":     c.Heads,
		"num_key_value_heads":     c.KVHeads,
		"head_dim":                c.HeadDim,
		"max_position_embeddings": c.MaxSeq,
		"rms_norm_eps":            c.NormEps,
		"rope_theta":              c.RopeTheta,
		"tie_word_embeddings":     c.Tied,
	}
	if rs := ropeScalingToHF(c.RopeScaling); rs != nil {
		m["rope_scaling"] = rs
	}
	return m
}

func ropeScalingToHF(s *RopeScaling) map[string]any {
	if s == nil {
		return nil
	}
	rs := map[string]any{"rope_type": s.Type, "factor": s.Factor}
	if s.Type == "llama3" {
		rs["low_freq_factor"] = s.LowFreqFactor
		rs["high_freq_factor"] = s.HighFreqFactor
		rs["original_max_position_embeddings"] = s.OriginalMaxPos
	}
	return rs
}

// layerTypesToHF writes per-layer sliding flags as layer_types.
func layerTypesToHF(sliding []bool) []string {
	out := make([]string, len(sliding))
	for i, s := range sliding {
		out[i] = "full_attention"
		if s {
			out[i] = "sliding_attention"
		}
	}
	return out
}

// allSliding reports whether every layer uses the sliding window.
func allSliding(s []bool) bool {
	return len(s) > 0 && !slices.Contains(s, false)
}

// Tensor layout helpers.

// transpose2D returns t [r, c] transposed to [c, r] (a copy). Block-quantised
// dtypes cannot be transposed without requantising and are refused.
func transpose2D(t *tensor.Tensor) (*tensor.Tensor, error) {
	if len(t.Shape) != 2 {
		return nil, fmt.Errorf("tensor %q: shape %v is not a matrix", t.Name, t.Shape)
	}
	if err := t.Check(); err != nil {
		return nil, err
	}
	var es int
	switch t.DType {
	case tensor.F32, tensor.I32:
		es = 4
	case tensor.F16, tensor.BF16:
		es = 2
	case tensor.F64, tensor.I64:
		es = 8
	default:
		v, err := t.F32()
		if err != nil {
			return nil, fmt.Errorf("tensor %q: cannot transpose %v: %w", t.Name, t.DType, err)
		}
		return transpose2D(tensor.FromF32(t.Name, t.Shape, v))
	}
	r, c := t.Shape[0], t.Shape[1]
	out := &tensor.Tensor{Name: t.Name, DType: t.DType, Shape: []int{c, r}, Data: make([]byte, len(t.Data))}
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			copy(out.Data[(j*r+i)*es:(j*r+i+1)*es], t.Data[(i*c+j)*es:(i*c+j+1)*es])
		}
	}
	return out, nil
}

// sliceRows returns rows [lo, hi) of a tensor (for a 1-D tensor, elements)
// without copying.
func sliceRows(t *tensor.Tensor, lo, hi int) (*tensor.Tensor, error) {
	rowElems := 1
	for _, s := range t.Shape[1:] {
		rowElems *= s
	}
	rb, err := t.DType.Bytes(rowElems)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	shape := append([]int{hi - lo}, t.Shape[1:]...)
	return &tensor.Tensor{Name: t.Name, DType: t.DType, Shape: shape, Data: t.Data[lo*rb : hi*rb : hi*rb]}, nil
}

// addScalar returns a float32 copy of a 1-D tensor with a added to every
// value (Gemma's norm offset, which GGUF stores folded in).
func addScalar(t *tensor.Tensor, a float32) (*tensor.Tensor, error) {
	v, err := t.F32()
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x + a
	}
	return tensor.FromF32(t.Name, t.Shape, out), nil
}
