package main

import (
	"fmt"
	"github.com/limbic-dev/limbic/science/validate"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/shard"
	"github.com/limbic-dev/limbic/science/stories"
)

// pipelineFlags are the flags of run, stories and extract.
type pipelineFlags struct {
	dir             string
	emotions        string
	custom          bool
	topics          string
	perTopic        int
	neutralPerTopic int
	maxTokens       int
	batch           int
	seed            uint64
	generatorURL    string
	generatorModel  string
	offset          string
	denoise         string
	openings        string
	preset          string
	noExperiments   bool
	noFunction      bool
	shard           string
	shardable       bool // the command has --shard
}

// addShard adds --shard to a shardable step's command.
func (p *pipelineFlags) addShard(c *cobra.Command) {
	p.shardable = true
	c.Flags().StringVar(&p.shard, "shard", "", "do shard I of N (0 ≤ I < N) of the work into RUN/shards, for limbic merge (default: from $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX with $LIMBIC_SHARD_COUNT, else all)")
}

func (p *pipelineFlags) add(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&p.dir, "dir", "", "run directory (default: $LIMBIC_HOME/runs/MODEL)")
	f.StringVar(&p.emotions, "emotions", "", "emotions: core (the 16 only), paper (all 171), a comma list, or a file, one per line (default: the 16 core emotions and the case-study ones desperate, afraid and loving)")
	f.BoolVar(&p.custom, "custom-emotions", false, "allow emotions outside the paper's 171")
	f.StringVar(&p.topics, "topics", "", "topics: child, paper, or a file (default: child for base models, paper for chat models)")
	f.IntVar(&p.perTopic, "per-topic", 0, "stories per emotion and topic (default: the preset's for base models, 5 by default; 1 for chat models)")
	f.IntVar(&p.neutralPerTopic, "neutral-per-topic", 2, "neutral texts per neutral topic")
	f.IntVar(&p.maxTokens, "max-tokens", 0, "tokens per story (default 40 for base models, 400 for chat models)")
	f.IntVar(&p.batch, "batch", 32, "stories generated together")
	f.Uint64Var(&p.seed, "seed", pipeline.DefaultSeed, "seed of the story plan and sampling")
	f.StringVar(&p.generatorURL, "generator", "", "write stories with an OpenAI-compatible endpoint (base URL) instead of the model; key from $LIMBIC_GENERATOR_API_KEY or $OPENAI_API_KEY")
	f.StringVar(&p.generatorModel, "generator-model", "", "model name for --generator")
	f.StringVar(&p.offset, "offset", "", "average each story from this token of its text on (default 0 for base models, 50 for chat models: the paper's)")
	f.StringVar(&p.denoise, "denoise", "", "share of neutral variance projected out, or off (default 0.7 for base models, 0.5 for chat models: the paper's)")
	f.StringVar(&p.openings, "openings", "", "base models: the story openings, "+strings.Join(stories.OpeningSets, ", ")+" (default: the preset's)")
	f.StringVar(&p.preset, "preset", "", "base models: "+presetHelp()+"; flags given explicitly win")
}

// aboutMinutes writes a duration estimate in whole minutes.
func aboutMinutes(d time.Duration) string {
	if d < time.Minute {
		return "under a minute"
	}
	return fmt.Sprintf("%.0f min", d.Minutes())
}

// presetHelp describes the presets for --preset's usage.
func presetHelp() string {
	var parts []string
	for _, n := range pipeline.PresetNames() {
		pr := pipeline.Presets[n]
		parts = append(parts, fmt.Sprintf("%s (%d per topic, %d tokens, %s openings, offset %d, denoise %.1f: %s)", n, pr.PerTopic, pr.MaxTokens, pr.Openings, pr.Offset, pr.Denoise, pr.About))
	}
	return strings.Join(parts, "; ")
}

