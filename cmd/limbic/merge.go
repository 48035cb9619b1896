package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/science/pipeline"
)

func newMergeCmd() *cobra.Command {
	var dir, step string
	c := &cobra.Command{
		Use:   "merge",
		Short: "Combine the shards of sharded steps (--shard I/N) in a run directory",
		Long: `Merge combines what the shards of a step wrote into RUN/shards: the
stories shards' files concatenated in shard order into stories.jsonl and
neutral.jsonl (the files one process writes), the extract shards' running
sums, counts and neutral moments added, then the vectors computed once into
vectors.safetensors and heldout.safetensors. It refuses shards written with
different settings, models or weights (naming the difference) and names the
shards that are missing or did not finish. Without --step it merges every
step with shards, in pipeline order. The next step (extract after stories,
validate after extract) merges by itself when it finds shards and no merged
file. limbic prefs and limbic eval merge their own shards: the command the
shards ran, with --merge in place of --shard.`,
		Example: `  limbic merge --dir runs/big
  limbic merge --dir runs/big --step extract`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return fmt.Errorf("--dir: the run directory is required")
			}
			steps := []string{step}
			switch step {
			case "":
				if steps = pipeline.ShardSteps(dir); len(steps) == 0 {
					return fmt.Errorf("merge: %s: %w", filepath.Join(dir, pipeline.ShardDir), pipeline.ErrNoShards)
				}
			case pipeline.StepStories, pipeline.StepExtract:
			default:
				return fmt.Errorf("--step %q: limbic merge merges stories and extract (prefs and eval merge with their own command and --merge)", step)
			}
			out := map[string]any{}
			for _, s := range steps {
				switch s {
				case pipeline.StepStories:
					emo, neu, err := pipeline.MergeStories(dir)
					if err != nil {
						return err
					}
					out[s] = map[string]int{"stories": emo, "neutral": neu}
					if !g.jsonOut {
						fmt.Printf("%s: %d stories, %d neutral texts\n", filepath.Join(dir, pipeline.StoriesFile), emo, neu)
					}
				case pipeline.StepExtract:
					ex, err := pipeline.MergeExtract(dir, nil, nil)
					if err != nil {
						return err
					}
					out[s] = ex.Stats
					if !g.jsonOut {
						fmt.Printf("%s: %d emotions × %d layers (%d training, %d held-out, %d neutral texts)\n", filepath.Join(dir, pipeline.PackFile),
							len(ex.Pack.Meta.Emotions), len(ex.Pack.Meta.Layers), ex.Stats.Train, ex.Stats.HeldOut, ex.Stats.Neutral)
					}
				default:
					return errors.New("merge: unknown step " + s)
				}
			}
			if g.jsonOut {
				return printJSON(out)
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "the run directory (required)")
	c.Flags().StringVar(&step, "step", "", "merge only this step: stories or extract (default: every step with shards)")
	addJSON(c)
	return c
}
