package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/science/contrast"
	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/vecpack"
)

func newVectorCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "vector",
		Short: "Make steering vectors other than the story-extracted emotion vectors",
	}
	c.AddCommand(newVectorTrainCmd())
	return c
}

func newVectorTrainCmd() *cobra.Command {
	var (
		pairs, name, method, layers, out string
		compare, compareAs, compareMinus string
		overwrite                        bool
	)
	c := &cobra.Command{
		Use:   "train --pairs FILE|SET [--name NAME] [--method mean|pca] [--out PACK]",
		Short: "Train a control vector from contrastive pairs (repeng's method)",
		Long: `Train reads each contrastive pair (a positive and a negative text) through the
model, takes the residual stream (blocks.L.hook_resid_post) at each text's last
token, and makes a direction per layer from the differences: their mean
(--method mean, the default) or their first principal component (--method pca,
uncentred, its sign towards the positives). The result is a vector pack with
one vector, NAME, usable everywhere a pack is: --vectors PACK --steer
NAME=STRENGTH (a fraction of the mean residual norm), limbic read, limbic serve,
and limbic export to llama.cpp's control-vector format.

--pairs is a JSONL file ('-' reads standard input) of
  {"positive": "...", "negative": "..."}
or templates with persona words, as repeng builds its data sets:
  {"template": "Act as if you are {persona}. {suffix}", "positive": ["happy"],
   "negative": ["sad"], "suffixes": ["Today I", "The weather"], "chat": false}
("chat": true renders the template as the user's turn and the suffix as the
start of the reply, with the model's chat template), or the name of a set that
ships with limbic: ` + strings.Join(contrast.Builtin(), ", ") + `.

The pairs are split in halves; a direction trained on one half is scored on the
other (the share of pairs whose positive projects above its negative). The
layer with the best held-out score is the pack's best layer, the default layer
for --steer.`,
		Example: `  limbic vector train --pairs happy-sad --out happy.safetensors
  limbic generate --vectors happy.safetensors --steer happy=0.4 -p "One day"
  limbic vector train --pairs my-pairs.jsonl --name honest --method pca --layers 2-4 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if pairs == "" {
				return fmt.Errorf("--pairs is required: a JSONL file or one of %s", strings.Join(contrast.Builtin(), ", "))
			}
			m, err := loadTextModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			render := func(user, reply string) (string, error) {
				p, err := chat.Render(m.Tok, []chat.Message{{Role: "user", Content: user}}, true)
				return p + reply, err
			}
			var ps []contrast.Pair
			if _, serr := os.Stat(pairs); serr != nil && pairs != "-" && !strings.ContainsAny(pairs, `/\.`) {
				ps, err = contrast.ReadBuiltin(pairs, render)
				if name == "" {
					name, _, _ = strings.Cut(pairs, "-")
				}
			} else {
				ps, err = contrast.ReadPairsFile(pairs, render)
			}
			if err != nil {
				return err
			}
			if name == "" {
				return fmt.Errorf("--name is required: the vector's name in the pack (as in --steer NAME=0.3)")
			}
			var ls []int
			if layers != "" {
				if ls, err = hook.ParseLayerList(layers, m.Layers); err != nil {
					return fmt.Errorf("--layers: %w", err)
				}
			}
			if out == "" {
				out = filepath.Join(runDir(m), "vector-"+name+".safetensors")
			}
			if fileExists(out) && !overwrite {
				return fmt.Errorf("%s exists: give --overwrite to replace it, or another --out", out)
			}
			hash, err := m.WeightsHash()
			if err != nil {
				return err
			}
			var bar func(done, total int)
			if !g.quiet {
				b := newBar(int64(2*len(ps)), "reading pairs")
				bar = func(done, total int) {
					b.Set(done)
					if done == total {
						b.Finish()
						fmt.Fprintln(os.Stderr)
					}
				}
			}
			res, err := contrast.Train(cmd.Context(), pipeline.Runner{M: m}, ps, contrast.Options{
				Name: name, Method: method, Layers: ls, Progress: bar,
				Model: vecpack.ModelInfo{ID: m.Name, Hash: hash, DModel: m.Dim, NLayers: m.Layers},
			})
			if err != nil {
				return err
			}
			res.Pack.Meta.Params["pairs_file"] = pairs
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			if err := vecpack.Write(out, res.Pack); err != nil {
				return err
			}
			var cos map[int]float64
			if compare != "" {
				other, err := vecpack.Read(compare)
				if err != nil {
					return err
				}
				if compareAs == "" {
					compareAs = name
				}
				if cos, err = contrast.Cosines(res.Pack, name, other, compareAs, compareMinus, vecpack.Denoised); err != nil {
					return fmt.Errorf("--compare %s: %w", compare, err)
				}
			}
			if g.jsonOut {
				type layer struct {
					contrast.LayerScore
					Cosine *float64 `json:"cosine,omitempty"`
				}
				ls := make([]layer, len(res.Scores))
				for i, s := range res.Scores {
					ls[i].LayerScore = s
					if c, ok := cos[s.Layer]; ok {
						ls[i].Cosine = &c
					}
				}
				return printJSON(struct {
					Name      string  `json:"name"`
					Method    string  `json:"method"`
					Pairs     int     `json:"pairs"`
					BestLayer int     `json:"best_layer"`
					Layers    []layer `json:"layers"`
					Out       string  `json:"out"`
				}{name, res.Pack.Meta.Params["method"], res.Pairs, res.BestLayer, ls, out})
			}
			fmt.Printf("%s: %d pairs, method %s\n", name, res.Pairs, res.Pack.Meta.Params["method"])
			head := "layer  held-out  train  separation"
			if cos != nil {
				head += "  cosine(" + compareAs
				if compareMinus != "" {
					head += "−" + compareMinus
				}
				head += ")"
			}
			fmt.Println(head)
			for _, s := range res.Scores {
				line := fmt.Sprintf("%5d  %8.3f  %5.3f  %10.2f", s.Layer, s.HeldOut, s.Train, s.Separation)
				if c, ok := cos[s.Layer]; ok {
					line += fmt.Sprintf("  %12.3f", c)
				}
				if s.Layer == res.BestLayer {
					line += "  ← best"
				}
				fmt.Println(line)
			}
			fmt.Printf("pack: %s\nsteer with: --vectors %s --steer %s=0.3\n", out, out, name)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&pairs, "pairs", "", "contrastive pairs: a JSONL file, - for stdin, or a shipped set ("+strings.Join(contrast.Builtin(), ", ")+")")
	f.StringVar(&name, "name", "", "the vector's name in the pack (default for a shipped set: its first word)")
	f.StringVar(&method, "method", contrast.Mean, "mean (difference of means) or pca (first principal component of the differences)")
	f.StringVar(&layers, "layers", "", "layers to train: a layer list such as 2, 1:4, -2:-1 or 0,3 (default all)")
	f.StringVarP(&out, "out", "o", "", "output vector pack (default: vector-NAME.safetensors in the model's run directory)")
	f.BoolVar(&overwrite, "overwrite", false, "replace an existing --out")
	f.StringVar(&compare, "compare", "", "report each layer's cosine with this vector pack's vector of the same name (a story-extracted pack, say)")
	f.StringVar(&compareAs, "compare-emotion", "", "with --compare: the emotion to compare with (default NAME)")
	f.StringVar(&compareMinus, "compare-minus", "", "with --compare: compare with the emotion's vector minus this one's (happy − sad for a happy–sad set)")
	addJSON(c)
	return c
}
