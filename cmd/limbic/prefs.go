package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/prefs"
	"github.com/limbic-dev/limbic/science/shard"
)

func newPrefsCmd() *cobra.Command {
	var (
		vf                  vectorFlags
		o                   prefs.Options
		activities, emotion string
		layers, steerLayers string
		names               []string
		noCausal            bool
		seed                int64
		out                 string
		shardFlag           string
		merge               bool
	)
	c := &cobra.Command{
		Use:   "prefs",
		Short: "The preference experiment: Elo of activities, readout correlation, causal steering",
		Long: `Prefs runs the paper's preference experiment. Every ordered pair of
activities is put to the model; each activity gets an Elo score from a
Bradley–Terry fit of the soft preferences (and a hard variant from wins), with
bootstrap 95% intervals; the A/B position bias is reported.

Chat models: "Would you prefer to (A) {a} or (B) {b}?" through the chat
template, the reply prefilled with "(", the preference the softmax over A and B
(the paper's 64 activities by default). Base models: "{name} could {a} or {b}.
{name} chose to" and the log-probability of each option as the continuation,
over a children's list of activities.

With a vector pack: each emotion's readout on the activity's own tokens, its
Pearson r with Elo (permutation p-value), and the causal test: the emotion
steered at --strength on the tokens of a seeded half of the activities, all
pairs run again, and ΔElo of that half with a bootstrap interval; then the
correlation of ΔElo with r over the emotions.`,
		Example: `  limbic prefs
  limbic prefs --emotions happy,sad,angry,proud --json
  limbic prefs -m ./SmolLM2-135M-Instruct --vectors pack.safetensors --no-causal
  limbic prefs --dir runs/big --shard 3/8    # then: limbic prefs --dir runs/big --merge`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Bootstrap < 1 || o.Permutations < 1 || o.Batch < 1 {
				return fmt.Errorf("--bootstrap, --permutations and --batch must be at least 1")
			}
			if activities != "" {
				var err error
				if o.Activities, err = readLines(activities); err != nil {
					return err
				}
			}
			o.Names = names
			if emotion != "" {
				o.Emotions = strings.Split(emotion, ",")
			}
			o.Causal = !noCausal
			if !(o.Strength > -10 && o.Strength < 10) || math.IsNaN(o.Strength) {
				return fmt.Errorf("--strength %v: want a finite number of magnitude below 10", o.Strength)
			}
			o.Seed = uint64(seed)
			m, err := loadTextModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			pack, _, err := vf.loadPack(m, false)
			if err != nil {
				return err
			}
			if layers != "" {
				if o.Layers, err = hook.ParseLayerList(layers, m.Layers); err != nil {
					return fmt.Errorf("--layers: %w", err)
				}
			}
			if steerLayers != "" {
				if o.SteerLayers, err = hook.ParseLayerList(steerLayers, m.Layers); err != nil {
					return fmt.Errorf("--steer-layers: %w", err)
				}
			}
			if o.Kind, err = vf.vecKind(); err != nil {
				return err
			}
			if pack == nil && !g.quiet {
				fmt.Fprintln(os.Stderr, "no vector pack for this model: Elo only (run `limbic run` or give --vectors for the readout and causal test)")
			}
			prog := progressFunc()
			if prog != nil {
				o.Progress = func(stage string, done, total int) { prog(stage, int64(done), int64(total)) }
			}
			if vf.dir != "" {
				// The run's preference experiment: limbic run's settings
				// for what the flags leave out, its results where the
				// run's report reads them.
				run := pipeline.PrefsOptions(pack, pipeline.DefaultSeed)
				fl := cmd.Flags()
				if !fl.Changed("emotions") {
					o.Emotions = run.Emotions
				}
				if !fl.Changed("no-causal") {
					o.Causal = run.Causal
				}
				if !fl.Changed("bootstrap") {
					o.Bootstrap = run.Bootstrap
				}
				if !fl.Changed("permutations") {
					o.Permutations = run.Permutations
				}
				if !fl.Changed("seed") {
					o.Seed = run.Seed
				}
				if out == "" {
					out = filepath.Join(vf.dir, pipeline.ExpDir, pipeline.PrefsFile)
				}
			}
			if out == "" {
				out = filepath.Join(runDir(m), "prefs.json")
			}
			sh, err := shard.Resolve(shardFlag, os.Getenv)
			if err != nil {
				return err
			}
			shardDir := filepath.Join(filepath.Dir(out), "shards")
			var res *prefs.Result
			switch {
			case sh.Count > 1 && merge:
				return fmt.Errorf("--merge runs after the shards, not as one (--shard %s)", sh)
			case sh.Count > 1:
				p, err := prefs.RunShard(cmd.Context(), m, pack, o, sh)
				if err != nil {
					return err
				}
				if err := prefs.WritePartial(shardDir, p); err != nil {
					return err
				}
				fmt.Printf("shard %s: comparisons %d to %d of %d written to %s; run the same command with --merge when all shards are done\n",
					sh, p.Lo, p.Hi, p.Setup.Comparisons, filepath.Join(shardDir, prefs.PartialFile(sh)))
				return nil
			case merge:
				parts, err := prefs.ReadPartials(shardDir)
				if err != nil {
					return err
				}
				if res, err = prefs.Merge(cmd.Context(), m, pack, o, parts); err != nil {
					return err
				}
			default:
				if res, err = prefs.Run(cmd.Context(), m, pack, o); err != nil {
					return err
				}
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(out, 0o644, func(w io.Writer) error { return writeIndented(w, res) }); err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(res)
			}
			printPrefs(res)
			fmt.Printf("\nresults: %s\n", out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&activities, "activities", "", "file of activities, one per line (default: the paper's 64 for chat models, a children's list for base models)")
	f.StringSliceVar(&names, "names", nil, "base models: character names (default Lily,Tom)")
	f.StringVar(&emotion, "emotions", "", "emotions to read and steer, comma-separated (default: the pack's)")
	f.BoolVar(&noCausal, "no-causal", false, "skip the causal steering test")
	f.Float64Var(&o.Strength, "strength", 0, "causal test: steering strength, a fraction of the mean residual norm (default 0.5 for chat models, as in the paper; 0.15 for base models)")
	f.StringVar(&layers, "layers", "", "layers read, a layer list such as 2:4 (default: the middle third)")
	f.StringVar(&steerLayers, "steer-layers", "", "layers steered in the causal test (default: the middle third for chat models, the pack's best layer for base models)")
	f.Int64Var(&seed, "seed", 0, "seed of the split into steered and control halves and of the bootstrap")
	f.IntVar(&o.Bootstrap, "bootstrap", 1000, "bootstrap replicates")
	f.IntVar(&o.Permutations, "permutations", 10000, "permutations for the p-values")
	f.IntVar(&o.Batch, "batch", 64, "comparisons per batched forward call")
	f.StringVarP(&out, "out", "o", "", "write the results here as JSON (default: experiments/prefs.json in --dir, else prefs.json in the model's run directory)")
	f.StringVar(&shardFlag, "shard", "", "run shard I of N (0 ≤ I < N) of the comparisons into shards/ beside --out (default: from $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX with $LIMBIC_SHARD_COUNT, else all)")
	f.BoolVar(&merge, "merge", false, "pool the shards' outcomes (shards/ beside --out; same flags as the shards) and compute Elo, intervals and the causal test once")
	vf.add(c, false)
	vf.addDir(c, "experiments/prefs.json into it, with limbic run's settings for the flags not given (its eight emotions, --bootstrap 500, --permutations 2000, --seed 1)")
	addJSON(c)
	return c
}

// printPrefs writes the result as tables.
func printPrefs(r *prefs.Result) {
	fmt.Printf("preferences (%s protocol, %d comparisons), position bias %+.3f (mean P(first option) − 0.5)\n\n", r.Protocol, r.Comparisons, r.PositionBias)
	fmt.Println("   Elo  95% interval   hard  activity")
	for _, a := range r.SortedElo() {
		ci := r.EloCI[a]
		fmt.Printf("%6.0f  [%4.0f, %4.0f]  %5.0f  %s\n", r.Elo[a], ci[0], ci[1], r.HardElo[a], a)
	}
	if len(r.Emotions) == 0 {
		return
	}
	fmt.Printf("\nreadout on the activity tokens (%s, layers %v) against Elo", r.Metric, r.Layers)
	if r.Strength != 0 {
		fmt.Printf("; steered at %g on layers %v, on %d activities' tokens", r.Strength, r.SteerLayers, len(r.Steered))
	}
	fmt.Println()
	fmt.Println("emotion         r       p     ΔElo  95% interval")
	for _, e := range r.Emotions {
		line := fmt.Sprintf("%-12s %+5.2f  %6.4f", e.Emotion, e.R, e.P)
		if e.DeltaElo != nil {
			line += fmt.Sprintf("  %+7.1f  [%+.1f, %+.1f]", *e.DeltaElo, e.DeltaEloCI[0], e.DeltaEloCI[1])
		}
		fmt.Println(line)
	}
	if r.RDeltaCorr != nil {
		fmt.Printf("\ncorrelation of ΔElo with r over %d emotions: %+.2f (the paper: 0.85 over 35)\n", len(r.Emotions), *r.RDeltaCorr)
	}
}

// readLines reads non-empty, non-comment lines ("-" is standard input).
func readLines(path string) ([]string, error) {
	f := os.Stdin
	if path != "-" {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		defer f.Close()
	}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" && !strings.HasPrefix(s, "#") {
			out = append(out, s)
		}
	}
	return out, sc.Err()
}

// writeIndented writes v as indented JSON.
func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
