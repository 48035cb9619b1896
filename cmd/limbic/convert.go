package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tensor"
)

func newConvertCmd() *cobra.Command {
	var (
		to        string
		out       string
		outDType  string
		overwrite bool
	)
	c := &cobra.Command{
		Use:   "convert --to hf|gguf --out PATH",
		Short: "Write the model in another format",
		Long: `Convert writes the --model in another format:
  hf    a Hugging Face directory: config.json, model.safetensors (Hugging Face
        tensor names and rotary layout), tokenizer.json, tokenizer_config.json
  gguf  a GGUF file in llama.cpp's conventions (tensor names, metadata, q/k row
        order, tokenizer.ggml.* vocabulary and chat template), which llama.cpp
        and limbic load with the same logits
--out-dtype sets the dtype of the weight matrices in a GGUF file: f32, f16,
bf16 or q8_0 (default: as stored). Norms and biases stay f32, and q8_0 applies
only to matrices whose rows are a multiple of 32 values (others are f16), as
llama.cpp's converter does. The engine loads the result back with the same
logits (q8_0: those of the quantised weights).
--out-dtype q4_0 or q4_k_m writes llama-quantize's mix of that name (no
importance matrix): q4_0 or q4_k blocks, q6_k for the output matrix (and for
q4_k_m some layers' attn_v and ffn_down), byte for byte as llama-quantize
writes them from the same f32 weights.`,
		Example: `  limbic convert --model stories15m --to hf --out ./stories15m-hf
  limbic convert --model ./Qwen2.5-0.5B-Instruct --to gguf --out-dtype q8_0 --out qwen.gguf
  limbic convert --model qwen.gguf --to hf --out ./qwen-hf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			var dt tensor.DType
			var mix string // a llama-quantize mix (q4_0, q4_k_m)
			if outDType != "" {
				if to != "gguf" {
					return fmt.Errorf("--out-dtype applies to --to gguf only")
				}
				if slices.Contains(model.QuantMixes, strings.ToLower(outDType)) {
					mix = strings.ToLower(outDType)
				} else {
					var err error
					if dt, err = tensor.ParseDType(outDType); err != nil || dt != tensor.F32 && dt != tensor.F16 && dt != tensor.BF16 && dt != tensor.Q8_0 {
						return fmt.Errorf("--out-dtype %s: want f32, f16, bf16, q8_0, q4_0 or q4_k_m", outDType)
					}
				}
			}
			switch to {
			case "hf", "gguf":
			default:
				return fmt.Errorf("--to %q: unknown format (want hf or gguf)", to)
			}
			if to == "gguf" && !overwrite {
				if _, err := os.Stat(out); err == nil {
					return fmt.Errorf("%s exists (use --overwrite to replace it)", out)
				}
			}
			m, err := loadModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			if to == "hf" {
				err = m.ExportHF(out, overwrite)
			} else if mix != "" {
				err = m.ExportGGUFMix(out, mix)
			} else {
				err = m.ExportGGUF(out, dt)
			}
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(map[string]string{"out": out, "format": to})
			}
			fmt.Printf("wrote %s (%s)\n", out, to)
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "hf", "output format: hf or gguf")
	c.Flags().StringVarP(&out, "out", "o", "", "output path")
	c.Flags().StringVar(&outDType, "out-dtype", "", "GGUF weight dtype: f32, f16, bf16, q8_0, or llama-quantize's q4_0 or q4_k_m (default: as stored)")
	c.Flags().BoolVar(&overwrite, "overwrite", false, "replace an existing output")
	addJSON(c)
	return c
}
