package arch

// The Qwen3 family (dense models): the Llama layout without biases, with a
// per-head RMSNorm of q and k over head_dim (q_norm, k_norm) before rope,
// and head_dim set in the config (128, whatever hidden_size/heads is).
//
// GGUF: architecture "qwen3", Hugging Face q/k layout, attn_q_norm and
// attn_k_norm tensors.
//
// Unverified: no reference logits from Hugging Face exist yet for Qwen3;
// its q/k norm is tested in isolation.
func init() {
	Register(&Family{Name: "qwen3", ModelTypes: []string{"qwen3"}, FromHF: qwen3FromHF, Bind: bindLlama, ToHF: qwen3ToHF,
		GGUF: &GGUFSpec{Arch: "qwen3", Names: decoderGGUFNames, HeadDimKeys: true, FromGGUF: qwenFromGGUF("qwen3"), ToGGUF: qwenToGGUF}})
}

// qwen3Defaults are Qwen3Config's defaults that differ from the shared ones.
var qwen3Defaults = map[string]any{"head_dim": 128.0}

func qwen3FromHF(m map[string]any) (Config, error) {
	h := &hfConfig{m: withDefaults(m, qwen3Defaults)}
	c := decoderFromHF(h, "qwen3")
	h.activation("qwen3", SiLU, "hidden_act")
	c.QKVBias = h.boolOr("attention_bias", false)
	c.OutBias = c.QKVBias
	c.QKNorm = true
	qwenSliding(h, &c)
	if h.err != nil {
		return c, h.err
	}
	return c, c.Validate()
}

func qwen3ToHF(c *Config) map[string]any {
	m := decoderToHF(c, "qwen3", "Qwen3ForCausalLM")
	qwenToHF(c, m)
	m["attention_bias"] = c.QKVBias
	return m
}