// config builds the pipeline config for model m.
func (p *pipelineFlags) config(m *model.Model) (pipeline.Config, error) {
	for _, c := range []struct {
		flag   string
		v, min int
	}{{"per-topic", p.perTopic, 0}, {"neutral-per-topic", p.neutralPerTopic, 0}, {"max-tokens", p.maxTokens, 0}, {"batch", p.batch, 1}} {
		if err := inRange(c.flag, c.v, c.min, maxContext); err != nil {
			return pipeline.Config{}, err
		}
	}
	if m.MaxSeq > 0 && p.maxTokens > m.MaxSeq {
		return pipeline.Config{}, fmt.Errorf("--max-tokens %d: more than the context length of %d", p.maxTokens, m.MaxSeq)
	}
	cfg := pipeline.Config{Dir: p.dir, PerTopic: p.perTopic, NeutralPerTopic: p.neutralPerTopic, MaxTokens: p.maxTokens,
		Batch: p.batch, Seed: p.seed, Experiments: !p.noExperiments, Function: !p.noFunction, Preset: p.preset, Openings: p.openings}
	if _, err := pipeline.LookupPreset(p.preset); err != nil {
		return cfg, fmt.Errorf("--preset: %w", err)
	}
	if p.openings != "" {
		if _, err := stories.OpeningSet(p.openings); err != nil {
			return cfg, fmt.Errorf("--openings: %w", err)
		}
	}
	if (p.preset != "" || p.openings != "") && pipeline.IsChat(m) && !pipeline.IsShortChat(m) {
		return cfg, fmt.Errorf("--preset and --openings are for base models' stories; %s is a chat model (its stories follow the paper's prompt)", m.Name)
	}
	if p.openings != "" && pipeline.IsShortChat(m) {
		return cfg, fmt.Errorf("--openings: %s is a chat model; it is asked for its stories (no openings)", m.Name)
	}
	if p.shardable {
		var err error
		if cfg.Shard, err = shard.Resolve(p.shard, os.Getenv); err != nil {
			return cfg, err
		}
	}
	if cfg.Dir == "" {
		cfg.Dir = runDir(m)
	}
	var err error
	switch strings.ToLower(p.emotions) {
	case "", "default":
		cfg.Emotions = catalog.DefaultNames()
	case "core":
		cfg.Emotions = catalog.CoreNames()
	case "paper", "all":
		cfg.Emotions = catalog.Emotions()
	default:
		arg := p.emotions
		if _, statErr := os.Stat(arg); statErr != nil {
			// A comma list.
			var names []string
			for _, n := range strings.Split(arg, ",") {
				if n = strings.TrimSpace(n); n != "" {
					names = append(names, n)
				}
			}
			if !p.custom {
				if err := catalog.CheckEmotions(names); err != nil {
					return cfg, fmt.Errorf("--emotions: %w (or pass --custom-emotions)", err)
				}
			}
			cfg.Emotions = names
		} else if cfg.Emotions, err = catalog.LoadEmotions(arg, p.custom); err != nil {
			return cfg, fmt.Errorf("--emotions: %w", err)
		}
	}
	switch strings.ToLower(p.topics) {
	case "":
	case "child":
		cfg.Topics = catalog.ChildTopics()
	case "paper":
		cfg.Topics = catalog.Topics()
	default:
		if cfg.Topics, err = catalog.LoadTopics(p.topics); err != nil {
			return cfg, fmt.Errorf("--topics: %w", err)
		}
	}
	if p.generatorURL != "" {
		if p.generatorModel == "" {
			return cfg, fmt.Errorf("--generator needs --generator-model")
		}
		gen, err := stories.NewOpenAI(p.generatorURL, p.generatorModel)
		if err != nil {
			return cfg, fmt.Errorf("--generator: %w", err)
		}
		cfg.Generator = gen
	}
	cfg.Defaults(m)
	if p.offset != "" {
		off, err := strconv.Atoi(p.offset)
		if err != nil || off < 0 || off > maxContext {
			return cfg, fmt.Errorf("--offset %q: want a token index from 0 to %d", p.offset, maxContext)
		}
		cfg.Extract.Window.Offset = off
	}
	switch p.denoise {
	case "":
	case "off", "0":
		cfg.Extract.Denoise.Fraction = 0
	default:
		f, err := strconv.ParseFloat(p.denoise, 64)
		if err != nil || f <= 0 || f >= 1 {
			return cfg, fmt.Errorf("--denoise %q: want a share in (0, 1) or off", p.denoise)
		}
		cfg.Extract.Denoise.Fraction = f
	}
	if !g.quiet && !g.jsonOut {
		bars := map[string]*progressbar.ProgressBar{}
		cfg.Progress = func(stage string, done, total int) {
			b := bars[stage]
			if b == nil {
				b = newBar(int64(total), stage)
				bars[stage] = b
			}
			b.ChangeMax(total)
			b.Set(done)
			if done >= total {
				b.Finish()
				fmt.Fprintln(os.Stderr)
				delete(bars, stage)
				bars[stage+"/done"] = b
			}
		}
		cfg.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	}
	return cfg, nil
}

