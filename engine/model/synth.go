package model

import (
	"encoding/json"
	"fmt"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/hfdir"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// SynthOptions configure Synth.
type SynthOptions struct {
	Format    string       // FormatHF or FormatGGUF
	DType     tensor.DType // F32 or BF16 (GGUF also F16, Q8_0)
	Seed      uint64
	Overwrite bool // replace an existing HF directory
}

// Synth writes a model of config cfg with random weights (arch.RandomTensors:
// seeded, deterministic) as a Hugging Face directory or a GGUF file in
// llama.cpp's conventions with a placeholder vocabulary, so that the same
// file can be run by limbic and by llama.cpp (llama-bench).
func Synth(path string, cfg arch.Config, o SynthOptions) error {
	gen := o.DType
	if o.Format == FormatGGUF {
		gen = tensor.F32 // WriteGGUF converts per tensor (norms stay f32)
	}
	if gen != tensor.F32 && gen != tensor.BF16 {
		return fmt.Errorf("synth: dtype %v: Hugging Face directories are written in F32 or BF16", gen)
	}
	ts, err := arch.RandomTensors(cfg, o.Seed, gen)
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	switch o.Format {
	case FormatGGUF:
		v := PlaceholderVocab(cfg.Vocab)
		return WriteGGUF(path, cfg, ts, &v, o.DType)
	case FormatHF:
		fam, err := arch.Lookup(cfg.Arch)
		if err != nil {
			return err
		}
		if fam.ToHF == nil {
			return fmt.Errorf("synth: writing %s configs is not supported", cfg.Arch)
		}
		hc := fam.ToHF(&cfg)
		hc["torch_dtype"] = map[tensor.DType]string{tensor.F32: "float32", tensor.BF16: "bfloat16"}[gen]
		cj, err := json.MarshalIndent(hc, "", "  ")
		if err != nil {
			return err
		}
		var opts []hfdir.Option
		if o.Overwrite {
			opts = append(opts, hfdir.Overwrite())
		}
		return hfdir.Write(path, cj, ts, nil, opts...)
	}
	return fmt.Errorf("synth: format %q: want hf or gguf", o.Format)
}
