package model

import (
	"fmt"
	"strings"

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
	return CaptureWith(m, tokens, patterns, nil)
}

// CaptureWith is Capture with more hooks (steering, patching: TransformerLens'
// run_with_hooks); at a point they share, they run before the capture, which
// records the activations as they leave it.
func CaptureWith(m *arch.Transformer, tokens []int, patterns []string, extra *hook.Set) (*Captured, error) {
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
			if pt.Kind == hook.PosEmbed && !m.PosEmbed {
				return nil, fmt.Errorf("capture: hook %s: the model has no learned positions", pt)
			}
			if seen[pt] {
				continue
			}
			seen[pt] = true
			c := &hook.Capture{Point: pt}
			hs.Add(pt, c.Func())
			res.Hooks = append(res.Hooks, c)
		}
	}
	seq := &arch.Seq{Cache: m.NewCache(), Hooks: hook.Merge(extra, &hs), Logits: arch.AllLogits}
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

// Hook returns the capture at point p, or nil.
func (c *Captured) Hook(p hook.Point) *hook.Capture {
	for _, h := range c.Hooks {
		if h.Point == p {
			return h
		}
	}
	return nil
}

// Tensors returns tokens, logits and every hook as named tensors, in
// TransformerLens' shapes: [pos, d] for the residual-wide points, [pos,
// head, d_head] for q, k, v and z, [pos, d_mlp] for the MLP's, and [head,
// query_pos, key_pos] for the attention scores and pattern.
func (c *Captured) Tensors() []*tensor.Tensor {
	t := len(c.Tokens)
	out := []*tensor.Tensor{
		tensor.FromI32("tokens", []int{t}, c.Tokens),
		tensor.FromF32("logits", []int{t, c.Vocab}, c.Logits),
	}
	for _, h := range c.Hooks {
		out = append(out, captureTensor(h))
	}
	return out
}

// captureTensor lays one capture out in TransformerLens' shape.
func captureTensor(h *hook.Capture) *tensor.Tensor {
	name, rows := h.Point.String(), h.Rows()
	switch {
	case h.Heads == 0:
		return tensor.FromF32(name, []int{rows, h.Dim}, h.Data)
	case h.Point.Kind.Attention():
		heads, keys := h.Heads, h.Dim/h.Heads
		v := make([]float32, len(h.Data))
		for q := 0; q < rows; q++ {
			for hh := 0; hh < heads; hh++ {
				copy(v[(hh*rows+q)*keys:(hh*rows+q+1)*keys], h.Data[(q*heads+hh)*keys:(q*heads+hh+1)*keys])
			}
		}
		return tensor.FromF32(name, []int{heads, rows, keys}, v)
	default:
		return tensor.FromF32(name, []int{rows, h.Heads, h.Dim / h.Heads}, h.Data)
	}
}

// WriteFile writes the tensors to a safetensors file (atomically).
func (c *Captured) WriteFile(path string, meta map[string]string) error {
	return safetensors.Write(path, c.Tensors(), meta)
}

// Patch replaces the activations at one hook point with those of another
// run (activation patching): Data holds its rows in the engine's layout,
// [rows, Dim] with Heads heads per row for the per-head points (for the
// scores and pattern each row is [head, key] over Dim/Heads keys).
type Patch struct {
	Point hook.Point
	Dim   int
	Heads int
	Data  []float32
	// Positions are the positions to patch; nil patches every position
	// the data has.
	Positions []int
}

// Func returns the hook that writes the patch over the rows it covers.
// Rows of the attention scores and pattern are patched over the keys both
// have.
func (p *Patch) Func() hook.Func {
	sel := map[int]bool{}
	for _, q := range p.Positions {
		sel[q] = true
	}
	rows := len(p.Data) / p.Dim
	return func(a *hook.Act) {
		for i := 0; i < a.Rows; i++ {
			pos := a.Pos + i
			if pos >= rows || (p.Positions != nil && !sel[pos]) {
				continue
			}
			src := p.Data[pos*p.Dim : (pos+1)*p.Dim]
			if a.Point.Kind.Attention() && a.Dim != p.Dim {
				h := a.Heads
				kd, ks := a.Dim/h, p.Dim/h
				n := min(kd, ks)
				for hh := 0; hh < h; hh++ {
					copy(a.Row(i)[hh*kd:hh*kd+n], src[hh*ks:hh*ks+n])
				}
				continue
			}
			copy(a.Row(i), src)
		}
	}
}

// PatchFromCapture returns the patch of point p from a capture.
func PatchFromCapture(c *hook.Capture, positions []int) *Patch {
	return &Patch{Point: c.Point, Dim: c.Dim, Heads: c.Heads, Data: c.Data, Positions: positions}
}

// ParsePatchSpec splits a --patch argument, FILE[:HOOKS][@POSITIONS], into
// the file, the hook pattern (empty: every hook in the file) and the
// position list (empty: every position).
func ParsePatchSpec(s string) (file, hooks, positions string, err error) {
	file = s
	if i := strings.LastIndex(file, "@"); i >= 0 {
		file, positions = file[:i], file[i+1:]
		if positions == "" {
			return "", "", "", fmt.Errorf("patch %q: empty position list after @", s)
		}
	}
	if i := strings.LastIndex(file, ":"); i >= 0 {
		file, hooks = file[:i], file[i+1:]
		if hooks == "" {
			return "", "", "", fmt.Errorf("patch %q: empty hook pattern after :", s)
		}
	}
	if file == "" {
		return "", "", "", fmt.Errorf("patch %q: no file (want FILE[:HOOKS][@POSITIONS])", s)
	}
	return file, hooks, positions, nil
}

