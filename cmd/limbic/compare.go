package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/compare"
	"github.com/limbic-dev/limbic/science/vecpack"
)

func newCompareCmd() *cobra.Command {
	var (
		vectors, kind, layer, prompts, out string
		anyModel                           bool
		top                                int
	)
	c := &cobra.Command{
		Use:   "compare MODEL_A MODEL_B",
		Short: "Base vs post-trained: one vector pack read on two models over one prompt set",
		Long: `Compare reads one vector pack on two models of the same shape (a base model
and its post-trained fine-tune) over one prompt set, at the position before
the reply: the end of the chat template's generation prompt for a model with
a chat template, the colon of "Human: …\n\nAssistant:" for a base model (each
model with its own protocol; the output says when they differ).

Per emotion: the mean cosine between its vector and the activation on each
model (a, b) and the difference b − a; the correlation of the two profiles;
and the correlation of the change vector on neutral prompts with the one on
challenging prompts (isolation, excessive praise, deprecation, accusation,
high stakes) — the paper found 0.90. The two models must share a tokenizer,
a width and a depth.

The pack defaults to the one 'limbic run' made for MODEL_B (the paper reads
the post-trained model's vectors on both), else MODEL_A's. It must have been
made from one of the two weights files unless --any-model.

Writes compare.json and compare.svg (a bar plot beside the paper's numbers)
to --out (default: the run directory of MODEL_B, compare-<MODEL_A>).`,
		Example: `  limbic compare ./SmolLM2-135M ./SmolLM2-135M-Instruct --vectors pack.safetensors
  limbic compare stories15m ./modified.gguf --any-model --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := vecpack.ParseKind(kind)
			if err != nil {
				return fmt.Errorf("--kind: %w", err)
			}
			o := compare.Options{Kind: k, Layer: -1}
			if prompts != "" {
				if o.Prompts, err = compare.ReadPrompts(prompts); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			a, err := loadTextModelRef(ctx, args[0])
			if err != nil {
				return err
			}
			defer a.Close()
			b, err := loadTextModelRef(ctx, args[1])
			if err != nil {
				return err
			}
			defer b.Close()
			if err := compare.Compatible(a, b); err != nil {
				return err
			}
			pack, packPath, err := comparePack(a, b, vectors, anyModel)
			if err != nil {
				return err
			}
			if l := strings.TrimSpace(layer); l != "" && l != "best" {
				ls, err := hook.ParseLayerList(l, a.Layers)
				if err != nil {
					return fmt.Errorf("--layer: %w", err)
				}
				if len(ls) != 1 {
					return fmt.Errorf("--layer %q: want one layer or best", layer)
				}
				o.Layer = ls[0]
			}
			if prog := progressFunc(); prog != nil {
				o.Progress = func(done, total int) { prog("prompts", int64(done), int64(total)) }
			}
			res, err := compare.Run(ctx, a, b, pack, o)
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join(runDir(b), "compare-"+filepath.Base(runDir(a)))
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			jsonPath, svgPath := filepath.Join(out, "compare.json"), filepath.Join(out, "compare.svg")
			if err := atomicfile.WriteFile(jsonPath, 0o644, func(w io.Writer) error { return writeIndented(w, res) }); err != nil {
				return err
			}
			svg, err := compare.Plot(res, 10)
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(svgPath, 0o644, func(w io.Writer) error { _, err := io.WriteString(w, svg); return err }); err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(res)
			}
			printCompare(res, packPath, top)
			fmt.Printf("\nresults: %s\nplot:    %s\n", jsonPath, svgPath)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&vectors, "vectors", "", "vector pack (default: the one 'limbic run' made for MODEL_B, else MODEL_A)")
	f.StringVar(&kind, "kind", "denoised", "vectors to use: denoised or raw")
	f.BoolVar(&anyModel, "any-model", false, "use a vector pack made from other weights files of the same shape")
	f.StringVar(&layer, "layer", "best", "layer read: a layer (negative from the end) or best (the pack's best layer, else the one nearest two-thirds of the depth)")
	f.StringVar(&prompts, "prompts", "", "prompt file: GROUP<TAB>[CATEGORY<TAB>]PROMPT lines, GROUP neutral or challenging (default: the shipped set)")
	f.IntVar(&top, "top", 15, "emotions shown at each end of the table (all are in compare.json)")
	f.StringVarP(&out, "out", "o", "", "directory for compare.json and compare.svg")
	addJSON(c)
	return c
}

// comparePack reads the pack and checks that it was made from one of the
// two models (by weights hash; only the shape with anyModel).
func comparePack(a, b *model.Model, path string, anyModel bool) (*vecpack.Pack, string, error) {
	if path == "" {
		for _, m := range []*model.Model{b, a} {
			if p := defaultPack(m); compareFileExists(p) {
				path = p
				break
			}
		}
		if path == "" {
			return nil, "", fmt.Errorf("no vector pack for %s or %s: run `limbic run` first, or give --vectors", b.Name, a.Name)
		}
	}
	p, err := vecpack.Read(path)
	if err != nil {
		return nil, "", err
	}
	var errs []error
	for _, m := range []*model.Model{a, b} {
		info := vecpack.ModelInfo{ID: m.Name, DModel: m.Dim, NLayers: m.Layers}
		if !anyModel {
			if info.Hash, err = m.WeightsHash(); err != nil {
				return nil, "", err
			}
		}
		err := p.CheckModel(info)
		if err == nil {
			return p, path, nil
		}
		errs = append(errs, err)
	}
	err = fmt.Errorf("%s: %w", path, errors.Join(errs...))
	if !anyModel {
		err = fmt.Errorf("%w\n(if the pack comes from other weights files of the same shape, pass --any-model)", err)
	}
	return nil, "", err
}

func compareFileExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// printCompare writes the comparison as a table.
func printCompare(r *compare.Result, packPath string, top int) {
	fmt.Printf("A: %s (%s protocol)\nB: %s (%s protocol)\n", r.A.Name, r.A.Protocol, r.B.Name, r.B.Protocol)
	fmt.Printf("vectors: %s, layer %d (%s); %d neutral and %d challenging prompts, read before the reply\n", packPath, r.Layer, r.Kind, r.Neutral, r.Challenging)
	for _, n := range r.Notes {
		fmt.Println("note:", n)
	}
	fmt.Printf("\n%-18s %9s %9s %9s %9s %9s\n", "emotion", "A", "B", "diff", "neutral", "challeng.")
	for i, e := range r.Emotions {
		if top > 0 && i == top && len(r.Emotions) > 2*top {
			fmt.Printf("%-18s\n", "…")
		}
		if top > 0 && i >= top && i < len(r.Emotions)-top {
			continue
		}
		fmt.Printf("%-18s %+9.4f %+9.4f %+9.4f %+9.4f %+9.4f\n", e.Emotion, e.A, e.B, e.Diff, e.DiffNeutral, e.DiffChallenging)
	}
	fmt.Printf("\nr_profiles %s (neutral %s, challenging %s)\n", r.RProfiles, r.RProfilesNeutral, r.RProfilesChallenging)
	fmt.Printf("r_change (neutral vs challenging change vectors) %s — the paper: 0.90\n", r.RChange)
	fmt.Printf("mean |diff|: neutral %.4f, challenging %.4f\n", r.MeanAbsDiffNeutral, r.MeanAbsDiffChallenging)
}
