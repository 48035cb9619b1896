package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
)

func newGenerateCmd() *cobra.Command {
	var (
		prompt string
		n      int
		s      model.Sampling
		seed   int64
		noBOS  bool
		vf     vectorFlags
	)
	c := &cobra.Command{
		Use:   "generate -p TEXT [-n N]",
		Short: "Generate text from a prompt, streaming it",
		Long: `Generate continues the prompt with up to N tokens, streaming the text to
stdout as it is produced. --temp 0 is greedy decoding; otherwise tokens are
sampled at the temperature, optionally restricted by --top-k and --top-p.
The same --seed gives the same output. --json prints one object with
prompt_ids, ids (the generated ids) and text (the generated text) instead.`,
		Example: `  limbic generate -p "Once upon a time" -n 64
  limbic generate -p "Tom was angry." --temp 0 --json
  limbic generate -p "Once upon a time" --steer happy=0.3:generated`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 1 {
				return fmt.Errorf("-n %d: must be at least 1", n)
			}
			s.Seed = uint64(seed)
			if err := s.Validate(); err != nil {
				return err
			}
			m, err := loadTextModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			ids := m.Tok.Encode(prompt, !noBOS)
			if len(ids) == 0 {
				return fmt.Errorf("empty prompt: give -p TEXT (or drop --no-bos)")
			}
			if len(ids) >= m.MaxSeq {
				return fmt.Errorf("prompt of %d tokens does not fit the context length of %d", len(ids), m.MaxSeq)
			}
			var hs *hook.Set
			if len(vf.steer)+len(vf.steerVectors) > 0 {
				pack, _, err := vf.loadPack(m, len(vf.steer) > 0)
				if err != nil {
					return err
				}
				if hs, _, err = vf.hooks(m, pack, len(ids)); err != nil {
					return err
				}
			}
			dec := m.Tok.NewDecoder()
			dec.Skip(ids)
			var text strings.Builder
			if !g.jsonOut {
				fmt.Print(prompt)
			}
			start := time.Now()
			res, err := model.Generate(cmd.Context(), m.Transformer, []model.Request{{Prompt: ids, Max: n, Sampling: s, Stop: m.StopIDs(), Hooks: hs}},
				func(t model.Token) bool {
					if t.Stop {
						return true
					}
					piece := dec.Next(t.ID)
					text.WriteString(piece)
					if !g.jsonOut {
						fmt.Print(piece)
					}
					return true
				})
			if err != nil {
				return err
			}
			r := res[0]
			rest := dec.Flush()
			text.WriteString(rest)
			if g.jsonOut {
				return printJSON(struct {
					PromptIDs []int  `json:"prompt_ids"`
					IDs       []int  `json:"ids"`
					Text      string `json:"text"`
					Stop      string `json:"stop_reason"`
				}{ids, nonNil(r.IDs), text.String(), r.Reason})
			}
			fmt.Println(rest)
			if !g.quiet {
				el := time.Since(start)
				fmt.Fprintf(os.Stderr, "%d prompt + %d generated tokens in %.2fs (%.1f tok/s), stop: %s\n",
					len(ids), len(r.IDs), el.Seconds(), float64(len(r.IDs))/el.Seconds(), r.Reason)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&prompt, "prompt", "p", "", "prompt text")
	f.IntVarP(&n, "tokens", "n", 128, "most tokens to generate")
	f.Float64Var(&s.Temp, "temp", 0.8, "sampling temperature (0 = greedy)")
	f.Float64Var(&s.TopP, "top-p", 0.95, "nucleus sampling mass (1 = off)")
	f.IntVar(&s.TopK, "top-k", 0, "sample from the K most likely tokens (0 = off)")
	f.Int64Var(&seed, "seed", 0, "random seed")
	f.BoolVar(&noBOS, "no-bos", false, "do not prepend the BOS token")
	vf.add(c, true)
	addJSON(c)
	return c
}

func nonNil(v []int) []int {
	if v == nil {
		return []int{}
	}
	return v
}
