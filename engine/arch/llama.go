package arch

import "fmt"

// The Llama family: Llama 2/3/3.x, and the models that share its layout.
// Pre-norm blocks with RMSNorm, rotary embeddings, grouped-query attention
// and a SwiGLU MLP.
func init() {
	Register(&Family{Name: "llama", ModelTypes: []string{"llama"}, FromHF: llamaFromHF, Bind: bindLlama, ToHF: llamaToHF})
}

func llamaFromHF(m map[string]any) (Config, error) {
	h := &hfConfig{m: m}
	c := Config{
		Arch:      "llama",
		Vocab:     h.int("vocab_size"),
		Dim:       h.int("hidden_size"),
		Layers:    h.int("num_hidden_layers"),
		Heads:     h.int("num_attention_heads"),
		FFN:       h.int("intermediate_size"),
		MaxSeq:    h.intOr("max_position_embeddings", 2048),
		Norm:      RMSNorm,
		NormEps:   h.floatOr("rms_norm_eps", 1e-6),
		Act:       SiLU,
		Gated:     true,
		RopeTheta: h.floatOr("rope_theta", 10000),
		Tied:      h.boolOr("tie_word_embeddings", false),
	}
	c.KVHeads = h.intOr("num_key_value_heads", c.Heads)
	if c.Heads > 0 {
		c.HeadDim = h.intOr("head_dim", c.Dim/max(c.Heads, 1))
	}
	if act := h.stringOr("hidden_act", "silu"); act != "silu" {
		return c, fmt.Errorf("config.json: hidden_act %q is not supported for llama (want silu)", act)
	}
	if h.boolOr("attention_bias", false) || h.boolOr("mlp_bias", false) {
		return c, fmt.Errorf("config.json: llama with attention_bias or mlp_bias is not supported")
	}
	if rs, ok := m["rope_scaling"].(map[string]any); ok {
		s, err := parseRopeScaling(rs)
		if err != nil {
			return c, err
		}
		c.RopeScaling = s
	}
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

func bindLlama(c *Config, b *binder) *Weights {
	w := &Weights{Embed: b.mat("model.embed_tokens.weight", c.Vocab, c.Dim)}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		w.Blocks = append(w.Blocks, Block{
			AttnNorm: b.norm(p+"input_layernorm", c.Dim, false),
			Q:        b.linear(p+"self_attn.q_proj", c.QDim(), c.Dim, false),
			K:        b.linear(p+"self_attn.k_proj", c.KVDim(), c.Dim, false),
			V:        b.linear(p+"self_attn.v_proj", c.KVDim(), c.Dim, false),
			O:        b.linear(p+"self_attn.o_proj", c.Dim, c.QDim(), false),
			MLPNorm:  b.norm(p+"post_attention_layernorm", c.Dim, false),
			Gate:     b.linear(p+"mlp.gate_proj", c.FFN, c.Dim, false),
			Up:       b.linear(p+"mlp.up_proj", c.FFN, c.Dim, false),
			Down:     b.linear(p+"mlp.down_proj", c.Dim, c.FFN, false),
		})
	}
	w.FinalNorm = b.norm("model.norm", c.Dim, false)
	if c.Tied {
		w.Output = w.Embed
	} else {
		w.Output = b.mat("lm_head.weight", c.Vocab, c.Dim)
	}
	return w
}

func llamaToHF(c *Config) map[string]any {
	m := map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
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
		"hidden_act":              "silu",
		"attention_bias":          false,
		"mlp_bias":                false,
		"torch_dtype":             "float32",
	}
	if s := c.RopeScaling; s != nil {
		rs := map[string]any{"rope_type": s.Type, "factor": s.Factor}
		if s.Type == "llama3" {
			rs["low_freq_factor"] = s.LowFreqFactor
			rs["high_freq_factor"] = s.HighFreqFactor
			rs["original_max_position_embeddings"] = s.OriginalMaxPos
		}
		m["rope_scaling"] = rs
	}
	return m
}
