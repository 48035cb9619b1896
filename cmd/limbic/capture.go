package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
)

func newCaptureCmd() *cobra.Command {
	var (
		text    string
		ids     string
		hooks   []string
		out     string
		noBOS   bool
		patches []string
		vf      vectorFlags
	)
	c := &cobra.Command{
		Use:   "capture (--text T | --ids 1,2,3) [--hook PATTERN ...] --out FILE.safetensors",
		Short: "Run one forward pass and save the logits and hooked activations",
		Long: `Capture runs one forward pass, like TransformerLens' run_with_cache, and writes
a safetensors file with
  tokens   I32 [T]      the token ids
  logits   F32 [T, V]   the logits at every position
and every captured hook point under its TransformerLens name, F32 in
TransformerLens' shape:
  hook_embed, hook_pos_embed (GPT-2), blocks.L.hook_resid_pre|hook_attn_out|
  hook_resid_mid|hook_mlp_out|hook_resid_post, blocks.L.ln1.hook_normalized,
  blocks.L.ln2.hook_normalized, ln_final.hook_normalized       [T, d]
  blocks.L.attn.hook_q|hook_z   [T, heads, d_head]; hook_k|hook_v [T, kv_heads, d_head]
  blocks.L.attn.hook_attn_scores|hook_pattern   [heads, T, T] (masked: -inf / 0)
  blocks.L.mlp.hook_pre|hook_post   [T, d_mlp]
--hook takes names or patterns: blocks.*.hook_resid_post (the default),
blocks.2-4.hook_mlp_out, blocks.-1.attn.hook_pattern, hook_embed, or * for
every d_model-wide point.

--steer adds emotion vectors as in generate. --patch FILE[:HOOKS][@POSITIONS]
replaces activations with those of another capture file (TransformerLens'
run_with_hooks): every hook in FILE, or those HOOKS names (one pattern), at
every position or at POSITIONS (L, A:B inclusive, comma lists; -1 is the
last). Captures record activations after steering and patching.`,
		Example: `  limbic capture --text "Lily was happy." --out lily.safetensors
  limbic capture --ids 1,9038,2501 --hook 'blocks.*.hook_attn_out' --out a.safetensors
  limbic capture --text "Lily was sad." --hook 'blocks.*.attn.hook_pattern' --out p.safetensors
  limbic capture --text "Lily was sad." --patch 'lily.safetensors:blocks.3.hook_resid_post@-1' --out patched.safetensors`,
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
			var extra *hook.Set
			if len(vf.steer)+len(vf.steerVectors) > 0 {
				pack, _, err := vf.loadPack(m, len(vf.steer) > 0)
				if err != nil {
					return err
				}
				if extra, _, err = vf.hooks(m, pack, len(toks)); err != nil {
					return err
				}
			}
			for _, spec := range patches {
				ps, err := model.LoadPatches(m.Transformer, spec, len(toks))
				if err != nil {
					return err
				}
				if extra == nil {
					extra = &hook.Set{}
				}
				for _, p := range ps {
					extra.Add(p.Point, p.Func())
				}
			}
			res, err := model.CaptureWith(m.Transformer, toks, hooks, extra)
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
	f.StringArrayVar(&patches, "patch", nil, "replace activations with a capture file's: FILE[:HOOKS][@POSITIONS] (repeatable)")
	vf.add(c, true)
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
