package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/hub"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/science/ctrlvec"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/steer"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// vectorFlags are the flags of commands that use a vector pack and steer.
type vectorFlags struct {
	vectors      string
	kind         string
	anyModel     bool
	steer        []string
	steerVectors []string
	dir          string // the run directory (--dir) whose pack is the default; "" for the model's
}

func (v *vectorFlags) add(c *cobra.Command, withSteer bool) {
	f := c.Flags()
	f.StringVar(&v.vectors, "vectors", "", "vector pack (default: the one 'limbic run' made for the model)")
	f.StringVar(&v.kind, "kind", "denoised", "vectors to use: denoised or raw")
	f.BoolVar(&v.anyModel, "any-model", false, "use a vector pack made from other weights files of the same shape (e.g. the converted model)")
	if withSteer {
		f.StringArrayVar(&v.steer, "steer", nil, "steer: EMOTION=STRENGTH[@LAYERS][:SPAN] (STRENGTH a fraction of the mean residual norm, at most 10 in magnitude; LAYERS L, A:B inclusive or comma lists, negative from the end, default the pack's best layer; SPAN all, prompt, generated or pos=A-B,C-D); repeatable")
		f.StringArrayVar(&v.steerVectors, "steer-vector", nil, "add a llama.cpp/repeng control vector: FILE[=SCALE][@LAYERS][:SPAN]; repeatable")
	}
}

// runDir is where `limbic run` keeps its outputs for a model.
func runDir(m *model.Model) string {
	name := m.Name
	if name != model.Default {
		name = strings.Trim(strings.NewReplacer("/", "_", "\\", "_", ":", "_").Replace(filepath.Clean(m.Name)), "._")
	}
	return filepath.Join(hub.Home(), "runs", name)
}

// defaultPack is the pack path `limbic run` writes for a model.
func defaultPack(m *model.Model) string { return filepath.Join(runDir(m), "vectors.safetensors") }

// addDir adds --dir, the run directory whose pack a command uses and where
// it writes its results (as limbic run lays them out), to c.
func (v *vectorFlags) addDir(c *cobra.Command, what string) {
	c.Flags().StringVar(&v.dir, "dir", "", "run directory: use its vectors.safetensors and write "+what+" (default: $LIMBIC_HOME/runs/MODEL)")
}

// runDir returns the run directory: --dir, or the one limbic run uses for m.
func (v *vectorFlags) runDir(m *model.Model) string {
	if v.dir != "" {
		return v.dir
	}
	return runDir(m)
}

// loadPack reads the --vectors pack (or the default one) and checks it
// against the model. Without --vectors, a missing default pack gives nil
// unless required.
func (v *vectorFlags) loadPack(m *model.Model, required bool) (*vecpack.Pack, string, error) {
	path := v.vectors
	if path == "" {
		path = filepath.Join(v.runDir(m), "vectors.safetensors")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if v.dir != "" && required {
				return nil, "", fmt.Errorf("--dir %s: no vector pack %s: run limbic extract (and merge) into it first, or give --vectors", v.dir, path)
			}
			if required {
				return nil, "", fmt.Errorf("no vector pack for %s: run `limbic run` (or `limbic extract`) first, or give --vectors", m.Name)
			}
			return nil, "", nil
		}
	}
	p, err := vecpack.Read(path)
	if err != nil {
		return nil, "", err
	}
	info := vecpack.ModelInfo{ID: m.Name, DModel: m.Dim, NLayers: m.Layers}
	if !v.anyModel {
		if info.Hash, err = m.WeightsHash(); err != nil {
			return nil, "", err
		}
	}
	if err := p.CheckModel(info); err != nil {
		if !v.anyModel {
			err = fmt.Errorf("%s: %w (if these are the same weights in another file, pass --any-model)", path, err)
		}
		return nil, "", err
	}
	return p, path, nil
}

func (v *vectorFlags) vecKind() (vecpack.Kind, error) { return vecpack.ParseKind(v.kind) }

