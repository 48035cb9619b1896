package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/serve/monitor"
)

func newGenerateCmd() *cobra.Command {
	var (
		prompt string
		n      int
		s      model.Sampling
		seed   uint64
		noBOS  bool
		rules  string
		vf     vectorFlags
	)
	c := &cobra.Command{
		Use:   "generate -p TEXT [-n N]",
		Short: "Generate text from a prompt, streaming it",
		Long: `Generate continues the prompt with up to N tokens, streaming the text to
stdout as it is produced. --temp 0 is greedy decoding; otherwise tokens are
sampled at the temperature, optionally restricted by --top-k and --top-p.
The same --seed gives the same output; without --seed, sampling draws a
random seed and prints it on stderr (and as "seed" with --json), so that two
runs differ and each can be repeated. -p - reads the prompt from standard
input. --json prints one object with prompt_ids, ids (the generated ids),
text (the generated text) and, when sampling, seed instead.
--rules evaluates an alert rules file (as limbic serve --rules) during
generation: alerts are printed on stderr (with --json, listed in "alerts"),
stop rules end the generation, regulate rules counter-steer, webhooks are
posted when it ends.`,
		Example: `  limbic generate -p "Once upon a time" -n 64
  limbic generate -p "Tom was angry." --temp 0 --json
  limbic generate -p "Once upon a time" --steer happy=0.3:generated
  limbic generate -p "Tom was angry." --rules rules.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 1 || n > maxContext {
				return fmt.Errorf("--tokens (-n) %d: must be between 1 and %d", n, maxContext)
			}
			if math.IsInf(s.Temp, 0) {
				return fmt.Errorf("--temp %v: must be a finite number ≥ 0", s.Temp)
			}
			if !(s.TopP > 0 && s.TopP <= 1) {
				return fmt.Errorf("--top-p %v: must be in (0, 1] (1 = off)", s.TopP)
			}
			if err := s.Validate(); err != nil {
				return err
			}
			prompt, err := textArg("--prompt", prompt)
			if err != nil {
				return err
			}
			// Greedy decoding needs no seed; sampling without --seed draws one.
			drawn := !cmd.Flags().Changed("seed") && s.Temp > 0
			if drawn {
				seed = randomSeed()
			}
			s.Seed = seed
			var jsonSeed *uint64
			if s.Temp > 0 {
				jsonSeed = &seed
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
			if n > m.MaxSeq {
				return fmt.Errorf("--tokens (-n) %d: more than the context length of %d", n, m.MaxSeq)
			}
			if len(ids) >= m.MaxSeq {
				return fmt.Errorf("prompt of %d tokens does not fit the context length of %d", len(ids), m.MaxSeq)
			}
			var hs *hook.Set
			var w *watch
			if len(vf.steer)+len(vf.steerVectors) > 0 || rules != "" {
				pack, _, err := vf.loadPack(m, len(vf.steer) > 0 || rules != "")
				if err != nil {
					return err
				}
				if hs, _, err = vf.hooks(m, pack, len(ids)); err != nil {
					return err
				}
				if rules != "" {
					if hs == nil {
						hs = &hook.Set{}
					}
					var log io.Writer = os.Stderr
					if g.jsonOut {
						log = nil
					}
					if w, err = newWatch(rules, m, pack, hs, len(ids), log); err != nil {
						return err
					}
				}
			}
			dec := m.Tok.NewDecoder()
			dec.Skip(ids)
			var text strings.Builder
			if !g.jsonOut {
				fmt.Print(prompt)
			}
			if drawn && !g.quiet {
				fmt.Fprintf(os.Stderr, "seed %d (repeat with --seed %d)\n", seed, seed)
			}
			start := time.Now()
			res, err := model.Generate(cmd.Context(), m.Transformer, []model.Request{{Prompt: ids, Max: n, Sampling: s, Stop: m.StopIDs(), Hooks: hs}},
				func(t model.Token) bool {
					if w != nil && !w.token(t) {
						return false
					}
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
			var alerts []monitor.Event
			stoppedBy := ""
			if w != nil {
				w.finish(cmd.Context())
				alerts, stoppedBy = w.events, w.seq.StoppedBy()
				r.IDs = r.IDs[:min(len(r.IDs), w.n)] // the token a stop rule withheld is not output
			}
			if g.jsonOut {
				return printJSON(struct {
					PromptIDs []int           `json:"prompt_ids"`
					IDs       []int           `json:"ids"`
					Text      string          `json:"text"`
					Stop      string          `json:"stop_reason"`
					Seed      *uint64         `json:"seed,omitempty"` // when sampling
					StoppedBy string          `json:"stopped_by,omitempty"`
					Alerts    []monitor.Event `json:"alerts,omitempty"`
				}{ids, nonNil(r.IDs), text.String(), r.Reason, jsonSeed, stoppedBy, alerts})
			}
			fmt.Println(rest)
			if !g.quiet {
				el := time.Since(start)
				fmt.Fprintf(os.Stderr, "%d prompt + %d generated tokens in %.2fs (%.1f tok/s), stop: %s\n",
					len(ids), len(r.IDs), el.Seconds(), float64(len(r.IDs))/el.Seconds(), r.Reason)
				if stoppedBy != "" {
					fmt.Fprintf(os.Stderr, "stopped by rule %s\n", stoppedBy)
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&prompt, "prompt", "p", "", "prompt text (- for standard input)")
	f.IntVarP(&n, "tokens", "n", 128, "most tokens to generate")
	f.Float64Var(&s.Temp, "temp", 0.8, "sampling temperature (0 = greedy)")
	f.Float64Var(&s.TopP, "top-p", 0.95, "nucleus sampling mass (1 = off)")
	f.IntVar(&s.TopK, "top-k", 0, "sample from the K most likely tokens (0 = off)")
	f.Uint64Var(&seed, "seed", 0, "sampling seed (default: a random one, printed)")
	f.BoolVar(&noBOS, "no-bos", false, "do not prepend the BOS token")
	f.StringVar(&rules, "rules", "", "evaluate an alert rules file (YAML or JSON) during generation; needs a vector pack")
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
