package model

import (
	"encoding/json"
	"fmt"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/hfdir"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// HFTensors returns the tensors the model was built from, under their
// canonical Hugging Face names and in the Hugging Face layout, with the
// config that describes them: q and k rows permuted back from interleaved
// pairs to halves, GPT-2's Conv1D weights transposed back to [in, out],
// Gemma's norm weights without GGUF's +1, and the checkpoint's full
// context length. Tensors a family does not bind (a multimodal model's
// vision tower, GPT-2's attention-mask buffers) are left out.
func (m *Model) HFTensors() (arch.Config, []*tensor.Tensor, error) {
	fam, err := arch.Lookup(m.Arch)
	if err != nil {
		return m.Config, nil, err
	}
	cfg := fam.HFLayoutConfig(m.Config)
	if m.ContextLength > 0 {
		cfg.MaxSeq = m.ContextLength
	}
	out := make([]*tensor.Tensor, 0, len(m.Bound))
	for _, b := range m.Bound {
		t, err := m.src.Tensor(b.Source)
		if err != nil {
			return cfg, nil, err
		}
		if t, err = fam.HFLayout(&m.Config, b.HF, t); err != nil {
			return cfg, nil, err
		}
		named := *t
		named.Name = b.HF
		out = append(out, &named)
	}
	return cfg, out, nil
}

// ExportHF writes the model as a Hugging Face directory: config.json,
// model.safetensors, and tokenizer.json and tokenizer_config.json when the
// model has a tokenizer. The engine loads it back with the same logits.
func (m *Model) ExportHF(dir string, overwrite bool) error {
	cfg, ts, err := m.HFTensors()
	if err != nil {
		return err
	}
	fam, err := arch.Lookup(cfg.Arch)
	if err != nil {
		return err
	}
	if fam.ToHF == nil {
		return fmt.Errorf("convert: writing %s configs is not supported", cfg.Arch)
	}
	if s := cfg.RopeScaling; s != nil && s.Type == "factors" {
		return fmt.Errorf("convert: the model's rope scaling is a table of per-frequency factors (GGUF rope_freqs), which config.json cannot express")
	}
	for i, t := range ts {
		if t.DType.IsQuant() { // safetensors has no block-quantised dtypes
			if ts[i], err = arch.Convert(t, tensor.F32); err != nil {
				return err
			}
		}
	}
	hc := fam.ToHF(&cfg)
	if _, ok := hc["torch_dtype"]; !ok {
		hc["torch_dtype"] = torchDType(ts)
	}
	extra := map[string][]byte{}
	if m.Tok != nil {
		if bos := m.Tok.BOS(); bos >= 0 {
			hc["bos_token_id"] = bos
		}
		if eos := m.Tok.EOS(); eos >= 0 {
			hc["eos_token_id"] = eos
		}
		tj, err := m.Tok.MarshalHFJSON()
		if err != nil {
			return fmt.Errorf("convert: tokenizer: %w", err)
		}
		tcj, err := m.Tok.MarshalHFConfig()
		if err != nil {
			return err
		}
		extra["tokenizer.json"], extra["tokenizer_config.json"] = tj, tcj
	}
	cj, err := json.MarshalIndent(hc, "", "  ")
	if err != nil {
		return err
	}
	var opts []hfdir.Option
	if overwrite {
		opts = append(opts, hfdir.Overwrite())
	}
	return hfdir.Write(dir, cj, ts, extra, opts...)
}

// torchDType names the dtype of the first weight matrix as config.json's
// torch_dtype.
func torchDType(ts []*tensor.Tensor) string {
	for _, t := range ts {
		if len(t.Shape) == 2 {
			switch t.DType {
			case tensor.BF16:
				return "bfloat16"
			case tensor.F16:
				return "float16"
			}
			return "float32"
		}
	}
	return "float32"
}
