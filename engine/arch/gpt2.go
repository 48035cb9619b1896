package arch

import (
	"fmt"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// The GPT-2 family. LayerNorm with bias, learned absolute position
// embeddings (wpe), multi-head attention from one fused Conv1D (c_attn,
// stored [in, 3·d_model]: y = x·W + b), c_proj, a non-gated MLP (c_fc,
// GELU tanh, c_proj) with biases everywhere, a final ln_f and an output
// tied to the token embedding. Config names: n_embd, n_layer, n_head,
// n_positions, n_inner, layer_norm_epsilon. Tensor names with or without
// the "transformer." prefix (GPT2LMHeadModel saves it, the original
// checkpoints lack it).
//
// Conv1D weights are transposed to the engine's [out, in] at bind time and
// c_attn split into q, k and v. GGUF (architecture "gpt2") stores them
// already transposed (attn_qkv [3·d, d]), which binds without a copy.
func init() {
	Register(&Family{Name: "gpt2", ModelTypes: []string{"gpt2"}, FromHF: gpt2FromHF, Bind: bindGPT2, ToHF: gpt2ToHF,
		GGUF: &GGUFSpec{Arch: "gpt2", Names: gpt2GGUFNames, DupOutput: true,
			Conv1D:   []string{"attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"},
			FromGGUF: gpt2FromGGUF}})
}

func gpt2FromHF(m map[string]any) (Config, error) {
	h := &hfConfig{m: m}
	c := Config{
		Arch:    "gpt2",
		Vocab:   h.intOr("vocab_size", 50257),
		Dim:     h.int("n_embd"),
		Layers:  h.int("n_layer"),
		Heads:   h.int("n_head"),
		MaxSeq:  h.intOr("n_positions", 1024),
		Norm:    LayerNorm,
		NormEps: h.floatOr("layer_norm_epsilon", 1e-5),
		Act:     GELUTanh,
		Tied:    h.boolOr("tie_word_embeddings", true),
		QKVBias: true, OutBias: true, MLPBias: true,
		PosEmbed: true,
	}
	c.KVHeads = c.Heads
	c.HeadDim = c.Dim / max(c.Heads, 1)
	c.FFN = h.intOr("n_inner", 4*c.Dim)
	h.activation("gpt2", GELUTanh, "activation_function")
	if !h.boolOr("scale_attn_weights", true) {
		c.QueryScale = 1
	}
	if h.boolOr("scale_attn_by_inverse_layer_idx", false) {
		h.fail(fmt.Errorf("config.json: scale_attn_by_inverse_layer_idx is not supported"))
	}
	if h.err != nil {
		return c, h.err
	}
	if c.Dim%c.Heads != 0 {
		return c, fmt.Errorf("config.json: n_embd %d is not a multiple of n_head %d", c.Dim, c.Heads)
	}
	return c, c.Validate()
}

func bindGPT2(c *Config, b *binder) *Weights {
	p := "transformer."
	if !b.src.Has(p+"wte.weight") && b.src.Has("wte.weight") {
		p = ""
		b.canon = func(name string) string {
			if name == "lm_head.weight" {
				return name
			}
			return "transformer." + name
		}
	}
	d, f := c.Dim, c.FFN
	w := &Weights{Embed: b.embedding(p+"wte.weight", c.Vocab, d, c.Tied)}
	w.PosEmbed = b.positions(p+"wpe.weight", c.MaxSeq, d)
	for l := 0; l < c.Layers; l++ {
		lp := fmt.Sprintf("%sh.%d.", p, l)
		blk := Block{AttnNorm: b.norm(lp+"ln_1", d, true)}
		qkv := b.conv1d(lp+"attn.c_attn.weight", d, 3*d, c.Conv1DTransposed)
		bias := b.vec(lp+"attn.c_attn.bias", 3*d)
		for i, dst := range []*Linear{&blk.Q, &blk.K, &blk.V} {
			dst.W = b.matrix(b.rows(qkv, i*d, (i+1)*d))
			if bias != nil {
				dst.B = bias[i*d : (i+1)*d]
			}
		}
		blk.O = Linear{W: b.matrix(b.conv1d(lp+"attn.c_proj.weight", d, d, c.Conv1DTransposed)), B: b.vec(lp+"attn.c_proj.bias", d)}
		blk.MLPNorm = b.norm(lp+"ln_2", d, true)
		blk.Up = Linear{W: b.matrix(b.conv1d(lp+"mlp.c_fc.weight", d, f, c.Conv1DTransposed)), B: b.vec(lp+"mlp.c_fc.bias", f)}
		blk.Down = Linear{W: b.matrix(b.conv1d(lp+"mlp.c_proj.weight", f, d, c.Conv1DTransposed)), B: b.vec(lp+"mlp.c_proj.bias", d)}
		w.Blocks = append(w.Blocks, blk)
	}
	w.FinalNorm = b.norm(p+"ln_f", d, true)
	if c.Tied {
		w.Output = w.Embed
	} else {
		w.Output = b.mat("lm_head.weight", c.Vocab, d)
	}
	return w
}

func gpt2ToHF(c *Config) map[string]any {
	return map[string]any{
		"architectures":         []string{"GPT2LMHeadModel"},
		"model_type":            "gpt2",
		"vocab_size":            c.Vocab,
		"n_embd":                c.Dim,
		"n_layer":               c.Layers,
		"n_head":                c.Heads,
		"n_inner":               c.FFN,
		"n_positions":           c.MaxSeq,
		"n_ctx":                 c.MaxSeq,
		"layer_norm_epsilon":    c.NormEps,
		"activation_function":   "gelu_new",
		"tie_word_embeddings":   c.Tied,
		"scale_attn_weights":    c.QueryScale == 0,
		"resid_pdrop":           0.0,
		"embd_pdrop":            0.0,
		"attn_pdrop":            0.0,
		"summary_first_dropout": 0.0,
	}
}

// gpt2GGUFNames is llama.cpp's GPT-2 tensor table.
var gpt2GGUFNames = [][2]string{
	{"transformer.wte.weight", "token_embd.weight"},
	{"transformer.wpe.weight", "position_embd.weight"},
	{"transformer.ln_f.weight", "output_norm.weight"},
	{"transformer.ln_f.bias", "output_norm.bias"},
	{"lm_head.weight", "output.weight"},
	{"transformer.h.{L}.ln_1.weight", "blk.{L}.attn_norm.weight"},
	{"transformer.h.{L}.ln_1.bias", "blk.{L}.attn_norm.bias"},
	{"transformer.h.{L}.attn.c_attn.weight", "blk.{L}.attn_qkv.weight"},
	{"transformer.h.{L}.attn.c_attn.bias", "blk.{L}.attn_qkv.bias"},
	{"transformer.h.{L}.attn.c_proj.weight", "blk.{L}.attn_output.weight"},
	{"transformer.h.{L}.attn.c_proj.bias", "blk.{L}.attn_output.bias"},
	{"transformer.h.{L}.ln_2.weight", "blk.{L}.ffn_norm.weight"},
	{"transformer.h.{L}.ln_2.bias", "blk.{L}.ffn_norm.bias"},
	{"transformer.h.{L}.mlp.c_fc.weight", "blk.{L}.ffn_up.weight"},
	{"transformer.h.{L}.mlp.c_fc.bias", "blk.{L}.ffn_up.bias"},
	{"transformer.h.{L}.mlp.c_proj.weight", "blk.{L}.ffn_down.weight"},
	{"transformer.h.{L}.mlp.c_proj.bias", "blk.{L}.ffn_down.bias"},
}

func gpt2FromGGUF(r *GGUFReader) (Config, error) {
	c := Config{
		Arch:    "gpt2",
		Dim:     r.uint("embedding_length", -1),
		Layers:  r.uint("block_count", -1),
		Heads:   r.uint("attention.head_count", -1),
		FFN:     r.uint("feed_forward_length", -1),
		MaxSeq:  r.uint("context_length", 1024),
		Norm:    LayerNorm,
		NormEps: r.float("attention.layer_norm_epsilon", 1e-5),
		Act:     GELUTanh,
		QKVBias: true, OutBias: true, MLPBias: true,
		PosEmbed: true,
	}
	c.KVHeads = c.Heads
	c.HeadDim = c.Dim / max(c.Heads, 1)
	c.Vocab = r.rows("transformer.wte.weight")
	c.Tied = r.tied("transformer.wte.weight", "lm_head.weight")
	return c, r.err
}

// Binder helpers for GPT-2's tensors.

// conv1d reads a Conv1D weight as a linear weight [out, in]: stored
// [in, out] in Hugging Face checkpoints (transposed here, a copy), or
// already [out, in] when transposed is set (GGUF).
func (b *binder) conv1d(name string, in, out int, transposed bool) *tensor.Tensor {
	if transposed {
		return b.tensor(name, out, in)
	}
	t := b.tensor(name, in, out)
	if t == nil {
		return nil
	}
	tt, err := transpose2D(t)
	if err != nil {
		b.err = err
		return nil
	}
	return tt
}

// rows slices rows [lo, hi) of a 2-D tensor, without copying.
func (b *binder) rows(t *tensor.Tensor, lo, hi int) *tensor.Tensor {
	if t == nil || b.err != nil {
		return nil
	}
	s, err := sliceRows(t, lo, hi)
	if err != nil {
		b.err = err
		return nil
	}
	s.Name = fmt.Sprintf("%s[%d:%d]", t.Name, lo, hi)
	return s
}

// positions reads a learned position table [≥ n, d] as float32 [n·d].
func (b *binder) positions(name string, n, d int) []float32 {
	t := b.read(name, []int{n, d})
	if t == nil {
		return nil
	}
	if len(t.Shape) != 2 || t.Shape[1] != d || t.Shape[0] < n {
		b.err = fmt.Errorf("tensor %q: shape %v, want [≥%d %d]", name, t.Shape, n, d)
		return nil
	}
	v, err := t.F32()
	if err != nil {
		b.err = err
		return nil
	}
	return v[:n*d]
}
