package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/science/pipeline"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// maxContext bounds the context length and token counts a command accepts:
// far beyond any model's, small enough that a typo fails before a huge
// allocation.
const maxContext = 1 << 20

// globals are the flags every command shares.
type globals struct {
	model   string
	dtype   string
	ctx     int
	mmap    bool
	quiet   bool
	jsonOut bool
}

var g globals

func newRoot() *cobra.Command {
	pipeline.Version = version // recorded in reports
	root := &cobra.Command{
		Use:   "limbic",
		Short: "Find, read, steer and monitor the emotion vectors of language models",
		Long: `limbic runs open-weight language models in its own engine, whose residual
stream can be read and written at every layer (hook points named as in
TransformerLens: blocks.L.hook_resid_post, ...). With no --model it uses the
embedded default model, stories15M, fetched on first use.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return inRange("ctx", g.ctx, 0, maxContext)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.model, "model", "m", model.Default, "model: stories15m, a Hugging Face directory or pulled ORG/NAME, a .gguf file, ollama:NAME[:TAG] from ollama's store, or a llama2.c .bin (see limbic list)")
	pf.StringVar(&g.dtype, "dtype", "", "convert weights on load: f32, bf16, f16, q8_0, q4_0, q4_k or q6_k (default: as stored)")
	pf.IntVar(&g.ctx, "ctx", 0, "context length (default: the model's; larger extrapolates rotary positions)")
	pf.BoolVar(&g.mmap, "mmap", false, "run the weights from the memory-mapped file instead of copying them into memory (starts faster, shares the page cache; decodes slower)")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "no progress output on stderr")
	root.AddCommand(
		newRunCmd(),
		newStoriesCmd(),
		newExtractCmd(),
		newValidateCmd(),
		newReportCmd(),
		newFetchCmd(),
		newTokenizeCmd(),
		newGenerateCmd(),
		newCaptureCmd(),
		newConvertCmd(),
		newBenchCmd(),
		newReadCmd(),
		newExportCmd(),
		newImportCmd(),
		newServeCmd(),
		newSynthCmd(),
		newExperimentCmd(),
		newPullCmd(),
		newListCmd(),
		newVectorCmd(),
		newChatCmd(),
		newEvalCmd(),
		newPrefsCmd(),
		newCompareCmd(),
		newPatchCmd(),
		newClusterCmd(),
		newTuneCmd(),
		newMergeCmd(),
		newCurateCmd(),
		newWatchCmd(),
	)
	return root
}

// addJSON adds the shared --json flag to a command.
func addJSON(c *cobra.Command) {
	c.Flags().BoolVar(&g.jsonOut, "json", false, "print machine-readable JSON on stdout")
}

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	root.SetArgs(args)
	if c, err := root.ExecuteContextC(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			if resumable[c.Name()] {
				fmt.Fprintf(os.Stderr, "limbic: interrupted; what is done is kept: resume with\n  %s\n", shellCommand(append([]string{os.Args[0]}, args...)))
			} else {
				fmt.Fprintln(os.Stderr, "limbic: interrupted")
			}
			return 130
		}
		fmt.Fprintln(os.Stderr, "limbic:", err)
		return 1
	}
	return 0
}

// resumable are the commands that continue where they stopped when run
// again with the same arguments.
var resumable = map[string]bool{"run": true, "stories": true, "extract": true, "pull": true, "curate": true}

// shellCommand quotes args for a POSIX shell, so that the line can be pasted.
func shellCommand(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		safe := a != ""
		for _, r := range a {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+%", r)) {
				safe = false
				break
			}
		}
		if safe {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// loadModel loads the --model with the shared flags, showing fetch progress.
func loadModel(ctx context.Context) (*model.Model, error) { return loadModelRef(ctx, g.model) }

// loadModelRef loads ref with the shared loading flags (--dtype, --ctx,
// --mmap), showing fetch progress.
func loadModelRef(ctx context.Context, ref string) (*model.Model, error) {
	o := model.LoadOptions{Progress: progressFunc(), MaxSeq: g.ctx, Mmap: g.mmap}
	if g.dtype != "" {
		dt, err := tensor.ParseDType(g.dtype)
		if err != nil {
			return nil, fmt.Errorf("--dtype: %w", err)
		}
		o.DType = dt
	}
	return model.Load(ctx, ref, o)
}

// loadTextModel is loadModel for commands that need text: it fails, clearly,
// for a checkpoint without a tokenizer.
func loadTextModel(ctx context.Context) (*model.Model, error) { return loadTextModelRef(ctx, g.model) }

// loadTextModelRef is loadModelRef for commands that need text.
func loadTextModelRef(ctx context.Context, ref string) (*model.Model, error) {
	m, err := loadModelRef(ctx, ref)
	if err != nil {
		return nil, err
	}
	if _, err := m.Tokenizer(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// progressFunc returns a progress callback that draws one bar per stage on
// stderr, or nil with --quiet.
func progressFunc() func(stage string, done, total int64) {
	if g.quiet {
		return nil
	}
	var bar *progressbar.ProgressBar
	var cur string
	return func(stage string, done, total int64) {
		if stage != cur || bar == nil {
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(os.Stderr)
			}
			cur = stage
			bar = newBar(total, stage)
		}
		bar.Set64(done)
		if total > 0 && done >= total {
			bar.Finish()
			fmt.Fprintln(os.Stderr)
			bar = nil
			cur = ""
		}
	}
}

// newBar returns a progress bar on stderr with a rate and ETA.
func newBar(total int64, desc string) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionSetWidth(30),
	}
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		opts = append(opts, progressbar.OptionThrottle(2*time.Second))
	}
	if g.quiet {
		opts = append(opts, progressbar.OptionSetWriter(io.Discard))
	}
	return progressbar.NewOptions64(total, opts...)
}

// printJSON writes v as indented JSON on stdout.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
