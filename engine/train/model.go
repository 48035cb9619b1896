package train

import (
	"fmt"
	"slices"
	"strings"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// Options configure a Model.
type Options struct {
	// Recompute keeps only each layer's input during the forward pass and
	// recomputes the layer's activations in the backward pass: less memory,
	// about one more forward pass of time, the same gradients bit for bit.
	Recompute bool
	// LoRA, when set, freezes the base weights and trains low-rank
	// adapters on the projections it names. Base matrices stored as bf16
	// or f16 then stay 16-bit (the kernels multiply them as stored).
	LoRA *LoRAConfig
}

// Model is a llama-family decoder (Llama, Mistral, Qwen2, Qwen3: RMSNorm,
// rotary embeddings, grouped-query causal attention with an optional
// sliding window, SwiGLU MLP, tied or untied output) with f32 master
// weights, a forward pass that keeps (or recomputes) its activations, and
// the backward pass. It implements Trainable.
//
// Matrix products run on the engine's SIMD kernels, and every reduction
// is summed in a fixed order: gradients depend only on the weights, the
// batch and the seed, not on the thread count. The activations kept for
// the backward pass are each layer's input, q, k, v, the attention
// output, the mid-block residual, the MLP's gate and up projections and
// the norms' scales; the cross-entropy holds at most ceChunk logits at
// once. A Model is not safe for concurrent use.
type Model struct {
	net    *net[float32]
	params []*Param

	// Hooks, when set, holds hook sets for the rows of the next batches:
	// Hooks[i] runs on row i (nil, or a short slice, for none), with
	// Act.Seq = i and Act.Pos = 0. Training runs these points:
	// hook_embed, blocks.L.hook_resid_pre, hook_attn_out, hook_resid_mid,
	// hook_mlp_out, hook_resid_post and ln_final.hook_normalized. Hooks
	// may read and write; the backward pass treats every hook as the
	// identity, which is exact for additive writes (steering). With
	// Options.Recompute, the points inside a block (hook_attn_out,
	// hook_resid_mid) run a second time when the backward pass recomputes
	// the block, so additive hooks there should be idempotent per call
	// (a steering vector is added to freshly computed values each time).
	Hooks []*hook.Set
}

// New builds a Model from tensors under their Hugging Face names in the
// Hugging Face layout (what (*model.Model).HFTensors returns), upcasting
// every dtype to f32. cfg must be a llama-family config; other families
// (GPT-2, Gemma) are rejected by name.
func New(cfg arch.Config, ts []*tensor.Tensor, o Options) (*Model, error) {
	n, err := newNet[float32](cfg, o.LoRA != nil, true)
	if err != nil {
		return nil, err
	}
	n.keepRaw = o.LoRA != nil
	if err := n.load(ts); err != nil {
		return nil, err
	}
	n.recompute = o.Recompute
	if o.LoRA != nil {
		if err := n.addLoRA(o.LoRA); err != nil {
			return nil, err
		}
	}
	m := &Model{net: n}
	src := n.params
	if o.LoRA != nil {
		src = n.lora
	}
	for _, p := range src {
		m.params = append(m.params, &Param{Name: p.name, Shape: slices.Clone(p.shape), Data: p.data, Grad: p.grad, Decay: p.decay})
	}
	return m, nil
}

// load copies ts into the net's tensors, by name, converting to F.
func (m *net[F]) load(ts []*tensor.Tensor) error {
	byName := map[string]*tparam[F]{}
	for _, p := range m.params {
		byName[p.name] = p
	}
	seen := map[string]bool{}
	for _, t := range ts {
		p, ok := byName[t.Name]
		if !ok {
			if t.Name == "lm_head.weight" && m.cfg.Tied {
				return fmt.Errorf("train: tensor %q given for a model with tied embeddings", t.Name)
			}
			return fmt.Errorf("train: tensor %q is not a weight of a %s model with this config", t.Name, m.cfg.Arch)
		}
		if seen[t.Name] {
			return fmt.Errorf("train: tensor %q given twice", t.Name)
		}
		var err error
		if !slices.Equal(t.Shape, p.shape) {
			return fmt.Errorf("train: tensor %q has shape %v, want %v", t.Name, t.Shape, p.shape)
		}
		seen[t.Name] = true
		if _, f32 := any(p.data).([]float32); f32 && m.keepRaw && len(p.shape) == 2 && (t.DType == tensor.BF16 || t.DType == tensor.F16) {
			if p.raw, err = newRawMat(t); err != nil {
				return fmt.Errorf("train: %w", err)
			}
			p.data = nil
			continue
		}
		v, err := t.F32()
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		if p.data == nil {
			p.data = make([]F, len(v))
		}
		for i, x := range v {
			p.data[i] = F(x)
		}
	}
	var missing []string
	for _, p := range m.params {
		if !seen[p.name] {
			missing = append(missing, p.name)
		}
	}
	if len(missing) > 0 {
		if len(missing) > 3 {
			missing = append(missing[:3], fmt.Sprintf("and %d more", len(missing)-3))
		}
		return fmt.Errorf("train: missing tensors: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Config returns the model's config (the Hugging Face layout's).
func (m *Model) Config() arch.Config { return m.net.cfg }

// Params returns the trainable tensors: every weight in Hugging Face order
// (the tied embedding once), or with LoRA only the adapters' A and B
// matrices under PEFT's names. Data is the live f32 master copy: an
// optimizer updates it in place.
func (m *Model) Params() []*Param { return m.params }

// Accumulate implements Trainable.
func (m *Model) Accumulate(b Batch, scale float64, seed uint64) (float64, int, error) {
	st, err := m.net.newStep(b)
	if err != nil {
		return 0, 0, err
	}
	st.backward, st.dropout, st.scale, st.seed, st.hooks = true, true, float32(scale), seed, m.Hooks
	sum, n := m.net.run(st)
	return sum, n, nil
}

// Loss implements Trainable.
func (m *Model) Loss(b Batch) (float64, int, error) {
	st, err := m.net.newStep(b)
	if err != nil {
		return 0, 0, err
	}
	st.hooks = m.Hooks
	sum, n := m.net.run(st)
	return sum, n, nil
}

// Logits runs tokens forward (no dropout) and returns the next-token
// logits [len(tokens), Vocab].
func (m *Model) Logits(tokens []int) ([]float32, error) {
	st, err := m.net.newStep(Batch{Inputs: [][]int{tokens}, Targets: [][]int{make([]int, len(tokens))}})
	if err != nil {
		return nil, err
	}
	st.hooks = m.Hooks
	return m.net.logits(st), nil
}

// HFTensors returns the current weights as f32 tensors under Hugging Face
// names with the config that describes them, LoRA adapters merged in.
func (m *Model) HFTensors() (arch.Config, []*tensor.Tensor) {
	n := m.net
	merged := map[*tparam[float32]][]float32{}
	for l := range n.layers {
		for _, li := range n.layers[l].lin {
			if li.lora != nil {
				merged[li.w] = li.merged()
			}
		}
	}
	var ts []*tensor.Tensor
	for _, p := range n.params {
		v := p.values()
		if w, ok := merged[p]; ok {
			v = w
		}
		ts = append(ts, tensor.FromF32(p.name, p.shape, v))
	}
	return n.cfg, ts
}

// AdapterTensors returns the LoRA A and B matrices under PEFT's names
// (nil without LoRA).
func (m *Model) AdapterTensors() []*tensor.Tensor {
	var ts []*tensor.Tensor
	for _, p := range m.net.lora {
		ts = append(ts, tensor.FromF32(p.name, p.shape, p.data))
	}
	return ts
}

// logits runs st forward and returns the logits of every row.
func (m *net[F]) logits(st *step[F]) []F {
	c := &m.cfg
	n, d := st.n, c.Dim
	for i := range m.layers {
		if r := m.layers[i].rope; r != nil {
			r.reserve(st.maxT)
		}
	}
	x, y := make([]F, n*d), make([]F, n*d)
	for r, t := range st.tokens {
		m.embed.row(t, x[r*d:(r+1)*d])
	}
	m.hookAt(st, hook.EmbedPoint, x, d)
	for l := range m.layers {
		m.layerFwd(l, m.layerActs(l, st), x, y, st)
		x, y = y, x
	}
	rs, xn := make([]F, n), make([]F, n*d)
	rmsnormFwd(xn, rs, x, m.norm.data, n, d, c.NormEps)
	m.hookAt(st, hook.LnFinalPoint, xn, d)
	out := make([]F, n*c.Vocab)
	m.out().mul(out, xn, n)
	return out
}
