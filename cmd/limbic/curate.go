package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/curate"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/shard"
)

func newCurateCmd() *cobra.Command {
	var (
		vf        vectorFlags
		out       string
		selected  string
		expr      string
		balance   string
		metric    string
		layer     string
		reportOut string
		batch     int
		maxTokens int
		isScored  bool
		force     bool
		shardFlag string
		merge     bool
	)
	c := &cobra.Command{
		Use:   "curate CORPUS.jsonl",
		Short: "Score a training corpus by the emotions the model reads in it; select and balance it",
		Long: `Curate reads a JSONL corpus, one document a line: {"text": ...} or
{"messages": [{"role", "content"}, ...]} (other fields are kept). Each
document runs through the model and is written to --out with a "limbic"
field beside it: per emotion the mean over its tokens (after BOS; for a
conversation, over the assistant turns only, rendered with the model's chat
template) of the cosine with the emotion vector at --layer and, when the
pack has a neutral baseline, of the z-score against it; with the pack's id,
the layer and the document's line.

Scoring streams (memory holds one --batch of documents, which share each
forward pass) and resumes: the output is written to OUT.partial and renamed
when complete; run the same command again after an interruption and it
continues after the last complete line. An existing --out is reused
(--force rescores).

--select keeps the documents for which an expression over emotions holds:
comparisons (< <= > >= == !=) of sums and products of numbers and emotion
names, joined by and, or, not and parentheses; an emotion's value is the
document's mean z-score (--metric z, the default when the pack has a
baseline) or cosine (--metric cos). Names that are not plain words go in
double quotes ("self-conscious" > 1). --balance dominant:N keeps at most N
documents per dominant emotion (the one scoring highest), first come first
kept. The kept lines go to --selected, and the corpus' emotional profile
before and after is printed as a table (--json: as JSON) and, with
--report, drawn in an HTML page.

On a cluster, --shard I/N scores the I-th contiguous block of the corpus'
lines into OUT.shard-I-of-N.jsonl (N tasks, each resumable); then the same
command with --merge concatenates the shards in order into --out (the
one-process output byte for byte) and goes on to select and report.`,
		Example: `  limbic curate corpus.jsonl -o scored.jsonl
  limbic curate corpus.jsonl --select 'calm > 1 and desperate < 0' --selected calm.jsonl --report curate.html
  limbic curate scored.jsonl --scored --balance dominant:100 --selected balanced.jsonl --json
  limbic curate corpus.jsonl -o scored.jsonl --shard 3/8     # task 3 of 8 (or from $SLURM_ARRAY_TASK_ID)
  limbic curate corpus.jsonl -o scored.jsonl --merge --select 'calm > 1'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := args[0]
			if _, err := os.Stat(in); err != nil {
				return err
			}
			var sel curate.Selector
			if expr != "" {
				e, err := curate.ParseExpr(expr)
				if err != nil {
					return fmt.Errorf("--select: %w", err)
				}
				sel.Expr = e
			}
			if balance != "" {
				n, err := curate.ParseBalance(balance)
				if err != nil {
					return fmt.Errorf("--balance: %w", err)
				}
				sel.PerDominant = n
			}
			switch metric {
			case "", curate.MetricZ, curate.MetricCos:
				sel.Metric = metric
			default:
				return fmt.Errorf("--metric %q: want z or cos", metric)
			}
			if err := atLeast("batch", batch, 1); err != nil {
				return err
			}
			if selected != "" && sel.Expr == nil && sel.PerDominant == 0 {
				return fmt.Errorf("--selected needs --select or --balance")
			}
			if (sel.Expr != nil || sel.PerDominant > 0) && selected == "" {
				selected = strings.TrimSuffix(in, ".jsonl") + ".selected.jsonl"
			}
			summary := map[string]any{"input": in}
			scored := in
			sh, err := shard.Resolve(shardFlag, os.Getenv)
			if err != nil {
				return fmt.Errorf("--shard: %w", err)
			}
			if sh.Count > 1 && (merge || isScored) {
				return fmt.Errorf("--shard scores one part of the corpus; it does not go with --merge or --scored")
			}
			if merge && isScored {
				return fmt.Errorf("--merge combines the shards of a scoring run; it does not go with --scored")
			}
			if out == "" {
				out = strings.TrimSuffix(in, ".jsonl") + ".scored.jsonl"
			}
			if merge {
				n, err := curateShardCount(out)
				if err != nil {
					return err
				}
				if n > 0 { // n == 0: one shard wrote --out itself
					if err := curate.MergeShards(out, n); err != nil {
						return err
					}
				}
				summary["merged_shards"], summary["scored"] = n, out
				isScored, in = true, out
				scored = out
			}
			if !isScored {
				if out == in {
					return fmt.Errorf("--out %s is the input", out)
				}
				if sh.Count > 1 {
					out = curate.ShardPath(out, sh)
					summary["shard"] = sh.String()
				}
				li, err := readout.ParseLayer(layer)
				if err != nil {
					return fmt.Errorf("--layer: %w", err)
				}
				m, pack, packPath, kind, err := vf.loadModelPack(cmd.Context(), li, layer)
				if err != nil {
					return err
				}
				defer m.Close()
				s, err := curate.NewScorer(m, pack, curate.ScoreOptions{Layer: li, BestLayer: li == readout.Best, Kind: kind, Batch: batch, MaxTokens: maxTokens, Shard: sh})
				if err != nil {
					return fmt.Errorf("--layer %s: %w", layer, err)
				}
				bar := newBar(-1, "scoring")
				start := time.Now()
				st, reused, err := s.ScoreFile(cmd.Context(), in, out, force, func(lines int, read, total int64) {
					bar.ChangeMax64(total)
					bar.Set64(read)
				})
				bar.Finish()
				if !g.quiet {
					fmt.Fprintln(os.Stderr)
				}
				if err != nil {
					return err
				}
				secs := time.Since(start).Seconds()
				summary["scored"], summary["pack"], summary["pack_path"], summary["layer"] = out, s.Pack(), packPath, s.Layer()
				summary["reused"], summary["stats"], summary["seconds"] = reused, st, secs
				if st.Docs > 0 && secs > 0 {
					summary["docs_per_s"] = float64(st.Docs) / secs
				}
				if !g.quiet {
					if reused {
						fmt.Fprintf(os.Stderr, "%s exists: reusing its scores (--force rescores)\n", out)
					} else {
						fmt.Fprintf(os.Stderr, "scored %d documents (%d tokens, %d resumed lines) at layer %d in %.1fs: wrote %s\n", st.Docs, st.Tokens, st.Resumed, s.Layer(), secs, out)
					}
				}
				scored = out
				if sh.Count > 1 { // a shard only scores; --merge selects and reports
					if g.jsonOut {
						return printJSON(summary)
					}
					return nil
				}
			}
			res, err := curate.SelectFile(scored, selected, sel)
			if err != nil {
				return err
			}
			summary["selection"] = res
			if selected != "" {
				summary["selected"] = selected
			}
			if reportOut != "" {
				var buf bytes.Buffer
				if err := curate.WriteHTML(&buf, res, "limbic curate: "+in); err != nil {
					return err
				}
				if err := atomicfile.WriteFile(reportOut, 0o644, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err }); err != nil {
					return err
				}
				summary["report"] = reportOut
			}
			if g.jsonOut {
				return printJSON(summary)
			}
			if selected != "" && !g.quiet {
				fmt.Fprintf(os.Stderr, "kept %d of %d documents: wrote %s\n", res.After.Docs, res.Before.Docs, selected)
			}
			if reportOut != "" && !g.quiet {
				fmt.Fprintf(os.Stderr, "wrote %s\n", reportOut)
			}
			return curate.WriteTable(os.Stdout, res)
		},
	}
	f := c.Flags()
	vf.add(c, false)
	addJSON(c)
	f.StringVarP(&out, "out", "o", "", "scored corpus (default: CORPUS.scored.jsonl)")
	f.StringVar(&selected, "selected", "", "write the kept documents here (default with --select or --balance: CORPUS.selected.jsonl)")
	f.StringVar(&expr, "select", "", "keep documents for which this expression over emotions holds, e.g. 'calm > 1 and desperate < 0'")
	f.StringVar(&balance, "balance", "", "keep at most N documents per dominant emotion: dominant:N")
	f.StringVar(&metric, "metric", "", "scores the selection reads: z (default when the pack has a baseline) or cos")
	f.StringVar(&layer, "layer", "best", "layer to read: best (the pack's) or a number, negative from the end")
	f.StringVar(&reportOut, "report", "", "write an HTML page with the profile before and after selection")
	f.IntVar(&batch, "batch", 16, "documents per forward pass")
	f.IntVar(&maxTokens, "max-tokens", 0, "read at most this many tokens of a document (default: the context length)")
	f.BoolVar(&isScored, "scored", false, "the corpus is already scored (curate's output): select and report without the model")
	f.BoolVar(&force, "force", false, "rescore even when --out exists")
	f.StringVar(&shardFlag, "shard", "", "score shard I of N (0 ≤ I < N) of the corpus' lines into OUT.shard-I-of-N.jsonl (default: from $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX with $LIMBIC_SHARD_COUNT, else all)")
	f.BoolVar(&merge, "merge", false, "concatenate the shards of --out (OUT.shard-I-of-N.jsonl) into --out, then select and report")
	return c
}

// curateShardCount finds N from the shard files of out (OUT.shard-I-of-N.jsonl);
// 0 when there are none and out exists (a single shard writes out itself).
func curateShardCount(out string) (int, error) {
	base := strings.TrimSuffix(out, ".jsonl")
	paths, err := filepath.Glob(base + ".shard-*-of-*.jsonl")
	if err != nil {
		return 0, err
	}
	count := 0
	for _, p := range paths {
		var i, n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(p, base), ".shard-%d-of-%d.jsonl", &i, &n); err != nil || n < 1 {
			continue
		}
		if count != 0 && n != count {
			return 0, fmt.Errorf("--merge: shards of %s from runs of %d and %d shards: remove the stale ones", out, count, n)
		}
		count = n
	}
	if count == 0 {
		if _, err := os.Stat(out); err == nil {
			return 0, nil // --shard 0/1 scored the whole corpus into --out
		}
		return 0, fmt.Errorf("--merge: no shards of %s (%s.shard-I-of-N.jsonl)", out, base)
	}
	return count, nil
}
