package arch

import (
	"fmt"
	"strings"
)

// The Gemma 3 family (the language model; images are not supported).
// Gemma 2's block (four (1+w) RMSNorms, sqrt(d_model) embedding scale,
// query_pre_attn_scalar, GELU (tanh) gated MLP, tied embeddings) plus a
// per-head (1+w) RMSNorm of q and k before rope, and two rotary bases:
// rope_local_base_freq (10000) on the sliding-window layers and rope_theta
// (1e6, with rope_scaling, e.g. linear 8) on the global layers. One layer
// in sliding_window_pattern (6) is global: layers 5, 11, … No soft-capping.
//
// Checkpoints: model_type "gemma3_text" (Gemma3ForCausalLM: model.*,
// lm_head) and the multimodal "gemma3" (Gemma3ForConditionalGeneration),
// whose text_config describes the language model, with its tensors under
// language_model.model.* (transformers < 4.52 and ≥ 5) or
// model.language_model.* (4.52–4.57). Fields missing from text_config take
// Gemma3TextConfig's defaults.
//
// GGUF: architecture "gemma3"; norms stored as 1+w; llama.cpp fixes the
// local rope base at 10000 and the pattern at 6.
//
// Unverified: no reference logits from Hugging Face exist yet for Gemma 3;
// its q/k norm and local/global rope bases are tested in isolation.
func init() {
	Register(&Family{Name: "gemma3", ModelTypes: []string{"gemma3", "gemma3_text"}, FromHF: gemma3FromHF, Bind: bindGemma3, ToHF: gemma3ToHF,
		GGUF: &GGUFSpec{Arch: "gemma3", Names: gemmaGGUFNames, NormShift: true, HeadDimKeys: true, TrimVocab: true, FromGGUF: gemma3FromGGUF, ToGGUF: gemma3ToGGUF}})
}

// gemma3Defaults are Gemma3TextConfig's defaults.
var gemma3Defaults = map[string]any{
	"vocab_size": 262208.0, "hidden_size": 2304.0, "intermediate_size": 9216.0, "num_hidden_layers": 26.0,
	"num_attention_heads": 8.0, "num_key_value_heads": 4.0, "head_dim": 256.0,
	"hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 131072.0, "rms_norm_eps": 1e-6,
	"tie_word_embeddings": true, "rope_theta": 1e6, "query_pre_attn_scalar": 256.0, "sliding_window": 4096.0,
	"rope_local_base_freq": 10000.0, "sliding_window_pattern": 6.0,
}

func gemma3FromHF(m map[string]any) (Config, error) {
	text := m
	if mt, _ := m["model_type"].(string); mt == "gemma3" {
		tc, ok := m["text_config"].(map[string]any)
		if !ok {
			return Config{}, fmt.Errorf("config.json: gemma3 config without a text_config")
		}
		text = map[string]any{}
		for k, v := range tc {
			text[k] = v
		}
		for _, k := range []string{"torch_dtype", "dtype"} {
			if _, ok := text[k]; !ok && m[k] != nil {
				text[k] = m[k]
			}
		}
	}
	h := &hfConfig{m: withDefaults(text, gemma3Defaults)}
	c := decoderFromHF(h, "gemma3")
	gemmaCommon(h, &c)
	c.QKNorm = true
	c.AttnSoftcap = h.floatOr("attn_logit_softcapping", 0)
	c.FinalSoftcap = h.floatOr("final_logit_softcapping", 0)
	local := h.floatOr("rope_local_base_freq", 10000)
	if _, ok := h.m["rope_parameters"].(map[string]any); ok {
		var s *RopeScaling
		local, s = h.rope("sliding_attention", 10000)
		if s != nil {
			h.fail(fmt.Errorf("config.json: rope scaling on the sliding-window layers is not supported"))
		}
	}
	c.SlidingWindow = h.intOr("sliding_window", 0)
	if c.SlidingWindow > 0 {
		pattern := h.intOr("sliding_window_pattern", 6)
		c.Sliding = h.layerSliding(c.Layers, func(l int) bool { return pattern > 0 && (l+1)%pattern != 0 })
		c.RopeLocalTheta = local
	}
	if h.err != nil {
		return c, h.err
	}
	return c, c.Validate()
}

