package model

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/hfdir"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// HFTensors returns the model's checkpoint tensors under Hugging Face names
// in the Hugging Face rotary layout (q and k rows permuted from interleaved
// pairs to halves when the source stores them interleaved), with the config
// that describes them.
func (m *Model) HFTensors() (arch.Config, []*tensor.Tensor, error) {
	cfg := m.Config
	var out []*tensor.Tensor
	for _, name := range m.names {
		t, err := m.src.Tensor(name)
		if err != nil {
			return cfg, nil, err
		}
		if cfg.RopeInterleaved {
			var heads int
			switch {
			case strings.Contains(name, "self_attn.q_proj."):
				heads = cfg.Heads
			case strings.Contains(name, "self_attn.k_proj."):
				heads = cfg.KVHeads
			}
			if heads > 0 {
				if t, err = arch.InterleavedToHalf(t, heads); err != nil {
					return cfg, nil, err
				}
			}
		}
		out = append(out, t)
	}
	cfg.RopeInterleaved = false
	return cfg, out, nil
}

// ExportHF writes the model as a Hugging Face directory: config.json,
// model.safetensors, tokenizer.json and tokenizer_config.json. The engine
// loads it back with the same logits.
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
	hc := fam.ToHF(&cfg)
	if bos := m.Tok.BOS(); bos >= 0 {
		hc["bos_token_id"] = bos
	}
	if eos := m.Tok.EOS(); eos >= 0 {
		hc["eos_token_id"] = eos
	}
	cj, err := json.MarshalIndent(hc, "", "  ")
	if err != nil {
		return err
	}
	tj, err := m.Tok.MarshalHFJSON()
	if err != nil {
		return fmt.Errorf("convert: tokenizer: %w", err)
	}
	tcj, err := m.Tok.MarshalHFConfig()
	if err != nil {
		return err
	}
	var opts []hfdir.Option
	if overwrite {
		opts = append(opts, hfdir.Overwrite())
	}
	return hfdir.Write(dir, cj, ts, map[string][]byte{"tokenizer.json": tj, "tokenizer_config.json": tcj}, opts...)
}
