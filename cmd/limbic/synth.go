package main

import (
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tensor"
)

func newSynthCmd() *cobra.Command {
	var (
		c             arch.Config
		untied        bool
		dtype, format string
		out           string
		seed          uint64
		overwrite     bool
	)
	cmd := &cobra.Command{
		Use:   "synth --arch llama --hidden D --layers L --heads H --kv-heads K --ffn F --vocab V --out PATH",
		Short: "Write a random-weight model of any shape (HF directory or GGUF)",
		Long: `Synth writes a model with random weights (seeded, deterministic) in the
shape you give, as a Hugging Face directory (--format hf) or a GGUF file in
llama.cpp's conventions (--format gguf: tensor names, metadata, q/k row
order, a placeholder vocabulary), so that the same file can be benchmarked
by limbic (limbic bench --model FILE) and by llama.cpp (llama-bench -m FILE).
Weights: matrices N(0, 1/fan_in), embeddings N(0, 1), norms 1 + N(0, 0.01).`,
		Example: `  limbic synth --arch llama --hidden 576 --layers 30 --heads 9 --kv-heads 3 --ffn 1536 --vocab 50257 --untied --dtype f32 --format gguf --out smol.gguf`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			for _, f := range []struct {
				flag   string
				v, min int
			}{{"hidden", c.Dim, 1}, {"layers", c.Layers, 1}, {"heads", c.Heads, 1}, {"kv-heads", c.KVHeads, 0}, {"head-dim", c.HeadDim, 0},
				{"ffn", c.FFN, 1}, {"vocab", c.Vocab, 1}, {"ctx", c.MaxSeq, 1}} {
				if err := inRange(f.flag, f.v, f.min, maxContext); err != nil {
					return err
				}
			}
			if c.Heads > 0 && c.Dim%c.Heads != 0 && c.HeadDim == 0 {
				return fmt.Errorf("--hidden %d is not a multiple of --heads %d: give --head-dim", c.Dim, c.Heads)
			}
			if c.KVHeads > 0 && c.Heads%c.KVHeads != 0 {
				return fmt.Errorf("--heads %d is not a multiple of --kv-heads %d", c.Heads, c.KVHeads)
			}
			if !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) {
				return fmt.Errorf("--rope-theta %v: must be a positive number", c.RopeTheta)
			}
			if !(c.NormEps > 0) || math.IsInf(c.NormEps, 0) {
				return fmt.Errorf("--norm-eps %v: must be a positive number", c.NormEps)
			}
			dt, err := tensor.ParseDType(dtype)
			if err != nil {
				return fmt.Errorf("--dtype: %w", err)
			}
			if c.KVHeads == 0 {
				c.KVHeads = c.Heads
			}
			if c.Heads > 0 && c.HeadDim == 0 {
				c.HeadDim = c.Dim / c.Heads
			}
			c.Tied = !untied
			c.Norm, c.Act, c.Gated = arch.RMSNorm, arch.SiLU, true
			if c.Arch != "llama" {
				return fmt.Errorf("--arch %q: synth writes llama-family models (llama, SmolLM, Mistral layout)", c.Arch)
			}
			f := map[string]string{"gguf": model.FormatGGUF, "hf": model.FormatHF}[format]
			if f == "" {
				return fmt.Errorf("--format %q: want hf or gguf", format)
			}
			if err := model.Synth(out, c, model.SynthOptions{Format: f, DType: dt, Seed: seed, Overwrite: overwrite}); err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(map[string]any{"out": out, "format": format, "dtype": dt.String(), "config": c})
			}
			fmt.Printf("wrote %s (%s, %v): d %d, %d layers, %d heads (%d kv), ffn %d, vocab %d, tied %v\n",
				out, format, dt, c.Dim, c.Layers, c.Heads, c.KVHeads, c.FFN, c.Vocab, c.Tied)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&c.Arch, "arch", "llama", "architecture family")
	fl.IntVar(&c.Dim, "hidden", 288, "hidden size (d_model)")
	fl.IntVar(&c.Layers, "layers", 6, "layers")
	fl.IntVar(&c.Heads, "heads", 6, "attention heads")
	fl.IntVar(&c.KVHeads, "kv-heads", 0, "key/value heads (default: heads)")
	fl.IntVar(&c.HeadDim, "head-dim", 0, "head size (default: hidden/heads)")
	fl.IntVar(&c.FFN, "ffn", 768, "MLP hidden size")
	fl.IntVar(&c.Vocab, "vocab", 32000, "vocabulary size")
	fl.IntVar(&c.MaxSeq, "ctx", 2048, "context length")
	fl.Float64Var(&c.RopeTheta, "rope-theta", 10000, "rotary base")
	fl.Float64Var(&c.NormEps, "norm-eps", 1e-5, "RMSNorm epsilon")
	fl.BoolVar(&untied, "untied", false, "separate output matrix (default: tied to the embedding)")
	fl.StringVar(&dtype, "dtype", "f32", "weights: f32 or bf16 (gguf also f16, q8_0)")
	fl.StringVar(&format, "format", "gguf", "output: gguf or hf")
	fl.StringVarP(&out, "out", "o", "", "output file (gguf) or directory (hf)")
	fl.Uint64Var(&seed, "seed", 0, "random seed")
	fl.BoolVar(&overwrite, "overwrite", false, "replace an existing directory")
	addJSON(cmd)
	return cmd
}
