package arch

import (
	"fmt"
	"math"
)

// The Gemma 2 family. RMSNorm weights applied as (1+w); four norms per
// block (input, post-attention on the attention output, pre-feedforward,
// post-feedforward on the MLP output); token embeddings times sqrt(d_model)
// (rounded to the checkpoint's dtype, as Hugging Face computes it);
// queries scaled by query_pre_attn_scalar^-0.5; attention logits soft-capped
// (attn_logit_softcapping) and final logits too (final_logit_softcapping);
// a sliding window on the even layers (0, 2, …: Hugging Face's
// layer_idx % 2 == 0, llama.cpp's swa pattern 2); a GELU (tanh) gated MLP;
// tied embeddings.
//
// GGUF: architecture "gemma2"; llama.cpp's converter stores every norm
// weight as 1+w, which the engine runs as a plain RMSNorm.
func init() {
	Register(&Family{Name: "gemma2", ModelTypes: []string{"gemma2"}, FromHF: gemma2FromHF, Bind: bindLlama, ToHF: gemma2ToHF,
		GGUF: &GGUFSpec{Arch: "gemma2", Names: gemmaGGUFNames, NormShift: true, HeadDimKeys: true, FromGGUF: gemma2FromGGUF, ToGGUF: gemma2ToGGUF}})
}

// gemma2Defaults are Gemma2Config's defaults for fields a config may omit.
var gemma2Defaults = map[string]any{
	"head_dim": 256.0, "max_position_embeddings": 8192.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": true,
	"rope_theta": 10000.0, "query_pre_attn_scalar": 256.0, "sliding_window": 4096.0,
	"final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0,
}

func gemma2FromHF(m map[string]any) (Config, error) {
	h := &hfConfig{m: withDefaults(m, gemma2Defaults)}
	c := decoderFromHF(h, "gemma2")
	gemmaCommon(h, &c)
	c.AttnSoftcap = h.floatOr("attn_logit_softcapping", 0)
	c.FinalSoftcap = h.floatOr("final_logit_softcapping", 0)
	c.SlidingWindow = h.intOr("sliding_window", 0)
	if c.SlidingWindow > 0 {
		c.Sliding = h.layerSliding(c.Layers, func(l int) bool { return l%2 == 0 })
	}
	if h.err != nil {
		return c, h.err
	}
	return c, c.Validate()
}

// gemmaCommon sets what Gemma 2 and 3 share.
func gemmaCommon(h *hfConfig, c *Config) {
	c.Norm = RMSNormPlusOne
	c.Act = GELUTanh
	c.SandwichNorm = true
	h.activation(c.Arch, GELUTanh, "hidden_activation", "hidden_act")
	c.EmbedScale = gemmaEmbedScale(c.Dim, h.dtype())
	if q := h.floatOr("query_pre_attn_scalar", float64(c.HeadDim)); q > 0 {
		c.QueryScale = 1 / math.Sqrt(q)
	} else {
		h.fail(fmt.Errorf("config.json: query_pre_attn_scalar %g must be positive", q))
	}
}

// gemmaToHF writes what Gemma 2 and 3 share.
func gemmaToHF(c *Config, m map[string]any) {
	m["hidden_activation"] = "gelu_pytorch_tanh"
	m["hidden_act"] = "gelu_pytorch_tanh"
	qs := c.QueryScale
	if qs == 0 {
		qs = 1 / math.Sqrt(float64(c.HeadDim))
	}
	q := 1 / (qs * qs)
	if r := math.Round(q); math.Abs(q-r) < 1e-6*q {
		q = r
	}
	m["query_pre_attn_scalar"] = q
	softcap := func(v float64) any {
		if v == 0 {
			return nil
		}
		return v
	}
	m["attn_logit_softcapping"] = softcap(c.AttnSoftcap)
	m["final_logit_softcapping"] = softcap(c.FinalSoftcap)
	m["sliding_window"] = nil
	if c.SlidingWindow > 0 {
		m["sliding_window"] = c.SlidingWindow
		m["layer_types"] = layerTypesToHF(c.Sliding)
	}
	// The embedding scale is sqrt(d_model) rounded to the model dtype; when
	// the dtypes round it differently, torch_dtype must say which.
	exact := math.Sqrt(float64(c.Dim))
	var fits []string
	for _, dt := range []string{"float32", "bfloat16", "float16"} {
		if float32(c.EmbedScale) == float32(roundToDType(exact, dt)) {
			fits = append(fits, dt)
		}
	}
	if len(fits) > 0 && len(fits) < 3 {
		m["torch_dtype"] = fits[0]
	}
}

func gemma2ToHF(c *Config) map[string]any {
	m := decoderToHF(c, "gemma2", "Gemma2ForCausalLM")
	gemmaToHF(c, m)
	return m
}

// gemma2FromGGUF reads llama.cpp's gemma2 metadata with its defaults
// (soft-caps 50 and 30, window 4096, sliding on even layers).
func gemma2FromGGUF(r *GGUFReader) (Config, error) {
	c := r.decoder("gemma2")
	gemmaFromGGUF(&c)
	c.QueryScale = r.gemmaQueryScale(&c, 46)
	c.AttnSoftcap = r.float("attn_logit_softcapping", 50)
	c.FinalSoftcap = r.float("final_logit_softcapping", 30)
	c.SlidingWindow = r.uint("attention.sliding_window", 4096)
	c.Sliding = make([]bool, c.Layers)
	for l := range c.Sliding {
		c.Sliding[l] = l%2 == 0
	}
	return c, r.err
}

func gemmaFromGGUF(c *Config) {
	c.Act = GELUTanh
	c.SandwichNorm = true
	c.EmbedScale = math.Sqrt(float64(c.Dim)) // llama.cpp: sqrtf(n_embd) in f32
}

func gemma2ToGGUF(c *Config) ([]KV, error) {
	if c.AttnSoftcap == 0 || c.FinalSoftcap == 0 {
		return nil, fmt.Errorf("gguf: llama.cpp's gemma2 always soft-caps; a model without soft-capping cannot be written")
	}
	for l, s := range c.Sliding {
		if s != (l%2 == 0) {
			return nil, fmt.Errorf("gguf: llama.cpp's gemma2 slides on the even layers; layer %d differs", l)
		}
	}
	if c.SlidingWindow == 0 {
		return nil, fmt.Errorf("gguf: llama.cpp's gemma2 needs a sliding window")
	}
	kv := []KV{
		{"gemma2.attn_logit_softcapping", float32(c.AttnSoftcap)},
		{"gemma2.final_logit_softcapping", float32(c.FinalSoftcap)},
		{"gemma2.attention.sliding_window", uint32(c.SlidingWindow)},
	}
	return append(kv, gemmaScaleKV("gemma2", c, 46)...), nil
}
