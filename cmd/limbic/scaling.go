package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/probe"
	"github.com/limbic-dev/limbic/science/report"
	"github.com/limbic-dev/limbic/science/scaling"
)

func newScalingCmd() *cobra.Command {
	var (
		dir                           string
		emotions                      string
		sizes, lengths, offsets       string
		fractions, openings           string
		c                             scaling.Config
		noProbe, asJSON               bool
		perTopic, longPer, variantPer int
	)
	cmd := &cobra.Command{
		Use:   "scaling",
		Short: "How the vectors' quality depends on the stories: a data-scaling study on a base model",
		Long: `Scaling makes pools of stories with the model once and measures, on two
held-out sets (the model's own stories, one per emotion and topic, and the
hand-written stories it did not write), held-out top-1/top-5, PC1's
correlation with the paper's valence order and its share of variance, and
the estimated time of limbic run, as functions of:

  n          training stories per emotion (32, 64, ... up to --per-topic−1
             per topic)
  length     continuation length (the first 40, 80, 120, 160 tokens of
             stories generated to 160)
  openings   the opening templates: because (the default), first-person,
             dialogue, period, and all of them mixed
  offset     the token where averaging starts
  denoise    the share of neutral variance projected out
  layer      every layer and the mean over the middle layers

and the best combination, each with a regularised logistic-regression probe
beside the paper's difference of means (on the n axis and the best setting).

Pools resume: a second run reuses every story made. Writes DIR/scaling.json
and DIR/report.html (default DIR: the model's run directory's scaling/, or
scaling-171/ with --emotions paper). The same seed gives the same numbers.`,
		Example: `  limbic experiment scaling
  limbic experiment scaling --emotions paper --per-topic 5 --lengths none --openings none`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var err error
			switch strings.ToLower(emotions) {
			case "", "core":
				c.Emotions = catalog.CoreNames()
			case "run", "default":
				c.Emotions = catalog.DefaultNames()
			case "paper", "all":
				c.Emotions = catalog.Emotions()
			default:
				c.Emotions = splitList(emotions)
				if err := catalog.CheckEmotions(c.Emotions); err != nil {
					return fmt.Errorf("--emotions: %w", err)
				}
			}
			if c.Sizes, err = intList("--sizes", sizes); err != nil {
				return err
			}
			if c.Offsets, err = intList("--offsets", offsets); err != nil {
				return err
			}
			if lengths == "none" {
				c.Lengths = []int{}
			} else if c.Lengths, err = intList("--lengths", lengths); err != nil {
				return err
			}
			if openings == "none" {
				c.Openings = []string{}
			} else if openings != "" {
				c.Openings = splitList(openings)
			}
			for _, f := range splitList(fractions) {
				v, err := strconv.ParseFloat(f, 64)
				if err != nil {
					return fmt.Errorf("--fractions: %q is not a number", f)
				}
				c.Fractions = append(c.Fractions, v)
			}
			c.PerTopic, c.LongPerTopic, c.VariantPerTopic = perTopic, longPer, variantPer
			m, err := loadTextModelRef(ctx, g.model)
			if err != nil {
				return err
			}
			defer m.Close()
			if dir == "" {
				name := "scaling"
				if len(c.Emotions) > 100 {
					name = "scaling-171"
				}
				dir = filepath.Join(runDir(m), name)
			}
			c.Dir = dir
			if !noProbe {
				c.Probe = func(x [][]float64, labels []int, k int) (func([]float64) []float64, error) {
					p, err := probe.Fit(x, labels, k, probe.Options{})
					if err != nil {
						return nil, err
					}
					return p.Scores, nil
				}
			}
			if prog := progressFunc(); prog != nil {
				c.Progress = func(stage string, done, total int) { prog(stage, int64(done), int64(total)) }
			}
			if !g.quiet {
				c.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "limbic: "+format+"\n", args...) }
				fmt.Fprintf(os.Stderr, "limbic experiment scaling: %s, %d emotions, into %s\n", m.Name, len(c.Emotions), dir)
			}
			res, err := scaling.Run(ctx, m, c)
			if err != nil {
				return err
			}
			out, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				return err
			}
			if err := atomicfile.WriteBytes(filepath.Join(dir, "scaling.json"), 0o644, append(out, '\n')); err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := report.WriteSections(&buf, "Data scaling study: "+m.Name, version, res.Sections()); err != nil {
				return err
			}
			if err := atomicfile.WriteBytes(filepath.Join(dir, "report.html"), 0o644, buf.Bytes()); err != nil {
				return err
			}
			if asJSON {
				return printJSON(res)
			}
			printScaling(res, dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "study directory (default: the model's run directory's scaling/)")
	f.StringVar(&emotions, "emotions", "core", "emotions: core (the 16), run (the 16 and the case-study ones, as limbic run), paper (all 171), or a comma list")
	f.IntVar(&perTopic, "per-topic", 17, "main pool: stories per emotion and topic (one held out)")
	f.StringVar(&sizes, "sizes", "", "training stories per emotion to evaluate, a comma list of multiples of the topic count (default: doubling from one per topic)")
	f.StringVar(&lengths, "lengths", "", "continuation lengths for the length axis, or none (default 40,80,120,160)")
	f.IntVar(&longPer, "long-per-topic", 0, "long pool: stories per emotion and topic (default 3)")
	f.StringVar(&openings, "openings", "", "opening sets besides the default, or none (default first-person,dialogue,period,mixed)")
	f.IntVar(&variantPer, "variant-per-topic", 0, "opening pools: stories per emotion and topic (default 3)")
	f.StringVar(&offsets, "offsets", "", "token offsets, starting with 0 (default 0,5,10,20)")
	f.StringVar(&fractions, "fractions", "", "shares of neutral variance removed (default 0,0.3,0.5,0.7,0.8,0.9)")
	f.Uint64Var(&c.Seed, "seed", 1, "seed of the story plans and sampling")
	f.IntVar(&c.MaxTokens, "max-tokens", 40, "main pool: tokens per story")
	f.BoolVar(&noProbe, "no-probe", false, "skip the logistic-regression probe")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func intList(flag, s string) ([]int, error) {
	var out []int
	for _, x := range splitList(s) {
		v, err := strconv.Atoi(x)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a whole number", flag, x)
		}
		out = append(out, v)
	}
	return out, nil
}

// printScaling prints the study's table.
func printScaling(r *scaling.Result, dir string) {
	fmt.Printf("%-9s %-34s %6s %5s %8s %8s %8s %8s %6s %9s\n", "axis", "setting", "n/emo", "layer", "own top1", "hand top1", "probe own", "probe hand", "PC1 ρ", "est. time")
	for _, row := range r.Rows {
		po, ph := "–", "–"
		if row.Probe != nil {
			po, ph = fmt.Sprintf("%.1f%%", 100*row.Probe.Top1), fmt.Sprintf("%.1f%%", 100*row.Probe.HandTop1)
		}
		rho := "–"
		if row.PC1Rho != nil {
			rho = fmt.Sprintf("%.2f", *row.PC1Rho)
		}
		fmt.Printf("%-9s %-34s %6d %5d %7.1f%% %8.1f%% %9s %10s %6s %8.0fs\n", row.Axis, row.Label, row.PerEmo, row.BestLayer,
			100*row.Top1, 100*row.HandTop1, po, ph, rho, row.Seconds)
	}
	fmt.Printf("\nreport: %s\n", filepath.Join(dir, "report.html"))
}
