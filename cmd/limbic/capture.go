package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/model"
)

func newCaptureCmd() *cobra.Command {
	var (
		text  string
		ids   string
		hooks []string
		out   string
		noBOS bool
	)
	c := &cobra.Command{
		Use:   "capture (--text T | --ids 1,2,3) [--hook PATTERN ...] --out FILE.safetensors",
		Short: "Run one forward pass and save the logits and hooked activations",
		Long: `Capture runs one forward pass, like TransformerLens' run_with_cache, and writes
a safetensors file with
  tokens   I32 [T]      the token ids
  logits   F32 [T, V]   the logits at every position
and every captured hook point as F32 [T, d] under its hook name
(blocks.3.hook_resid_post, ...). --hook takes names or patterns:
blocks.*.hook_resid_post (the default), blocks.2-4.hook_mlp_out,
blocks.-1.hook_resid_mid, hook_embed, ln_final.hook_normalized, or * for all.`,
		Example: `  limbic capture --text "Lily was happy." --out lily.safetensors
  limbic capture --ids 1,9038,2501 --hook 'blocks.*.hook_attn_out' --out a.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out FILE.safetensors is required")
			}
			if (text == "") == (ids == "") {
				return fmt.Errorf("give exactly one of --text and --ids")
			}
			m, err := loadModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			var toks []int
			if ids != "" {
				toks, err = parseIDs(ids)
				if err != nil {
					return err
				}
			} else {
				if text, err = textArg("--text", text); err != nil {
					return err
				}
				tok, err := m.Tokenizer()
				if err != nil {
					return fmt.Errorf("%w; give --ids", err)
				}
				toks = tok.Encode(text, !noBOS)
			}
			if len(toks) == 0 {
				return fmt.Errorf("no tokens: the text is empty")
			}
			if len(toks) > m.MaxSeq {
				return fmt.Errorf("%d tokens: more than the context length of %d", len(toks), m.MaxSeq)
			}
			for i, id := range toks {
				if id < 0 || id >= m.Config.Vocab {
					return fmt.Errorf("--ids: item %d (%d) is outside the vocabulary (0..%d)", i+1, id, m.Config.Vocab-1)
				}
			}
			if len(hooks) == 0 {
				hooks = []string{"blocks.*.hook_resid_post"}
			}
			res, err := model.Capture(m.Transformer, toks, hooks)
			if err != nil {
				return err
			}
			if err := res.WriteFile(out, map[string]string{"model": m.Name, "text": text}); err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(map[string]any{"out": out, "tokens": len(toks), "hooks": res.HookNames()})
			}
			if !g.quiet {
				fmt.Printf("wrote %s: %d tokens, logits and %d hooks\n", out, len(toks), len(res.Hooks))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&text, "text", "", "input text, tokenized with BOS (- for standard input)")
	f.StringVar(&ids, "ids", "", "input token ids, comma-separated")
	f.StringArrayVar(&hooks, "hook", nil, "hook point or pattern to capture (repeatable)")
	f.StringVarP(&out, "out", "o", "", "output .safetensors file")
	f.BoolVar(&noBOS, "no-bos", false, "with --text, do not prepend BOS")
	addJSON(c)
	return c
}

// parseIDs parses "1,2,3" (spaces allowed).
func parseIDs(s string) ([]int, error) {
	var out []int
	for i, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("--ids: item %d (%q) is not an integer", i+1, f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--ids: no ids")
	}
	return out, nil
}
