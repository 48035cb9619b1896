package arch

import "fmt"

// The Llama family: Llama 2, 3, 3.1/3.2 (llama3 rope scaling), SmolLM and
// SmolLM2, and the other checkpoints with model_type "llama". Pre-norm
// blocks with RMSNorm, rotary embeddings, grouped-query attention and a
// SwiGLU MLP; optional attention and MLP biases (attention_bias, mlp_bias).
//
// GGUF: architecture "llama"; llama.cpp's converter permutes the rows of q
// and k so that rope rotates interleaved pairs, which the engine runs as
// stored (RopeInterleaved), and writes llama3 rope scaling as the
// rope_freqs tensor. Mistral GGUFs use this architecture too.
func init() {
	Register(&Family{Name: "llama", ModelTypes: []string{"llama"}, FromHF: llamaFromHF, Bind: bindLlama, ToHF: llamaToHF,
		GGUF: &GGUFSpec{Arch: "llama", Names: decoderGGUFNames, PermuteQK: true, FromGGUF: llamaFromGGUF, ToGGUF: llamaToGGUF}})
}

func llamaFromHF(m map[string]any) (Config, error) {
	h := &hfConfig{m: m}
	c := decoderFromHF(h, "llama")
	h.activation("llama", SiLU, "hidden_act")
	c.QKVBias = h.boolOr("attention_bias", false)
	c.OutBias = c.QKVBias
	c.MLPBias = h.boolOr("mlp_bias", false)
	if h.err != nil {
		return c, h.err
	}
	return c, c.Validate()
}

func parseRopeScaling(m map[string]any) (*RopeScaling, error) {
	h := &hfConfig{m: m}
	typ := h.stringOr("rope_type", h.stringOr("type", ""))
	switch typ {
	case "", "default":
		return nil, h.err
	case "linear":
		return &RopeScaling{Type: typ, Factor: h.float("factor")}, h.err
	case "llama3":
		s := &RopeScaling{Type: typ, Factor: h.float("factor"), LowFreqFactor: h.float("low_freq_factor"),
			HighFreqFactor: h.float("high_freq_factor"), OriginalMaxPos: h.int("original_max_position_embeddings")}
		return s, h.err
	}
	return nil, fmt.Errorf("config.json: rope_scaling type %q is not supported (want linear or llama3)", typ)
}

func bindLlama(c *Config, b *binder) *Weights { return bindDecoder(c, b, hfDecoder) }

func llamaToHF(c *Config) map[string]any {
	m := decoderToHF(c, "llama", "LlamaForCausalLM")
	m["hidden_act"] = "silu"
	m["attention_bias"] = c.QKVBias
	m["mlp_bias"] = c.MLPBias
	return m
}

// llamaFromGGUF reads a GGUF "llama" model. A sliding window (which
// llama.cpp's llama architecture ignores, but limbic writes for Mistral
// v0.1) makes it a Mistral model.
func llamaFromGGUF(r *GGUFReader) (Config, error) {
	c := r.decoder("llama")
	if c.SlidingWindow > 0 {
		c.Arch = "mistral"
	}
	return c, r.err
}

// llamaToGGUF writes the keys llama.cpp's Llama converter adds.
func llamaToGGUF(c *Config) ([]KV, error) {
	return []KV{{"llama.vocab_size", uint32(c.Vocab)}, {"llama.rope.dimension_count", uint32(c.rotaryDim())}}, nil
}
