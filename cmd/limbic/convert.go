package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newConvertCmd() *cobra.Command {
	var (
		to        string
		out       string
		overwrite bool
	)
	c := &cobra.Command{
		Use:   "convert --to hf --out DIR",
		Short: "Write the model in another format",
		Long: `Convert writes the --model in another format:
  hf    a Hugging Face directory: config.json, model.safetensors (Hugging Face
        tensor names and rotary layout), tokenizer.json, tokenizer_config.json
The engine loads the result back with identical logits.`,
		Example: `  limbic convert --model stories15m --to hf --out ./stories15m-hf`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			m, err := loadModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			switch to {
			case "hf":
				err = m.ExportHF(out, overwrite)
			default:
				return fmt.Errorf("--to %q: unknown format (want hf)", to)
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
	c.Flags().StringVar(&to, "to", "hf", "output format: hf")
	c.Flags().StringVarP(&out, "out", "o", "", "output path")
	c.Flags().BoolVar(&overwrite, "overwrite", false, "replace an existing output")
	addJSON(c)
	return c
}
