package arch

import "fmt"

// The Mistral family: the Llama layout, with an optional sliding window on
// every layer (Mistral 7B v0.1: 4096; v0.2 and later: none). head_dim may
// differ from hidden_size/heads (Mistral NeMo).
//
// GGUF: llama.cpp stores Mistral as architecture "llama" (q/k rows
// permuted) and has no sliding window there; limbic writes
// llama.attention.sliding_window when the model has one (llama.cpp ignores
// the key) and reads such a file back as Mistral.
func init() {
	Register(&Family{Name: "mistral", ModelTypes: []string{"mistral"}, FromHF: mistralFromHF, Bind: bindLlama, ToHF: mistralToHF,
		GGUF: &GGUFSpec{Arch: "llama", Names: decoderGGUFNames, PermuteQK: true, ToGGUF: mistralToGGUF}})
}

func mistralFromHF(m map[string]any) (Config, error) {
	h := &hfConfig{m: m}
	c := decoderFromHF(h, "mistral")
	h.activation("mistral", SiLU, "hidden_act")
	// MistralConfig's default window is 4096; an explicit null means none.
	window := 4096
	if _, ok := m["sliding_window"]; ok {
		window = h.intOr("sliding_window", 0)
	}
	if window > 0 {
		c.SlidingWindow = window
		c.Sliding = h.layerSliding(c.Layers, func(int) bool { return true })
	}
	if h.err != nil {
		return c, h.err
	}
	return c, c.Validate()
}

func mistralToHF(c *Config) map[string]any {
	m := decoderToHF(c, "mistral", "MistralForCausalLM")
	m["hidden_act"] = "silu"
	m["sliding_window"] = nil
	if c.SlidingWindow > 0 {
		m["sliding_window"] = c.SlidingWindow
		if !allSliding(c.Sliding) {
			m["layer_types"] = layerTypesToHF(c.Sliding)
		}
	}
	return m
}

func mistralToGGUF(c *Config) ([]KV, error) {
	kv, _ := llamaToGGUF(c)
	if c.SlidingWindow == 0 || c.Sliding == nil {
		return kv, nil
	}
	if !allSliding(c.Sliding) {
		return nil, fmt.Errorf("gguf: a sliding window on only some layers cannot be written for llama")
	}
	return append(kv, KV{"llama.attention.sliding_window", uint32(c.SlidingWindow)}), nil
}