// bindGemma3 finds the language model's tensors in a text-only or a
// multimodal checkpoint and binds them under their text-only names.
func bindGemma3(c *Config, b *binder) *Weights {
	d := hfDecoder
	for _, p := range []decoderLayout{
		{prefix: "model.", lmHead: "lm_head.weight"},
		{prefix: "language_model.model.", lmHead: "language_model.lm_head.weight"},
		{prefix: "model.language_model.", lmHead: "lm_head.weight"},
	} {
		if b.src.Has(p.prefix + "embed_tokens.weight") {
			d = p
			break
		}
	}
	if d.prefix != hfDecoder.prefix {
		b.canon = func(name string) string {
			if name == d.lmHead {
				return hfDecoder.lmHead
			}
			return hfDecoder.prefix + strings.TrimPrefix(name, d.prefix)
		}
	}
	return bindDecoder(c, b, d)
}

func gemma3ToHF(c *Config) map[string]any {
	m := decoderToHF(c, "gemma3_text", "Gemma3ForCausalLM")
	gemmaToHF(c, m)
	m["rope_local_base_freq"] = 10000.0
	if c.RopeLocalTheta > 0 {
		m["rope_local_base_freq"] = c.RopeLocalTheta
	}
	if k := slidingPeriod(c.Sliding); k > 0 {
		m["sliding_window_pattern"] = k
	}
	return m
}

// slidingPeriod returns k when exactly the layers l with (l+1) % k == 0
// are global, else 0.
func slidingPeriod(s []bool) int {
	k := 1
	for k <= len(s) && s[k-1] {
		k++
	}
	for l := range s {
		if s[l] != ((l+1)%k != 0) {
			return 0
		}
	}
	return k
}

func gemma3FromGGUF(r *GGUFReader) (Config, error) {
	c := r.decoder("gemma3")
	gemmaFromGGUF(&c)
	c.QueryScale = r.gemmaQueryScale(&c, 62)
	c.FinalSoftcap = r.float("final_logit_softcapping", 0)
	c.Sliding, c.SlidingWindow = nil, 0
	if w := r.uint("attention.sliding_window", 0); w > 0 {
		c.SlidingWindow = w
		c.Sliding = make([]bool, c.Layers)
		for l := range c.Sliding {
			c.Sliding[l] = l%6 < 5
		}
		c.RopeLocalTheta = r.float("rope.freq_base_swa", 10000)
	}
	return c, r.err
}

func gemma3ToGGUF(c *Config) ([]KV, error) {
	var kv []KV
	if c.AttnSoftcap != 0 {
		return nil, fmt.Errorf("gguf: llama.cpp's gemma3 has no attention soft-capping")
	}
	if c.FinalSoftcap != 0 {
		kv = append(kv, KV{"gemma3.final_logit_softcapping", float32(c.FinalSoftcap)})
	}
	if c.SlidingWindow > 0 && c.Sliding != nil {
		for l, sl := range c.Sliding {
			if sl != (l%6 < 5) {
				return nil, fmt.Errorf("gguf: llama.cpp's gemma3 makes every 6th layer global; layer %d differs", l)
			}
		}
		if c.RopeLocalTheta != 0 && c.RopeLocalTheta != 10000 {
			return nil, fmt.Errorf("gguf: llama.cpp's gemma3 fixes the local rope base at 10000, not %g", c.RopeLocalTheta)
		}
		kv = append(kv, KV{"gemma3.attention.sliding_window", uint32(c.SlidingWindow)})
	}
	return append(kv, gemmaScaleKV("gemma3", c, 62)...), nil
}