// specs parses --steer and reads the --steer-vector files.
func (v *vectorFlags) specs(m *model.Model) ([]steer.Spec, error) {
	specs, err := steer.ParseAll(v.steer)
	if err != nil {
		return nil, err
	}
	for _, sv := range v.steerVectors {
		sp, err := parseSteerVector(sv, m)
		if err != nil {
			return nil, err
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

// hooks builds the steering hooks for a sequence whose prompt has promptLen tokens.
func (v *vectorFlags) hooks(m *model.Model, pack *vecpack.Pack, promptLen int) (*hook.Set, []steer.Added, error) {
	if len(v.steer) > 0 && pack == nil {
		return nil, nil, fmt.Errorf("--steer needs a vector pack: run `limbic run` first or give --vectors")
	}
	specs, err := v.specs(m)
	if err != nil {
		return nil, nil, err
	}
	if len(specs) == 0 {
		return nil, nil, nil
	}
	kind, err := v.vecKind()
	if err != nil {
		return nil, nil, err
	}
	return steer.Hooks(nil, specs, pack, steer.Options{Kind: kind, NLayers: m.Layers, Dim: m.Dim, PromptLen: promptLen})
}

// parseSteerVector reads FILE[=SCALE][@LAYERS][:SPAN] into a raw spec.
func parseSteerVector(s string, m *model.Model) (steer.Spec, error) {
	file, rest := s, ""
	if i := strings.IndexAny(s, "=@:"); i >= 0 {
		// A path may contain ':' or '@' only before the first '='; keep it simple:
		// split at the last '=' that does not start a span of positions
		// (":pos=A-B") when there is one, else at the first '@' or ':'.
		j := strings.LastIndex(s, "=")
		for j >= 0 && strings.HasSuffix(s[:j], ":pos") {
			j = strings.LastIndex(s[:j], "=")
		}
		if j >= 0 {
			file, rest = s[:j], "x"+s[j:]
		} else {
			file, rest = s[:i], "x=1"+s[i:]
		}
	}
	sp := steer.Spec{Strength: 1, Span: steer.Span{Kind: steer.All}}
	if rest != "" {
		var err error
		if sp, err = steer.Parse(rest); err != nil {
			return sp, fmt.Errorf("--steer-vector %q: %w", s, err)
		}
	}
	if _, err := os.Stat(file); err != nil && !strings.ContainsAny(file, `/\`) {
		// A name given to `limbic import`.
		if p := filepath.Join(controlVectorDir(), file+".gguf"); fileExists(p) {
			file = p
		}
	}
	cv, err := ctrlvec.Read(file, m.Layers, m.Dim)
	if err != nil {
		return sp, err
	}
	sp.Emotion = filepath.Base(file)
	sp.Raw = cv.Directions
	return sp, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// loadModelPack loads the --model (with a tokenizer) and its pack (required),
// the --kind of vectors, and checks that layer li (a readout layer: a
// number, negative from the end, or readout.Best; layer is the flag's text)
// exists in the model. The caller closes the model.
func (v *vectorFlags) loadModelPack(ctx context.Context, li int, layer string) (*model.Model, *vecpack.Pack, string, vecpack.Kind, error) {
	m, err := loadTextModel(ctx)
	if err != nil {
		return nil, nil, "", 0, err
	}
	pack, packPath, err := v.loadPack(m, true)
	if err == nil {
		var kind vecpack.Kind
		if kind, err = v.vecKind(); err == nil {
			if err = checkLayer(m, li, layer); err == nil {
				return m, pack, packPath, kind, nil
			}
		}
	}
	m.Close()
	return nil, nil, "", 0, err
}

// checkLayer reports whether readout layer li (layer is the flag's text)
// exists in m.
func checkLayer(m *model.Model, li int, layer string) error {
	if li != readout.Best && (li >= m.Layers || li < -m.Layers) {
		return fmt.Errorf("--layer %s: the model has %d layers (0..%d, or -%d..-1 from the end)", layer, m.Layers, m.Layers-1, m.Layers)
	}
	return nil
}
