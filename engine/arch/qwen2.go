package arch

import "fmt"

// The Qwen2 family: Qwen2, Qwen2.5 (and their chat and coder models). The
// Llama layout with biases on the q, k and v projections (not on o), tied
// or untied embeddings, a large rope base. A sliding window applies only
// when use_sliding_window is set, to layers from max_window_layers on.
//
// GGUF: architecture "qwen2", Hugging Face (rotate-half) q/k layout.
func init() {
	Register(&Family{Name: "qwen2", ModelTypes: []string{"qwen2"}, FromHF: qwen2FromHF, Bind: bindLlama, ToHF: qwen2ToHF,
		GGUF: &GGUFSpec{Arch: "qwen2", Names: decoderGGUFNames, FromGGUF: qwenFromGGUF("qwen2"), ToGGUF: qwenToGGUF}})
}

func qwen2FromHF(m map[string]any) (Config, error) {
	h := &hfConfig{m: m}
	c := decoderFromHF(h, "qwen2")
	h.activation("qwen2", SiLU, "hidden_act")
	c.QKVBias = true
	qwenSliding(h, &c)
	if h.err != nil {
		return c, h.err
	}
	return c, c.Validate()
}

// qwenSliding reads Qwen2/Qwen3's sliding window: only with
// use_sliding_window, on the layers from max_window_layers on (or as
// layer_types says).
func qwenSliding(h *hfConfig, c *Config) {
	if !h.boolOr("use_sliding_window", false) {
		return
	}
	c.SlidingWindow = h.intOr("sliding_window", 4096)
	from := h.intOr("max_window_layers", 28)
	c.Sliding = h.layerSliding(c.Layers, func(l int) bool { return l >= from })
}

func qwen2ToHF(c *Config) map[string]any {
	m := decoderToHF(c, "qwen2", "Qwen2ForCausalLM")
	qwenToHF(c, m)
	return m
}

func qwenToHF(c *Config, m map[string]any) {
	m["hidden_act"] = "silu"
	m["use_sliding_window"] = false
	if c.SlidingWindow > 0 && c.Sliding != nil {
		from := 0
		for from < len(c.Sliding) && !c.Sliding[from] {
			from++
		}
		m["use_sliding_window"] = true
		m["sliding_window"] = c.SlidingWindow
		m["max_window_layers"] = from
		m["layer_types"] = layerTypesToHF(c.Sliding)
	}
}

func qwenFromGGUF(arch string) func(r *GGUFReader) (Config, error) {
	return func(r *GGUFReader) (Config, error) {
		c := r.decoder(arch)
		return c, r.err
	}
}

func qwenToGGUF(c *Config) ([]KV, error) {
	if c.SlidingWindow > 0 && c.Sliding != nil {
		return nil, fmt.Errorf("gguf: llama.cpp's %s has no sliding window; this model cannot be written faithfully", c.Arch)
	}
	return nil, nil
}