func newRunCmd() *cobra.Command {
	var p pipelineFlags
	c := &cobra.Command{
		Use:   "run",
		Short: "The whole pipeline: stories → extract → validate → experiments → report",
		Long: `Run finds the model's emotion vectors as the paper does and checks them:

  1. stories   for each (emotion, topic), stories written by the model itself
               (base models: story openings that set up the character's
               emotion; chat models: the paper's prompt through the chat
               template) or by --generator; plus neutral texts
  2. extract   residual stream at every layer, averaged per story, per
               emotion, centred, neutral principal components projected out
  3. validate  held-out classification, logit lens, similarity, PCA against
               the paper's valence, k-means against its clusters
  4. experiments  feel, dose and implicit (see limbic experiment --help)
  5. report    report.html (self-contained) and report.json

Every step resumes after Ctrl-C. With no flags it runs on the embedded model
with the 16 core emotions and finishes in a few minutes; --emotions paper
runs all 171.`,
		Example: `  limbic run
  limbic run --emotions paper
  limbic run --model ./Qwen2.5-1.5B-Instruct --generator https://api.example.com/v1 --generator-model big-model`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			m, err := loadModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			cfg, err := p.config(m)
			if err != nil {
				return err
			}
			if !g.quiet && !g.jsonOut {
				fmt.Fprintf(os.Stderr, "limbic run: %s, %d emotions × %d topics × %d stories, into %s\n", m.Name, len(cfg.Emotions), len(cfg.Topics), cfg.PerTopic, cfg.Dir)
			}
			if p.preset != "" && p.generatorURL == "" && !g.jsonOut && !g.quiet {
				// Say how long it will take before it starts.
				est, err := pipeline.Estimate(cmd.Context(), m, cfg)
				if err != nil {
					return fmt.Errorf("--preset %s: estimating the time: %w", p.preset, err)
				}
				fmt.Fprintf(os.Stderr, "limbic run: preset %s: %d stories of %d tokens; stories and extraction will take about %s at this machine's pace (measured now), experiments after that; stories already written are kept\n",
					p.preset, len(cfg.Emotions)*len(cfg.Topics)*cfg.PerTopic, cfg.MaxTokens, aboutMinutes(est))
			}
			res, err := pipeline.Run(cmd.Context(), m, cfg)
			if err != nil {
				return err
			}
			v := res.Validation
			if g.jsonOut {
				out := map[string]any{"core": v.Core, "best_layer": v.BestLayer, "report": res.ReportHTML, "report_json": res.ReportJSON,
					"vectors": res.Pack, "seconds": time.Since(start).Seconds()}
				if res.Feel != nil {
					out["feel"] = map[string]any{"raise_rate": res.Feel.RaiseRate, "lower_rate": res.Feel.LowerRate}
					out["dose_monotone"] = res.Dose.Monotone
					out["implicit"] = map[string]any{"top1": res.Implicit.Top1, "top3": res.Implicit.Top3}
				}
				return printJSON(out)
			}
			fmt.Printf("\n%s: emotion vectors of %s (%d emotions, %d held-out stories)\n", time.Since(start).Round(time.Second), m.Name, len(v.Emotions), v.HeldOut)
			if v.Core != nil {
				fmt.Printf("  core set at the best layer %d: top-1 %.1f%% (chance %.1f%%), top-5 %.1f%%, PC1 sign agrees with the paper's valence for %s\n",
					v.BestLayer, 100*v.Core.Top1, 100*v.Core.Chance, 100*v.Core.Top5, pctp(v.Core.PC1SignAgreement))
			}
			if v.All != nil && v.All != v.Core && len(v.Emotions) > 16 {
				fmt.Printf("  all %d emotions: top-1 %.1f%%, top-5 %.1f%%", len(v.Emotions), 100*v.All.Top1, 100*v.All.Top5)
				if cs := caseStudyTop1(v); cs != "" {
					fmt.Printf("; case-study emotions' top-1: %s", cs)
				}
				fmt.Println()
			}
			if res.Feel != nil {
				fmt.Printf("  feel: own word rises when steered +%g for %.0f%%, falls when steered −%g for %.0f%%\n",
					res.Feel.Strength, 100*res.Feel.RaiseRate, res.Feel.Strength, 100*res.Feel.LowerRate)
				fmt.Printf("  dose: %d of %d templates monotone (|ρ| ≥ 0.8)\n", res.Dose.Monotone, len(res.Dose.Templates))
				fmt.Printf("  implicit: implied emotion first for %.0f%%, top 3 for %.0f%%\n", 100*res.Implicit.Top1, 100*res.Implicit.Top3)
			}
			if r := res.Prefs; r != nil {
				fmt.Printf("  prefs: %d activities, position bias %+.3f", len(r.Activities), r.PositionBias)
				if r.Strength != 0 {
					up, n := 0, 0
					for _, e := range r.Emotions {
						if e.DeltaElo == nil {
							continue
						}
						n++
						want := slices.Contains([]string{"happy", "excited", "proud", "grateful", "calm", "loving"}, e.Emotion)
						if (want && e.DeltaEloCI[0] > 0) || (!want && e.DeltaEloCI[1] < 0) {
							up++
						}
					}
					fmt.Printf("; steering moves Elo the expected way (95%% CI excluding 0) for %d of %d emotions", up, n)
					if r.RDeltaCorr != nil {
						fmt.Printf(", r(ΔElo, readout r) %+.2f", *r.RDeltaCorr)
					}
				}
				fmt.Println()
			}
			for _, b := range res.Behaviour {
				apart := 0
				for _, t := range b.Trends {
					if t.Monotone && t.Separated {
						apart++
					}
				}
				fmt.Printf("  eval %s: %d of %d steering lines monotone with the end intervals apart\n", b.Name, apart, len(b.Trends))
			}
			fmt.Printf("  vectors: %s\n  report:  %s\n", res.Pack, res.ReportHTML)
			return nil
		},
	}
	p.add(c)
	c.Flags().BoolVar(&p.noExperiments, "no-experiments", false, "skip the feel, dose and implicit experiments (and prefs and eval)")
	c.Flags().BoolVar(&p.noFunction, "no-function", false, "skip the preference experiment and the behaviour analogues (limbic prefs, limbic eval)")
	addJSON(c)
	return c
}

func pctp(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100**v)
}

// caseStudyTop1 lists the held-out top-1 of the case-study emotions at the
// best layer.
func caseStudyTop1(v *validate.Result) string {
	for _, l := range v.Layers {
		if l.Layer != v.BestLayer || l.All == nil {
			continue
		}
		var parts []string
		for i, e := range l.All.Emotions {
			if slices.Contains(catalog.CaseStudyNames(), e) && i < len(l.All.PerEmotionTop1) && l.All.PerEmotionTop1[i] != nil {
				parts = append(parts, fmt.Sprintf("%s %.0f%%", e, 100**l.All.PerEmotionTop1[i]))
			}
		}
		return strings.Join(parts, ", ")
	}
	return ""
}