// LoadPatches reads the patches of a --patch argument,
// FILE[:HOOKS][@POSITIONS], for a run over nTokens tokens: FILE is a
// capture file (limbic capture), HOOKS a hook pattern (every hook in the
// file when absent), POSITIONS a position list in the layer-list grammar
// ("-1" is the last position, "2:4" positions 2 to 4).
func LoadPatches(m *arch.Transformer, spec string, nTokens int) ([]*Patch, error) {
	file, hooks, positions, err := ParsePatchSpec(spec)
	if err != nil {
		return nil, err
	}
	f, err := safetensors.Open(file)
	if err != nil {
		return nil, fmt.Errorf("patch %q: %w", spec, err)
	}
	defer f.Close()
	var pts []hook.Point
	if hooks == "" {
		for _, name := range f.Names() {
			if name == "tokens" || name == "logits" {
				continue
			}
			p, err := hook.Parse(name, m.Layers)
			if err != nil {
				return nil, fmt.Errorf("patch %q: tensor %q: %w", spec, name, err)
			}
			pts = append(pts, p)
		}
	} else if pts, err = hook.Expand(hooks, m.Layers); err != nil {
		return nil, fmt.Errorf("patch %q: %w", spec, err)
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("patch %q: the file holds no hook activations", spec)
	}
	var pos []int
	if positions != "" {
		if pos, err = hook.ParseLayerList(positions, nTokens); err != nil {
			return nil, fmt.Errorf("patch %q: positions: %s", spec, strings.ReplaceAll(err.Error(), "layer", "position"))
		}
	}
	var out []*Patch
	for _, p := range pts {
		t, err := f.Tensor(p.String())
		if err != nil {
			return nil, fmt.Errorf("patch %q: %w", spec, err)
		}
		pa, err := patchFromTensor(m, p, t)
		if err != nil {
			return nil, fmt.Errorf("patch %q: %w", spec, err)
		}
		rows := len(pa.Data) / pa.Dim
		if pos == nil && rows != nTokens {
			return nil, fmt.Errorf("patch %q: %s has %d positions, the run %d (patch fewer with @POSITIONS)", spec, p, rows, nTokens)
		}
		for _, q := range pos {
			if q >= rows {
				return nil, fmt.Errorf("patch %q: position %d: %s has only %d positions", spec, q, p, rows)
			}
		}
		pa.Positions = pos
		out = append(out, pa)
	}
	return out, nil
}

// patchFromTensor reads a capture file's tensor for point p back into the
// engine's layout, checking its shape against the model.
func patchFromTensor(m *arch.Transformer, p hook.Point, t *tensor.Tensor) (*Patch, error) {
	v, err := t.F32()
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	v = append([]float32(nil), v...) // F32 data may alias the file's mapping
	sh := t.Shape
	bad := func(want string) error {
		return fmt.Errorf("tensor %q: shape %v, want %s", t.Name, sh, want)
	}
	switch p.Kind {
	case hook.AttnQ, hook.AttnZ, hook.AttnK, hook.AttnV:
		h := m.Heads
		if p.Kind == hook.AttnK || p.Kind == hook.AttnV {
			h = m.KVHeads
		}
		if len(sh) != 3 || sh[1] != h || sh[2] != m.HeadDim || sh[0] == 0 {
			return nil, bad(fmt.Sprintf("[pos, %d, %d]", h, m.HeadDim))
		}
		return &Patch{Point: p, Dim: h * m.HeadDim, Heads: h, Data: v}, nil
	case hook.AttnScores, hook.AttnPattern:
		if len(sh) != 3 || sh[0] != m.Heads || sh[1] == 0 || sh[2] < sh[1] {
			return nil, bad(fmt.Sprintf("[%d, query_pos, key_pos]", m.Heads))
		}
		heads, rows, keys := sh[0], sh[1], sh[2]
		d := make([]float32, len(v))
		for q := 0; q < rows; q++ {
			for hh := 0; hh < heads; hh++ {
				copy(d[(q*heads+hh)*keys:(q*heads+hh+1)*keys], v[(hh*rows+q)*keys:(hh*rows+q+1)*keys])
			}
		}
		return &Patch{Point: p, Dim: heads * keys, Heads: heads, Data: d}, nil
	case hook.MLPPre, hook.MLPPost:
		if len(sh) != 2 || sh[1] != m.FFN || sh[0] == 0 {
			return nil, bad(fmt.Sprintf("[pos, %d]", m.FFN))
		}
		return &Patch{Point: p, Dim: m.FFN, Data: v}, nil
	default:
		if len(sh) != 2 || sh[1] != m.Dim || sh[0] == 0 {
			return nil, bad(fmt.Sprintf("[pos, %d]", m.Dim))
		}
		return &Patch{Point: p, Dim: m.Dim, Data: v}, nil
	}
}
