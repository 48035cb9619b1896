// Package llama2c reads checkpoints in the legacy llama2.c format (Karpathy's
// run.c): a header of seven int32 values, then float32 weights in a fixed
// order. Tensors come out under Hugging Face Llama names with the llama2.c
// (Meta) layout of q and k, whose rotary pairs are interleaved; the config
// records that with RopeInterleaved.
//
// Header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len. A negative vocab_size means the classifier is stored separately
// (untied) after the weights. The RoPE tables stored before the classifier are
// redundant and skipped.
package llama2c

import (
	"encoding/binary"
	"fmt"

	"github.com/limbic-dev/limbic/engine/tensor"
)

// Header is the llama2.c checkpoint header.
type Header struct {
	Dim, Hidden, Layers, Heads, KVHeads, Vocab, SeqLen int
	Shared                                             bool // classifier shares the token embedding
}

// HeaderSize is the size of the header in bytes.
const HeaderSize = 7 * 4

// ParseHeader reads and checks the header.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("llama2c: file has %d bytes, too short for the %d-byte header", len(b), HeaderSize)
	}
	v := make([]int, 7)
	for i := range v {
		v[i] = int(int32(binary.LittleEndian.Uint32(b[4*i:])))
	}
	h := Header{Dim: v[0], Hidden: v[1], Layers: v[2], Heads: v[3], KVHeads: v[4], Vocab: v[5], SeqLen: v[6], Shared: v[5] > 0}
	if h.Vocab < 0 {
		h.Vocab = -h.Vocab
	}
	const lim = 1 << 20
	switch {
	case h.Dim <= 0 || h.Hidden <= 0 || h.Layers <= 0 || h.Heads <= 0 || h.KVHeads <= 0 || h.Vocab <= 0 || h.SeqLen <= 0:
		return h, fmt.Errorf("llama2c: header %v has non-positive values: not a llama2.c checkpoint", v)
	case h.Dim > lim || h.Hidden > lim || h.Layers > 4096 || h.Vocab > 1<<24 || h.SeqLen > 1<<24:
		return h, fmt.Errorf("llama2c: header %v has implausible sizes: not a llama2.c checkpoint", v)
	case h.Dim%h.Heads != 0:
		return h, fmt.Errorf("llama2c: dim %d is not a multiple of n_heads %d", h.Dim, h.Heads)
	case h.Heads%h.KVHeads != 0:
		return h, fmt.Errorf("llama2c: n_heads %d is not a multiple of n_kv_heads %d", h.Heads, h.KVHeads)
	case (h.Dim/h.Heads)%2 != 0:
		return h, fmt.Errorf("llama2c: head size %d is odd", h.Dim/h.Heads)
	}
	return h, nil
}

// layout lists the tensors in file order: name pattern, per-layer or not, shape.
func (h Header) layout() []struct {
	name     string
	perLayer bool
	shape    []int
} {
	hs := h.Dim / h.Heads
	kv := h.KVHeads * hs
	type e = struct {
		name     string
		perLayer bool
		shape    []int
	}
	out := []e{
		{"model.embed_tokens.weight", false, []int{h.Vocab, h.Dim}},
		{"model.layers.%d.input_layernorm.weight", true, []int{h.Dim}},
		{"model.layers.%d.self_attn.q_proj.weight", true, []int{h.Dim, h.Dim}},
		{"model.layers.%d.self_attn.k_proj.weight", true, []int{kv, h.Dim}},
		{"model.layers.%d.self_attn.v_proj.weight", true, []int{kv, h.Dim}},
		{"model.layers.%d.self_attn.o_proj.weight", true, []int{h.Dim, h.Dim}},
		{"model.layers.%d.post_attention_layernorm.weight", true, []int{h.Dim}},
		{"model.layers.%d.mlp.gate_proj.weight", true, []int{h.Hidden, h.Dim}},
		{"model.layers.%d.mlp.down_proj.weight", true, []int{h.Dim, h.Hidden}},
		{"model.layers.%d.mlp.up_proj.weight", true, []int{h.Hidden, h.Dim}},
		{"model.norm.weight", false, []int{h.Dim}},
		{"", false, []int{h.SeqLen, hs / 2}}, // freq_cis_real (skipped)
		{"", false, []int{h.SeqLen, hs / 2}}, // freq_cis_imag (skipped)
	}
	if !h.Shared {
		out = append(out, e{"lm_head.weight", false, []int{h.Vocab, h.Dim}})
	}
	return out
}

// FileSize returns the exact size in bytes of a checkpoint with this header.
func (h Header) FileSize() int64 {
	n := int64(HeaderSize)
	for _, e := range h.layout() {
		c := int64(4 * tensor.Numel(e.shape))
		if e.perLayer {
			c *= int64(h.Layers)
		}
		n += c
	}
	return n
}

// Parse reads a whole checkpoint held in b (typically memory-mapped). The
// tensors alias b.
func Parse(b []byte) (Header, []*tensor.Tensor, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, nil, err
	}
	if want := h.FileSize(); int64(len(b)) != want {
		what := "truncated"
		if int64(len(b)) > want {
			what = "has trailing bytes"
		}
		return h, nil, fmt.Errorf("llama2c: file is %d bytes but a checkpoint with dim %d, hidden %d, %d layers, %d heads, %d kv heads, vocab %d, seq_len %d (shared classifier %v) is %d bytes: %s or not a llama2.c checkpoint",
			len(b), h.Dim, h.Hidden, h.Layers, h.Heads, h.KVHeads, h.Vocab, h.SeqLen, h.Shared, want, what)
	}
	var out []*tensor.Tensor
	off := HeaderSize
	for _, e := range h.layout() {
		size := 4 * tensor.Numel(e.shape)
		reps := 1
		if e.perLayer {
			reps = h.Layers
		}
		for l := 0; l < reps; l++ {
			if e.name != "" {
				name := e.name
				if e.perLayer {
					name = fmt.Sprintf(e.name, l)
				}
				out = append(out, &tensor.Tensor{Name: name, DType: tensor.F32, Shape: e.shape, Data: b[off : off+size : off+size]})
			}
			off += size
		}
	}
	return h, out, nil
}
