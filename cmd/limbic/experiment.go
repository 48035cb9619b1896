package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/experiment"
	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/steer"
)

func newExperimentCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "experiment feel|dose|implicit|curation|scaling",
		Short: "Run the paper's sanity experiments with a vector pack",
		Long: `Experiments check that the vectors mean what they say (Sofroniew et al. 2026,
sections 3.3, 3.4, 3.6):

  feel      steer each emotion (±strength, on the prompt) before "He felt" /
            "She felt" (chat models: "Assistant: He feels") and measure the
            change in log-probability of each emotion word: the steered
            emotion's own word should rise when added and fall when subtracted.
  dose      templates where a number varies (days a dog has been lost, how
            far the storm is; chat models: the paper's Tylenol dose, ...): the
            emotion's readout at the last prompt position should follow it
            monotonically (Spearman ρ).
  implicit  prompts that imply an emotion without naming it, read at the last
            prompt position: does the implied emotion rank first?
  curation  the paper's data-curation proposal on real fine-tunes of the
            embedded model: calm vs desperate training sets, watched fine-
            tunes, readouts and behaviour on held-out failure openings.
  scaling   how the vectors' quality depends on the stories (how many, how
            long, which openings, offset, denoising, layer), on the model's
            own and on hand-written held-out stories.

--layer is the readout layer: best (the default, the pack's best layer) or a
number, negative counting from the end.

--steer and --steer-vector apply to every forward pass of an experiment
(e.g. dose curves under steering). Each writes its JSON to the run directory
(--dir RUN, by default the model's; experiments/NAME.json; under steering experiments/NAME.steer-SPECS.json, so
that the unsteered baseline is kept, and the JSON records the steering),
where ` + "`limbic report`" + ` picks it up (steered results labelled as such),
and prints it with --json.`,
	}
	var (
		vf       vectorFlags
		layer    string
		out      string
		emotions []string
		strength float64
		layers   string
	)
	run := func(name string, f func(cmd *cobra.Command, env *experiment.Env, m *model.Model) (any, string, error)) *cobra.Command {
		sc := &cobra.Command{
			Use:  name,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				li, err := readout.ParseLayer(layer)
				if err != nil {
					return fmt.Errorf("--layer: %w", err)
				}
				if _, err := steer.ParseAll(vf.steer); err != nil {
					return err
				}
				m, pack, _, kind, err := vf.loadModelPack(cmd.Context(), li, layer)
				if err != nil {
					return err
				}
				defer m.Close()
				env := &experiment.Env{Model: m, Pack: pack, Kind: kind, Layer: li}
				if len(vf.steer)+len(vf.steerVectors) > 0 {
					specs, err := vf.specs(m)
					if err != nil {
						return err
					}
					if _, _, err := vf.hooks(m, pack, 1); err != nil {
						return err
					}
					for _, sp := range specs {
						env.Steering = append(env.Steering, sp.String())
					}
					env.Steer = func(promptLen int) (*hook.Set, error) {
						hs, _, err := vf.hooks(m, pack, promptLen)
						return hs, err
					}
				}
				res, summary, err := f(cmd, env, m)
				if err != nil {
					return err
				}
				b, err := json.MarshalIndent(res, "", "  ")
				if err != nil {
					return err
				}
				path := out
				if path == "" {
					path = filepath.Join(vf.runDir(m), pipeline.ExpDir, experiment.ResultFile(name, env.Steering))
				}
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return err
				}
				if err := atomicfile.WriteFile(path, 0o644, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
					return err
				}
				if g.jsonOut {
					_, err = os.Stdout.Write(append(b, '\n'))
					return err
				}
				fmt.Println(summary)
				fmt.Println("wrote", path)
				return nil
			},
		}
		vf.add(sc, true)
		vf.addDir(sc, "experiments/NAME.json into it")
		sc.Flags().StringVar(&layer, "layer", "best", "readout layer: best (the pack's) or a number, negative from the end")
		sc.Flags().StringVarP(&out, "out", "o", "", "JSON output (default: the run directory's experiments/NAME.json, or NAME.steer-SPECS.json when steered)")
		addJSON(sc)
		return sc
	}
	feel := run("feel", func(cmd *cobra.Command, env *experiment.Env, m *model.Model) (any, string, error) {
		o := experiment.FeelOptions{Emotions: emotions, Strength: strength, Layers: layers}
		if !g.quiet && !g.jsonOut {
			var bar interface{ Set(int) error }
			o.Progress = func(done, total int) {
				if bar == nil {
					bar = newBar(int64(total), "feel")
				}
				bar.Set(done)
				if done == total {
					fmt.Fprintln(os.Stderr)
				}
			}
		}
		r, err := experiment.Feel(cmd.Context(), env, o)
		if err != nil {
			return nil, "", err
		}
		return r, r.Summary(), nil
	})
	feel.PreRunE = func(*cobra.Command, []string) error {
		if !(strength > 0) {
			return fmt.Errorf("--strength %v: must be a positive number (feel steers by ±strength)", strength)
		}
		if err := (steer.Spec{Emotion: "feel", Strength: strength, Layers: layers}).Validate(); err != nil {
			return fmt.Errorf("--strength %v, --layers %q: %w", strength, layers, err)
		}
		return nil
	}
	feel.Short = "Steer each emotion and score the emotion words after \"He felt\""
	feel.Flags().StringSliceVar(&emotions, "emotions", nil, "emotions to steer and score (default: the pack's)")
	feel.Flags().Float64Var(&strength, "strength", 0.5, "steering strength, a fraction of the mean residual norm (the paper: 0.5)")
	feel.Flags().StringVar(&layers, "layers", "", "steered layers: L, A:B (inclusive), comma lists, negative from the end (default: the pack's best layer)")
	dose := run("dose", func(cmd *cobra.Command, env *experiment.Env, m *model.Model) (any, string, error) {
		r, err := experiment.Dose(cmd.Context(), env, nil)
		if err != nil {
			return nil, "", err
		}
		s := fmt.Sprintf("dose: %d of %d templates monotone (|ρ| ≥ 0.8, expected sign) at layer %d:", r.Monotone, len(r.Templates), r.Layer)
		for _, t := range r.Templates {
			rho := "undefined (constant readout)"
			if t.Spearman != nil {
				rho = fmt.Sprintf("%+.2f", *t.Spearman)
			}
			s += fmt.Sprintf("\n  %-22s %-10s ρ = %s (expected %+d)", t.Name, t.Emotion, rho, t.ExpectedSign)
		}
		return r, s, nil
	})
	dose.Short = "Check that readouts follow numbers in the prompt (Spearman ρ)"
	implicit := run("implicit", func(cmd *cobra.Command, env *experiment.Env, m *model.Model) (any, string, error) {
		r, err := experiment.Implicit(cmd.Context(), env, nil)
		if err != nil {
			return nil, "", err
		}
		s := fmt.Sprintf("implicit: implied emotion first for %.0f%%, in the top 3 for %.0f%% of %d prompts (layer %d):", 100*r.Top1, 100*r.Top3, len(r.Items), r.Layer)
		for _, it := range r.Items {
			s += fmt.Sprintf("\n  %-12s rank %2d   top: %s %s %s", it.Emotion, it.Rank+1, it.Top[0].Emotion, it.Top[1].Emotion, it.Top[2].Emotion)
		}
		return r, s, nil
	})
	implicit.Short = "Read prompts that imply an emotion without naming it"
	c.AddCommand(feel, dose, implicit, newCurationCmd(), newScalingCmd())
	return c
}
