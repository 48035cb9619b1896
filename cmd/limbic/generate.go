package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer"
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
		lpK    int
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
posted when it ends.
--logprobs K reports each generated token's log-probability under the
model's own distribution (the log-softmax of its logits at temperature 1,
before --temp, --top-k and --top-p) and its K most likely alternatives
(0 to 20): a table after the text, or "logprobs" with --json.`,
		Example: `  limbic generate -p "Once upon a time" -n 64
  limbic generate -p "Tom was angry." --temp 0 --json
  limbic generate -p "Once upon a time" --steer happy=0.3:generated
  limbic generate -p "Tom was angry." --rules rules.yaml
  limbic generate -p "Once upon a time" -n 8 --logprobs 3`,
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
			withLP := cmd.Flags().Changed("logprobs")
			if withLP && (lpK < 0 || lpK > model.MaxTopLogProbs) {
				return fmt.Errorf("--logprobs %d: must be between 0 and %d", lpK, model.MaxTopLogProbs)
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
			var lps []tokenLogprob
			var lpErr error
			start := time.Now()
			res, err := model.Generate(cmd.Context(), m.Transformer, []model.Request{{Prompt: ids, Max: n, Sampling: s, Stop: m.StopIDs(), Hooks: hs}},
				func(t model.Token) bool {
					if w != nil && !w.token(t) {
						return false
					}
					if t.Stop {
						return true
					}
					if withLP {
						// The logits are valid only during this call.
						e, err := newTokenLogprob(m.Tok, t, lpK)
						if err != nil {
							lpErr = err
							return false
						}
						lps = append(lps, e)
					}
					piece := dec.Next(t.ID)
					text.WriteString(piece)
					if !g.jsonOut {
						fmt.Print(piece)
					}
					return true
				})
			if err == nil {
				err = lpErr
			}
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
			lps = lps[:min(len(lps), len(r.IDs))]
			if withLP && lps == nil {
				lps = []tokenLogprob{}
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
					Logprobs  []tokenLogprob  `json:"logprobs,omitempty"` // with --logprobs
				}{ids, nonNil(r.IDs), text.String(), r.Reason, jsonSeed, stoppedBy, alerts, lps})
			}
			fmt.Println(rest)
			if withLP {
				printLogprobs(os.Stdout, lps)
			}
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
	f.IntVar(&lpK, "logprobs", 0, "report each token's log-prob and its K most likely alternatives (0 to 20)")
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

// tokenLogprob is a generated token's log-prob (the model's softmax at
// temperature 1) and its most likely alternatives, as generate reports them.
// A log-prob of -Inf is written as -9999, as the API does.
type tokenLogprob struct {
	ID      int           `json:"id"`
	Text    string        `json:"text"` // the token's own text (a word start has its space)
	Logprob float64       `json:"logprob"`
	Top     []tokenLPItem `json:"top,omitempty"` // most likely first
}

// tokenLPItem is one alternative.
type tokenLPItem struct {
	ID      int     `json:"id"`
	Text    string  `json:"text"`
	Logprob float64 `json:"logprob"`
}

func newTokenLogprob(tok *tokenizer.Tokenizer, t model.Token, k int) (tokenLogprob, error) {
	lp, top, err := model.LogProbs(t.Logits, t.ID, k)
	if err != nil {
		return tokenLogprob{}, err
	}
	e := tokenLogprob{ID: t.ID, Text: string(tok.TokenBytes(t.ID)), Logprob: max(lp, -9999)}
	for _, a := range top {
		e.Top = append(e.Top, tokenLPItem{ID: a.ID, Text: string(tok.TokenBytes(a.ID)), Logprob: max(a.LogProb, -9999)})
	}
	return e, nil
}

// printLogprobs writes one line per generated token: its index, text,
// log-prob and probability, then its alternatives.
func printLogprobs(w io.Writer, lps []tokenLogprob) {
	fmt.Fprintf(w, "\n%4s  %-16s %9s %7s  %s\n", "#", "token", "logprob", "prob", "alternatives")
	for i, e := range lps {
		fmt.Fprintf(w, "%4d  %-16s %9.4f %7.4f ", i, strconv.Quote(e.Text), e.Logprob, math.Exp(e.Logprob))
		for _, a := range e.Top {
			fmt.Fprintf(w, " %s %.4f", strconv.Quote(a.Text), a.Logprob)
		}
		fmt.Fprintln(w)
	}
}
