package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/stories"
	"github.com/limbic-dev/limbic/science/validate"
	"github.com/limbic-dev/limbic/science/vecpack"
)

func newStoriesCmd() *cobra.Command {
	var p pipelineFlags
	c := &cobra.Command{
		Use:   "stories",
		Short: "Write the emotional stories and neutral texts (step 1 of limbic run)",
		Long: `Stories writes, for each emotion and topic, --per-topic stories, and the
neutral texts, into the run directory (stories.jsonl, neutral.jsonl). Base
models continue story openings that set up the character's emotion; chat
models get the paper's prompt (never name the emotion) through their chat
template; --generator uses an OpenAI-compatible endpoint instead, as the
paper had its model write its own stories. Killed and restarted, it
continues where it stopped, with the same seeds.`,
		Example: `  limbic stories --emotions happy,sad,scared --per-topic 8
  limbic stories --generator http://127.0.0.1:8000/v1 --generator-model my-model`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadTextModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			cfg, err := p.config(m)
			if err != nil {
				return err
			}
			emo, neu, err := pipeline.Stories(cmd.Context(), m, cfg)
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(map[string]any{"dir": cfg.Dir, "stories": emo, "neutral": neu, "shard": cfg.Shard.String()})
			}
			if cfg.Shard.Count > 1 {
				fmt.Printf("shard %s: ", cfg.Shard)
			}
			fmt.Printf("%s: %d stories (%d new), %d neutral texts (%d new)\n", cfg.Dir, emo.Planned, emo.Written, neu.Planned, neu.Written)
			return nil
		},
	}
	p.add(c)
	p.addShard(c)
	addJSON(c)
	return c
}

func newExtractCmd() *cobra.Command {
	var p pipelineFlags
	c := &cobra.Command{
		Use:   "extract",
		Short: "Extract the emotion vectors from the run's stories (step 2 of limbic run)",
		Long: `Extract runs the run directory's stories through the model, captures
blocks.L.hook_resid_post at every layer, averages each story from --offset
on (the prompt prefix never counts), averages per emotion, subtracts the mean
across emotions and projects out the neutral texts' top principal components
(--denoise share of their variance). It keeps running sums only, checkpoints
as it goes (Ctrl-C and run again to resume), and writes the vector pack
(vectors.safetensors) and the held-out set (heldout.safetensors).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			cfg, err := p.config(m)
			if err != nil {
				return err
			}
			ex, err := pipeline.Extract(cmd.Context(), m, cfg)
			if err != nil {
				return err
			}
			if cfg.Shard.Count > 1 {
				if g.jsonOut {
					return printJSON(map[string]any{"shard": cfg.Shard.String(), "dir": cfg.Dir, "stats": ex.Stats})
				}
				fmt.Printf("shard %s of %s: %d training, %d held-out, %d neutral texts read; run limbic merge --dir %s when all shards are done\n",
					cfg.Shard, cfg.Dir, ex.Stats.Train, ex.Stats.HeldOut, ex.Stats.Neutral, cfg.Dir)
				return nil
			}
			out := filepath.Join(cfg.Dir, pipeline.PackFile)
			if g.jsonOut {
				return printJSON(map[string]any{"vectors": out, "stats": ex.Stats, "layers": ex.Pack.Meta.LayerInfo})
			}
			fmt.Printf("wrote %s: %d emotions × %d layers (%d training, %d held-out, %d neutral texts)\n", out,
				len(ex.Pack.Meta.Emotions), len(ex.Pack.Meta.Layers), ex.Stats.Train, ex.Stats.HeldOut, ex.Stats.Neutral)
			return nil
		},
	}
	p.add(c)
	p.addShard(c)
	addJSON(c)
	return c
}

func newValidateCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "validate",
		Short: "Validate the run's vectors on its held-out stories (step 3 of limbic run)",
		Long: `Validate classifies the held-out stories by their highest-projecting emotion
vector (top-1, top-5, confusion), runs the logit lens, the cosine-similarity
matrix, PCA (PC1 against the paper's valence) and k-means (against its
clusters) at every layer, and records the best layer in the pack. It also
reads the hand-written stories (a test set the model did not write, for the
pack's emotions) and reports their top-1 and top-5 at every layer beside the
model-written held-out figures. --json
prints every number: {"core": {"top1", "top5", "pc1_sign_agreement", ...},
"best_layer", "layers": [...], ...}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			if dir == "" {
				dir = runDir(m)
			}
			v, err := pipeline.Validate(m, dir)
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(v)
			}
			printValidation(v)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "run directory (default: $LIMBIC_HOME/runs/MODEL)")
	addJSON(c)
	return c
}

func printValidation(v *validate.Result) {
	fmt.Printf("%d emotions, %d held-out stories; best layer %d\n", len(v.Emotions), v.HeldOut, v.BestLayer)
	if hw := v.Handwritten; hw != nil {
		fmt.Printf("hand-written stories: %d, of %d emotions (%d skipped: emotion not in the pack; %d too short)\n",
			hw.Stories, len(hw.Emotions), hw.Skipped, hw.TooShort)
	}
	for _, l := range v.Layers {
		fmt.Printf("  layer %2d: top-1 %5.1f%%  top-5 %5.1f%%  PC1 sign %s", l.Layer, 100*l.All.Top1, 100*l.All.Top5, pctp(l.All.PC1SignAgreement))
		if s := v.Handwritten.At(l.Layer); s != nil {
			fmt.Printf("  hand-written top-1 %5.1f%%  top-5 %5.1f%%", 100*s.Top1, 100*s.Top5)
		}
		fmt.Println()
	}
	if v.Core != nil {
		fmt.Printf("core set at layer %d: top-1 %.1f%%, top-5 %.1f%%, PC1 sign agreement %s\n", v.BestLayer, 100*v.Core.Top1, 100*v.Core.Top5, pctp(v.Core.PC1SignAgreement))
	}
}

func newReportCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "report",
		Short: "Write report.html and report.json for the run (step 5 of limbic run)",
		Long: `Report validates the run's vectors and writes one self-contained HTML page
(inline SVG, no network: PCA map, similarity heatmap, per-layer accuracy,
confusion matrix, logit lens, the experiments found in experiments/, the run
parameters) and report.json with every number in it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			if dir == "" {
				dir = runDir(m)
			}
			v, err := pipeline.Validate(m, dir)
			if err != nil {
				return err
			}
			p, err := vecpack.Read(filepath.Join(dir, pipeline.PackFile))
			if err != nil {
				return err
			}
			params := map[string]string{}
			for k, x := range p.Meta.Params {
				params[k] = x
			}
			st, _ := countStories(filepath.Join(dir, pipeline.StoriesFile))
			params["stories"] = fmt.Sprint(st)
			html, js, err := pipeline.Report(dir, v, params)
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(map[string]string{"html": html, "json": js})
			}
			fmt.Println(html)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "run directory (default: $LIMBIC_HOME/runs/MODEL)")
	addJSON(c)
	return c
}

func countStories(path string) (int, error) {
	n := 0
	err := stories.Read(path, func(*stories.Story) error { n++; return nil })
	return n, err
}
