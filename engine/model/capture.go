package model

import (
	"fmt"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// Captured is the result of Capture: logits at every position and the
// activations at each requested hook point.
type Captured struct {
	Tokens []int
	Vocab  int
	Logits []float32 // [len(Tokens), Vocab]
	Hooks  []*hook.Capture
}

// Capture runs one forward pass over tokens (in chunks) with capture hooks at
// every point the patterns name, like TransformerLens' run_with_cache.
func Capture(m *arch.Transformer, tokens []int, patterns []string) (*Captured, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("capture: no tokens")
	}
	var hs hook.Set
	res := &Captured{Tokens: tokens, Vocab: m.Vocab}
	seen := map[hook.Point]bool{}
	for _, p := range patterns {
		pts, err := hook.Expand(p, m.Layers)
		if err != nil {
			return nil, err
		}
		for _, pt := range pts {
			if seen[pt] {
				continue
			}
			seen[pt] = true
			c := &hook.Capture{Point: pt}
			hs.Add(pt, c.Func())
			res.Hooks = append(res.Hooks, c)
		}
	}
	seq := &arch.Seq{Cache: m.NewCache(), Hooks: &hs, Logits: arch.AllLogits}
	for start := 0; start < len(tokens); start += PrefillChunk {
		seq.Tokens = tokens[start:min(start+PrefillChunk, len(tokens))]
		if err := m.Forward([]*arch.Seq{seq}); err != nil {
			return nil, err
		}
		res.Logits = append(res.Logits, seq.Out...)
	}
	return res, nil
}

// HookNames returns the captured hook names in capture order.
func (c *Captured) HookNames() []string {
	out := make([]string, len(c.Hooks))
	for i, h := range c.Hooks {
		out[i] = h.Point.String()
	}
	return out
}

// Tensors returns tokens, logits and every hook as named tensors.
func (c *Captured) Tensors() []*tensor.Tensor {
	t := len(c.Tokens)
	out := []*tensor.Tensor{
		tensor.FromI32("tokens", []int{t}, c.Tokens),
		tensor.FromF32("logits", []int{t, c.Vocab}, c.Logits),
	}
	for _, h := range c.Hooks {
		out = append(out, tensor.FromF32(h.Point.String(), []int{h.Rows(), h.Dim}, h.Data))
	}
	return out
}

// WriteFile writes the tensors to a safetensors file (atomically).
func (c *Captured) WriteFile(path string, meta map[string]string) error {
	return safetensors.Write(path, c.Tensors(), meta)
}
