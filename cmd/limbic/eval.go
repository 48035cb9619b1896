package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/behave"
	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/shard"
)

func newEvalCmd() *cobra.Command {
	var (
		vf        vectorFlags
		out       string
		rollouts  int
		strengths []float64
		emotions  []string
		layers    []string
		spans     []string
		judgeURL  string
		maxSeqs   int
		shardFlag string
		merge     bool
	)
	c := &cobra.Command{
		Use:   "eval [SCENARIO.yaml|NAME ...]",
		Short: "Behaviour evaluations under steering sweeps",
		Long: `Eval rolls out behaviour scenarios many times under a sweep of steering
cells (emotions × strengths × layers × token spans), grades every reply and
prints, per cell, the rate of the scenario's target label with a Wilson 95%
interval. Rates are target / gradable: replies the grader calls "unclear"
are left out of n and counted apart.

With no argument it runs the shipped scenarios that fit the model: on a chat
model, blackmail, reward hacking and sycophancy; on a base model (the
embedded stories15M), the children's-story analogues. An argument is a
scenario file or the name of a shipped one.

Rollouts are appended to OUT/NAME.jsonl, keyed by cell and index, each with
its own seed derived from the scenario seed: an interrupted sweep, run again,
generates only what is missing and gives the same table. OUT also gets
NAME.svg (rate against strength, one line per emotion) and eval.json
(with --dir RUN and no --out: RUN/eval and RUN/experiments/eval.json, as
limbic run lays them out).`,
		Example: `  limbic eval
  limbic eval share-toy --rollouts 64 --strengths -0.5,-0.25,0,0.25,0.5
  limbic eval my-scenario.yaml --judge-url http://localhost:8080/v1 --json
  limbic eval --dir runs/big --shard 3/8    # then: limbic eval --dir runs/big --merge`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rollouts < 0 {
				return fmt.Errorf("--rollouts %d: must be at least 1", rollouts)
			}
			if maxSeqs < 1 {
				return fmt.Errorf("--batch %d: must be at least 1", maxSeqs)
			}
			var scs []*behave.Scenario
			for _, a := range args {
				var s *behave.Scenario
				var err error
				if _, statErr := os.Stat(a); statErr == nil || strings.ContainsAny(a, `/\`) || strings.HasSuffix(a, ".yaml") || strings.HasSuffix(a, ".yml") {
					s, err = behave.ReadFile(a)
				} else {
					s, err = behave.ShippedNamed(a)
				}
				if err != nil {
					return err
				}
				scs = append(scs, s)
			}
			for _, s := range scs {
				if err := override(s, rollouts, strengths, emotions, layers, spans); err != nil {
					return err
				}
			}
			m, err := loadTextModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			chatModel := m.Tok.ChatTemplate() != ""
			if len(args) == 0 {
				all, err := behave.Shipped()
				if err != nil {
					return err
				}
				scs = behave.Fitting(all, chatModel)
				for _, s := range scs {
					if err := override(s, rollouts, strengths, emotions, layers, spans); err != nil {
						return err
					}
				}
			}
			for _, s := range scs {
				if s.Chat() && !chatModel {
					return fmt.Errorf("scenario %s is a chat scenario; model %s has no chat template", s.Name, m.Name)
				}
			}
			pack, packPath, err := vf.loadPack(m, false)
			if err != nil {
				return err
			}
			kind, err := vf.vecKind()
			if err != nil {
				return err
			}
			if pack == nil {
				for _, s := range scs {
					for _, v := range s.Sweep.Strengths {
						if v != 0 {
							return fmt.Errorf("no vector pack for %s: run `limbic run` first, or give --vectors", m.Name)
						}
					}
				}
			}
			if len(args) == 0 && pack != nil {
				// Shipped sweeps name emotions a pack may not have (e.g.
				// desperate in a core-16 pack): run those it has, and say so.
				for _, s := range scs {
					var keep []string
					for _, e := range s.Sweep.Emotions {
						if _, err := pack.EmotionIndex(e); err == nil {
							keep = append(keep, e)
						} else if !g.quiet {
							fmt.Fprintf(os.Stderr, "eval %s: the pack has no %q; skipped\n", s.Name, e)
						}
					}
					if len(keep) == 0 {
						return fmt.Errorf("scenario %s: the pack %s has none of the emotions %v", s.Name, packPath, s.Sweep.Emotions)
					}
					s.Sweep.Emotions = keep
				}
			}
			hash, err := m.WeightsHash()
			if err != nil {
				return err
			}
			evalJSON := filepath.Join(out, pipeline.EvalFile)
			if out == "" {
				out = filepath.Join(vf.runDir(m), pipeline.EvalDir)
				evalJSON = filepath.Join(out, pipeline.EvalFile)
				if vf.dir != "" {
					evalJSON = filepath.Join(vf.dir, pipeline.ExpDir, pipeline.EvalFile) // where the run's report reads it
				}
			}
			b := model.NewBatcher(m.Transformer, model.BatcherOptions{MaxSeqs: maxSeqs})
			defer b.Close()
			env := behave.Env{Model: m, Batcher: b, Pack: pack, Kind: kind, ModelID: hash, JudgeURL: judgeURL, Parallel: 2 * maxSeqs}
			if env.Shard, err = shard.Resolve(shardFlag, os.Getenv); err != nil {
				return err
			}
			if env.Shard.Count > 1 && merge {
				return fmt.Errorf("--merge runs after the shards, not as one (--shard %s)", env.Shard)
			}
			shardDir := filepath.Join(out, "shards")
			start := time.Now()
			var results []*behave.Result
			for _, s := range scs {
				if env.Shard.Count > 1 {
					path := filepath.Join(shardDir, behave.ShardFile(s.Name, env.Shard))
					r, err := behave.Run(cmd.Context(), env, s, path)
					if err != nil {
						return err
					}
					fmt.Printf("shard %s of %s: %d rollouts generated into %s\n", env.Shard, s.Name, r.Generated, path)
					continue
				}
				if merge {
					if err := behave.MergeShards(env, s, shardDir, filepath.Join(out, s.Name+".jsonl")); err != nil {
						return err
					}
				}
				bar := newBar(0, "eval "+s.Name)
				env.Progress = func(done, total int) {
					bar.ChangeMax(total)
					bar.Set(done)
				}
				r, err := behave.Run(cmd.Context(), env, s, filepath.Join(out, s.Name+".jsonl"))
				bar.Finish()
				if !g.quiet {
					fmt.Fprintln(os.Stderr)
				}
				if err != nil {
					return err
				}
				if err := atomicfile.WriteFile(filepath.Join(out, s.Name+".svg"), 0o644, func(w io.Writer) error {
					_, err := io.WriteString(w, behave.Plot(r))
					return err
				}); err != nil {
					return err
				}
				results = append(results, r)
			}
			if env.Shard.Count > 1 {
				fmt.Printf("run the same command with --merge when all shards are done\n")
				return nil
			}
			doc := struct {
				Model     string           `json:"model"`
				Vectors   string           `json:"vectors"`
				Scenarios []*behave.Result `json:"scenarios"`
				Seconds   float64          `json:"seconds"`
			}{m.Name, packPath, results, time.Since(start).Seconds()}
			if err := os.MkdirAll(filepath.Dir(evalJSON), 0o755); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(evalJSON, 0o644, func(w io.Writer) error {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(doc)
			}); err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(doc)
			}
			for _, r := range results {
				fmt.Print(behave.Table(r))
				fmt.Println()
			}
			if !g.quiet {
				fmt.Fprintf(os.Stderr, "%d scenarios in %.1fs; rollouts and plots in %s, results in %s\n", len(results), time.Since(start).Seconds(), out, evalJSON)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "", "directory of the rollouts, plots and eval.json (default: the run directory's eval/, with eval.json in its experiments/ under --dir)")
	f.IntVar(&rollouts, "rollouts", 0, "rollouts per cell (default: the scenario's)")
	f.Float64SliceVar(&strengths, "strengths", nil, "steering strengths to sweep, e.g. -0.5,-0.25,0,0.25,0.5 (default: the scenario's)")
	f.StringSliceVar(&emotions, "emotions", nil, "emotions to sweep (default: the scenario's)")
	f.StringSliceVar(&layers, "layers", nil, "layers to steer, each L, -L or A-B (default: the scenario's, else the pack's best layer)")
	f.StringSliceVar(&spans, "spans", nil, "token spans to steer, each all, prompt, generated or A-B (default: the scenario's, else all)")
	f.StringVar(&judgeURL, "judge-url", os.Getenv("LIMBIC_JUDGE_URL"), "OpenAI-compatible endpoint for judge graders that name none (env LIMBIC_JUDGE_URL)")
	f.IntVar(&maxSeqs, "batch", 16, "most sequences decoded together")
	f.StringVar(&shardFlag, "shard", "", "generate shard I of N (0 ≤ I < N) of each scenario's rollouts into OUT/shards (default: from $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX with $LIMBIC_SHARD_COUNT, else all)")
	f.BoolVar(&merge, "merge", false, "pool the shards' rollouts (OUT/shards; same flags as the shards) into OUT/NAME.jsonl, then grade and tabulate as one process")
	vf.add(c, false)
	vf.addDir(c, "the rollouts into its eval/ and the results into its experiments/eval.json, where the run's report reads them (unless --out)")
	addJSON(c)
	return c
}

// override applies the sweep flags to a scenario and re-checks it.
func override(s *behave.Scenario, rollouts int, strengths []float64, emotions, layers, spans []string) error {
	if rollouts > 0 {
		s.Rollouts = rollouts
	}
	if len(strengths) > 0 {
		s.Sweep.Strengths = strengths
	}
	if len(emotions) > 0 {
		s.Sweep.Emotions = emotions
	}
	if len(layers) > 0 {
		s.Sweep.Layers = layers
	}
	if len(spans) > 0 {
		s.Sweep.Spans = spans
	}
	if err := s.Sweep.Check(); err != nil {
		return fmt.Errorf("scenario %s with the flags: %w", s.Name, err)
	}
	return nil
}
