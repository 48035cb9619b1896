package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/model"
)

func newBenchCmd() *cobra.Command {
	var (
		o       model.BenchOptions
		threads int
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure prefill and decode speed (like llama-bench)",
		Long: `Bench measures the engine on the --model as llama-bench does: pp64 and pp512
process 64 and 512 random tokens in one batch from an empty cache (logits for
the last token only), tg128 generates 128 tokens one at a time. Each test runs
once to warm up, then --repeats times; it reports tokens/s (min, median, max),
GFLOP/s and the weight bytes read per second at the median.`,
		Example: `  limbic bench
  limbic bench --model smol.gguf --dtype bf16 --threads 2 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.Prefill)+len(o.Decode) == 0 {
				return fmt.Errorf("nothing to measure: give --prefill or --decode lengths")
			}
			for _, t := range []struct {
				flag string
				ns   []int
			}{{"prefill", o.Prefill}, {"decode", o.Decode}} {
				for _, n := range t.ns {
					if err := inRange(t.flag, n, 1, maxContext); err != nil {
						return err
					}
					if g.ctx > 0 && n > g.ctx {
						return fmt.Errorf("--%s %d: longer than the context length --ctx %d", t.flag, n, g.ctx)
					}
				}
			}
			if err := atLeast("repeats", o.Repeats, 1); err != nil {
				return err
			}
			if err := atLeast("threads", threads, 0); err != nil {
				return err
			}
			if threads > 0 {
				runtime.GOMAXPROCS(threads)
			}
			// Like llama-bench, run the longest test even past the trained
			// context: rotary positions extrapolate.
			if g.ctx == 0 {
				g.ctx = slices.Max(append(append([]int{0}, o.Prefill...), o.Decode...))
				defer func() { g.ctx = 0 }()
			}
			m, err := loadModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			if !g.quiet && !g.jsonOut {
				o.Progress = func(test string, rep, reps int) {
					fmt.Fprintf(os.Stderr, "\r%s: %d/%d", test, rep, reps)
					if rep == reps {
						fmt.Fprintln(os.Stderr)
					}
				}
			}
			r, err := model.Bench(cmd.Context(), m.Transformer, o)
			if err != nil {
				return err
			}
			r.Model = m.Name
			if g.jsonOut {
				return printJSON(r)
			}
			quant := "int8"
			if r.QuantExact {
				quant = "exact"
			}
			fmt.Printf("model %s, dtype %s, %d threads, kernels %s (quantised: %s), weights %.1f MB (%s), %.1f MB read per token, rss %.1f MB\n",
				r.Model, r.DType, r.Threads, r.Kernels, quant, float64(r.WeightBytes)/1e6, typeBytes(r.WeightTypes), float64(r.BytesPerToken)/1e6, float64(r.RSSBytes)/1e6)
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "test\ttok/s min\tmedian\tmax\tGFLOP/s\tGB/s\t")
			for _, x := range r.Results {
				fmt.Fprintf(w, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t\n", x.Test, x.TokensPerSec.Min, x.TokensPerSec.Median, x.TokensPerSec.Max, x.GFLOPS, x.GBytesPerSec)
			}
			return w.Flush()
		},
	}
	f := c.Flags()
	f.IntSliceVar(&o.Prefill, "prefill", []int{64, 512}, "prompt lengths to test")
	f.IntSliceVar(&o.Decode, "decode", []int{128}, "generation lengths to test")
	f.IntVarP(&o.Repeats, "repeats", "r", 5, "timed repetitions per test")
	f.IntVarP(&threads, "threads", "t", 0, "worker threads (default: all cores)")
	f.Uint64Var(&o.Seed, "seed", 0, "seed of the random tokens")
	addJSON(c)
	return c
}

// typeBytes formats bytes by weight type: "q4_k 9.4 MB, q6_k 2.1 MB".
func typeBytes(m map[string]int64) string {
	var parts []string
	for t, b := range m {
		parts = append(parts, fmt.Sprintf("%s %.1f MB", t, float64(b)/1e6))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
