package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/science/patching"
)

func newPatchCmd() *cobra.Command {
	var (
		clean, corrupt, metric, hookPat, out string
		noBOS                                bool
	)
	c := &cobra.Command{
		Use:   "patch --clean TEXT --corrupt TEXT --metric logit-diff:TOK_A,TOK_B [--hook PATTERN] --out PREFIX",
		Short: "Activation patching: which layers and positions carry the answer",
		Long: `Patch runs the activation patching sweep of the TransformerLens tutorials.
The clean and corrupted prompts must tokenize to the same length. For each
layer of --hook (default blocks.*.hook_resid_pre) and each position, it
reruns the corrupted prompt with the clean activation at that layer and
position, and measures logit(TOK_A) − logit(TOK_B) at the last position.
TOK_A and TOK_B are single tokens, as text ("Lily") or ids ("#1234").

It writes PREFIX.json (every value), PREFIX.tsv (one line per cell) and
PREFIX.svg (a heatmap of the normalised value (patched − corrupt) /
(clean − corrupt): 0 changes nothing, 1 restores the clean answer).`,
		Example: `  limbic patch --clean "Lily and Tom played. Tom gave the ball to" \
    --corrupt "Lily and Tom played. Lily gave the ball to" \
    --metric logit-diff:Lily,Tom --out names`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out PREFIX is required (writes PREFIX.json, PREFIX.tsv, PREFIX.svg)")
			}
			if clean == "" || corrupt == "" || metric == "" {
				return fmt.Errorf("--clean, --corrupt and --metric are required")
			}
			m, err := loadModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			tok, err := m.Tokenizer()
			if err != nil {
				return err
			}
			a, b := tok.Encode(clean, !noBOS), tok.Encode(corrupt, !noBOS)
			if len(a) != len(b) {
				return fmt.Errorf("--clean has %d tokens and --corrupt %d: they must tokenize to the same length (try other words)", len(a), len(b))
			}
			if len(a) > m.MaxSeq {
				return fmt.Errorf("%d tokens: more than the context length of %d", len(a), m.MaxSeq)
			}
			lookup := func(s string) (int, error) {
				if id, ok, err := patching.ParseTokenID(s, m.Config.Vocab); ok {
					return id, err
				}
				ids := tok.Encode(s, false)
				if len(ids) != 1 {
					return 0, fmt.Errorf("%q is %d tokens, want one (or give #ID)", s, len(ids))
				}
				return ids[0], nil
			}
			mt, err := patching.ParseMetric(metric, lookup)
			if err != nil {
				return err
			}
			labels := make([]string, len(b))
			for i, id := range b {
				if labels[i] = tok.Decode([]int{id}); strings.TrimSpace(labels[i]) == "" {
					labels[i] = fmt.Sprintf("#%d", id)
				}
			}
			res, err := patching.Sweep(m.Transformer, a, b, hookPat, mt, labels)
			if err != nil {
				return err
			}
			out = strings.TrimSuffix(out, filepath.Ext(out))
			for _, w := range []struct {
				ext   string
				write func(string) error
			}{{".json", res.WriteJSON}, {".tsv", res.WriteTSV}, {".svg", res.WriteSVG}} {
				if err := w.write(out + w.ext); err != nil {
					return err
				}
			}
			if g.jsonOut {
				return printJSON(res)
			}
			if !g.quiet {
				fmt.Printf("%s: clean %.4g, corrupt %.4g\n", res.Metric, res.Clean, res.Corrupt)
				fmt.Printf("%-8s", "layer")
				for _, t := range res.Tokens {
					fmt.Printf(" %7.7s", strings.TrimSpace(t))
				}
				fmt.Println()
				for i, row := range res.Normalized {
					fmt.Printf("%-8d", res.Layers[i])
					for _, v := range row {
						fmt.Printf(" %7.2f", v)
					}
					fmt.Println()
				}
				fmt.Printf("wrote %s.json, %s.tsv, %s.svg\n", out, out, out)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&clean, "clean", "", "the clean prompt")
	f.StringVar(&corrupt, "corrupt", "", "the corrupted prompt (same number of tokens)")
	f.StringVar(&metric, "metric", "", "logit-diff:TOK_A,TOK_B at the last position")
	f.StringVar(&hookPat, "hook", "blocks.*.hook_resid_pre", "hook pattern to patch (a block hook over a layer list)")
	f.StringVarP(&out, "out", "o", "", "output prefix: PREFIX.json, PREFIX.tsv, PREFIX.svg")
	f.BoolVar(&noBOS, "no-bos", false, "do not prepend BOS")
	addJSON(c)
	return c
}
