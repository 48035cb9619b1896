package vecpack

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// Write stores the pack at path (atomically) after checking it.
func Write(path string, p *Pack) error {
	if err := p.Check(); err != nil {
		return err
	}
	meta, err := json.Marshal(&p.Meta)
	if err != nil {
		return err
	}
	n, d := len(p.Meta.Emotions), p.D()
	var ts []*tensor.Tensor
	for i, l := range p.Meta.Layers {
		L := &p.Layers[i]
		s := strconv.Itoa(l)
		ts = append(ts, tensor.FromF32("raw."+s, []int{n, d}, L.Raw), tensor.FromF32("denoised."+s, []int{n, d}, L.Denoised),
			tensor.FromF32("center."+s, []int{d}, L.Center))
		if L.NeutralMeanRaw != nil {
			ts = append(ts, tensor.FromF32("neutral_mean.raw."+s, []int{n}, L.NeutralMeanRaw),
				tensor.FromF32("neutral_std.raw."+s, []int{n}, L.NeutralStdRaw),
				tensor.FromF32("neutral_mean.denoised."+s, []int{n}, L.NeutralMeanDenoised),
				tensor.FromF32("neutral_std.denoised."+s, []int{n}, L.NeutralStdDenoised))
		}
	}
	return safetensors.Write(path, ts, map[string]string{MetaKey: string(meta)})
}

// Read loads and checks a pack.
func Read(path string) (*Pack, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vecpack: %w", err)
	}
	defer f.Close()
	raw, ok := f.Metadata[MetaKey]
	if !ok {
		return nil, fmt.Errorf("vecpack: %s is not a limbic vector pack (no %q metadata)", path, MetaKey)
	}
	p := &Pack{}
	if err := json.Unmarshal([]byte(raw), &p.Meta); err != nil {
		return nil, fmt.Errorf("vecpack: %s: bad metadata: %w", path, err)
	}
	if p.Meta.Format != Format {
		return nil, fmt.Errorf("vecpack: %s has format %q, not a vector pack (%q)", path, p.Meta.Format, Format)
	}
	n, d := len(p.Meta.Emotions), p.D()
	get := func(name string, shape []int, optional bool) ([]float32, error) {
		if optional && !f.Has(name) {
			return nil, nil
		}
		t, err := f.Tensor(name)
		if err != nil {
			return nil, fmt.Errorf("vecpack: %s: %w", path, err)
		}
		if !slices.Equal(t.Shape, shape) {
			return nil, fmt.Errorf("vecpack: %s: tensor %s has shape %v, want %v", path, name, t.Shape, shape)
		}
		v, err := t.F32()
		if err != nil {
			return nil, fmt.Errorf("vecpack: %s: %w", path, err)
		}
		return slices.Clone(v), nil // the file's mapping goes away on Close
	}
	for _, l := range p.Meta.Layers {
		s := strconv.Itoa(l)
		var L Layer
		for _, x := range []struct {
			dst   *[]float32
			name  string
			shape []int
			opt   bool
		}{
			{&L.Raw, "raw." + s, []int{n, d}, false}, {&L.Denoised, "denoised." + s, []int{n, d}, false},
			{&L.Center, "center." + s, []int{d}, false},
			{&L.NeutralMeanRaw, "neutral_mean.raw." + s, []int{n}, true}, {&L.NeutralStdRaw, "neutral_std.raw." + s, []int{n}, true},
			{&L.NeutralMeanDenoised, "neutral_mean.denoised." + s, []int{n}, true},
			{&L.NeutralStdDenoised, "neutral_std.denoised." + s, []int{n}, true},
		} {
			if *x.dst, err = get(x.name, x.shape, x.opt); err != nil {
				return nil, err
			}
		}
		p.Layers = append(p.Layers, L)
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return p, nil
}

// WriteHeldOut stores a held-out set at path (atomically).
func WriteHeldOut(path string, h *HeldOut) error {
	if err := h.Check(); err != nil {
		return err
	}
	meta, err := json.Marshal(struct {
		Format string `json:"format"`
		*HeldOut
	}{HeldOutFormat, h})
	if err != nil {
		return err
	}
	n, d := h.Len(), h.Model.DModel
	ts := []*tensor.Tensor{tensor.FromI32("labels", []int{n}, h.Labels)}
	for i, l := range h.Layers {
		ts = append(ts, tensor.FromF32("means."+strconv.Itoa(l), []int{n, d}, h.Means[i]))
	}
	return safetensors.Write(path, ts, map[string]string{MetaKey: string(meta)})
}

// ReadHeldOut loads and checks a held-out set.
func ReadHeldOut(path string) (*HeldOut, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vecpack: %w", err)
	}
	defer f.Close()
	var m struct {
		Format string `json:"format"`
		HeldOut
	}
	if err := json.Unmarshal([]byte(f.Metadata[MetaKey]), &m); err != nil || m.Format != HeldOutFormat {
		return nil, fmt.Errorf("vecpack: %s is not a limbic held-out file", path)
	}
	h := NewHeldOut(m.Model, m.Emotions, m.Layers)
	h.IDs = m.IDs
	t, err := f.Tensor("labels")
	if err != nil {
		return nil, fmt.Errorf("vecpack: %s: %w", path, err)
	}
	if h.Labels, err = t.Ints(); err != nil {
		return nil, fmt.Errorf("vecpack: %s: %w", path, err)
	}
	for i, l := range h.Layers {
		t, err := f.Tensor("means." + strconv.Itoa(l))
		if err != nil {
			return nil, fmt.Errorf("vecpack: %s: %w", path, err)
		}
		v, err := t.F32()
		if err != nil {
			return nil, fmt.Errorf("vecpack: %s: %w", path, err)
		}
		h.Means[i] = slices.Clone(v)
	}
	if err := h.Check(); err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return h, nil
}
