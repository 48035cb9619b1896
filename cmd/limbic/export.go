package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hub"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/ctrlvec"
	"github.com/limbic-dev/limbic/science/steer"
)

// controlVectorDir is where `limbic import` keeps control vectors by name.
func controlVectorDir() string { return filepath.Join(hub.Home(), "control-vectors") }

func newExportCmd() *cobra.Command {
	var (
		vf        vectorFlags
		format    string
		layers    string
		out       string
		overwrite bool
	)
	c := &cobra.Command{
		Use:   "export --format llama-cpp EMOTION STRENGTH",
		Short: "Write an emotion vector as a llama.cpp control vector (GGUF)",
		Long: `Export writes EMOTION's vector from the pack as a GGUF control vector that
llama.cpp (--control-vector FILE) and repeng read: general.architecture =
controlvector, one F32 tensor direction.L per layer. The residual-norm scale
is baked in: direction.L = STRENGTH × mean‖h_L‖ × v̂_L (|STRENGTH| at most 10),
so loading it at scale 1 steers like --steer EMOTION=STRENGTH@L. llama.cpp
adds direction.L to the output of block L (blocks.L.hook_resid_post); it
never steers layer 0. An existing --out is replaced only with --overwrite.`,
		Example: `  limbic export --format llama-cpp calm 0.1 --layers 3-4 --out calm.gguf
  llama-cli -m model.gguf --control-vector calm.gguf ...`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "llama-cpp" {
				return fmt.Errorf("--format %q: only llama-cpp is supported", format)
			}
			strength, err := strconv.ParseFloat(args[1], 64)
			if err != nil {
				return fmt.Errorf("STRENGTH %q is not a number", args[1])
			}
			if err := (steer.Spec{Emotion: args[0], Strength: strength, Layers: layers}).Validate(); err != nil {
				return fmt.Errorf("export %s %s: %w", args[0], args[1], err)
			}
			if out == "" {
				out = fmt.Sprintf("%s_%s.gguf", strings.ReplaceAll(args[0], " ", "_"), args[1])
			}
			if !overwrite && fileExists(out) {
				return fmt.Errorf("%s exists (use --overwrite to replace it)", out)
			}
			m, err := loadModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			pack, _, err := vf.loadPack(m, true)
			if err != nil {
				return err
			}
			kind, err := vf.vecKind()
			if err != nil {
				return err
			}
			def := pack.Meta.BestLayer
			if def < 0 {
				def = pack.Meta.Layers[len(pack.Meta.Layers)*2/3]
			}
			ls, err := steer.Layers(layers, m.Layers, def)
			if err != nil {
				return err
			}
			cv := &ctrlvec.Vector{ModelHint: m.Config.Arch, Directions: map[int][]float32{}}
			for _, l := range ls {
				if l == 0 {
					return fmt.Errorf("layer 0 cannot be exported: llama.cpp control vectors start at layer 1")
				}
				u, err := pack.Unit(l, args[0], kind)
				if err != nil {
					return err
				}
				norm, err := pack.MeanResidNorm(l)
				if err != nil {
					return err
				}
				for i := range u {
					u[i] *= float32(strength * norm)
				}
				cv.Directions[l] = u
			}
			if err := ctrlvec.Write(out, cv); err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(map[string]any{"out": out, "emotion": args[0], "strength": strength, "layers": cv.Layers()})
			}
			fmt.Printf("wrote %s: %s at %g × mean residual norm, layers %v\n", out, args[0], strength, cv.Layers())
			return nil
		},
	}
	vf.add(c, false)
	c.Flags().StringVar(&format, "format", "llama-cpp", "output format: llama-cpp")
	c.Flags().StringVar(&layers, "layers", "", "layers: L, A:B (inclusive), comma lists, negative from the end (default: the pack's best layer)")
	c.Flags().StringVarP(&out, "out", "o", "", "output file (default: EMOTION_STRENGTH.gguf)")
	c.Flags().BoolVar(&overwrite, "overwrite", false, "replace an existing output file")
	addJSON(c)
	return c
}

func newImportCmd() *cobra.Command {
	var (
		name      string
		overwrite bool
	)
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Check a llama.cpp/repeng control vector and keep it for --steer-vector",
		Long: `Import reads a GGUF control vector (from repeng's export_gguf, llama.cpp's
cvector-generator or limbic export), checks its layers and width against the
--model, and stores it under $LIMBIC_HOME/control-vectors/NAME.gguf, so that
--steer-vector NAME[=SCALE] applies it (a path works too). FILE - reads
standard input (then --as is needed). A control vector holding NaN or Inf is
refused, naming the tensor; an existing NAME is replaced only with --overwrite.`,
		Example: `  limbic import happy.gguf --as happy
  limbic generate -p "Once upon a time" --steer-vector happy=0.8`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadModel(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			src := args[0]
			if src == "-" {
				if name == "" {
					return fmt.Errorf("import -: give the name to keep it under with --as")
				}
				b, err := readStdin("FILE")
				if err != nil {
					return err
				}
				tmp, err := os.CreateTemp("", "limbic-import-*.gguf")
				if err != nil {
					return err
				}
				defer os.Remove(tmp.Name())
				if _, err := tmp.Write(b); err != nil {
					tmp.Close()
					return err
				}
				if err := tmp.Close(); err != nil {
					return err
				}
				src = tmp.Name()
			}
			cv, err := ctrlvec.Read(src, m.Layers, m.Dim)
			if err != nil {
				return err
			}
			if name == "" {
				name = strings.TrimSuffix(filepath.Base(args[0]), filepath.Ext(args[0]))
			}
			if strings.ContainsAny(name, `/\=@:`) {
				return fmt.Errorf("--as %q: a name may not contain / \\ = @ :", name)
			}
			dst := filepath.Join(controlVectorDir(), name+".gguf")
			if !overwrite && fileExists(dst) {
				return fmt.Errorf("a control vector named %q exists (%s): use --overwrite to replace it, or another --as NAME", name, dst)
			}
			if err := os.MkdirAll(controlVectorDir(), 0o755); err != nil {
				return err
			}
			in, err := os.Open(src)
			if err != nil {
				return err
			}
			defer in.Close()
			if err := atomicfile.WriteFile(dst, 0o644, func(w io.Writer) error { _, err := io.Copy(w, in); return err }); err != nil {
				return err
			}
			type layer struct {
				Layer int     `json:"layer"`
				Norm  float64 `json:"norm"`
			}
			var info []layer
			for _, l := range cv.Layers() {
				var s float64
				for _, x := range cv.Directions[l] {
					s += float64(x) * float64(x)
				}
				info = append(info, layer{l, math.Sqrt(s)})
			}
			if g.jsonOut {
				return printJSON(map[string]any{"name": name, "path": dst, "model_hint": cv.ModelHint, "layers": info})
			}
			fmt.Printf("imported %s as %q (%s, model hint %q)\n", args[0], name, dst, cv.ModelHint)
			for _, l := range info {
				fmt.Printf("  direction.%d  norm %.4g\n", l.Layer, l.Norm)
			}
			return nil
		},
	}
	c.Flags().StringVar(&name, "as", "", "name to keep it under (default: the file name)")
	c.Flags().BoolVar(&overwrite, "overwrite", false, "replace a control vector kept under the same name")
	addJSON(c)
	return c
}
