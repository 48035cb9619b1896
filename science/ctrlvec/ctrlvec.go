// Package ctrlvec reads and writes control vectors in the GGUF layout that
// llama.cpp (--control-vector, cvector-generator) and repeng (export_gguf)
// share:
//
//	general.architecture   = "controlvector"
//	controlvector.model_hint  the model family ("llama", …)
//	controlvector.layer_count the number of direction tensors
//	direction.L            F32 [d_model] for each steered layer L ≥ 1
//
// llama.cpp adds direction.L (times the user's scale) to the output of
// block L (0-based), i.e. blocks.L.hook_resid_post; layer 0 is never
// steered there. Vectors written by limbic carry the residual-norm scale
// already (strength × mean‖h_L‖ × unit vector), so a scale of 1 reproduces
// `--steer EMOTION=STRENGTH`.
package ctrlvec

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/limbic-dev/limbic/engine/format/gguf"
	"github.com/limbic-dev/limbic/engine/tensor"
)

// Architecture is the general.architecture of a control vector file.
const Architecture = "controlvector"

// Vector is a control vector: one direction per layer.
type Vector struct {
	ModelHint  string
	Directions map[int][]float32 // layer → [d]
}

// Layers returns the steered layers in order.
func (v *Vector) Layers() []int {
	out := make([]int, 0, len(v.Directions))
	for l := range v.Directions {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// Dim returns the vectors' width (0 when empty).
func (v *Vector) Dim() int {
	for _, d := range v.Directions {
		return len(d)
	}
	return 0
}

// Write saves v as a GGUF control vector (atomically).
func Write(path string, v *Vector) error {
	if len(v.Directions) == 0 {
		return fmt.Errorf("ctrlvec: %s: no directions to write", path)
	}
	w := gguf.NewWriter()
	if err := w.AddKV("general.architecture", Architecture); err != nil {
		return err
	}
	if err := w.AddKV("controlvector.model_hint", v.ModelHint); err != nil {
		return err
	}
	if err := w.AddKV("controlvector.layer_count", uint32(len(v.Directions))); err != nil {
		return err
	}
	d := v.Dim()
	for _, l := range v.Layers() {
		dir := v.Directions[l]
		if l < 1 {
			return fmt.Errorf("ctrlvec: %s: layer %d cannot be written (llama.cpp control vectors start at layer 1)", path, l)
		}
		if len(dir) != d {
			return fmt.Errorf("ctrlvec: %s: layer %d has %d values, others %d", path, l, len(dir), d)
		}
		if i := nonFinite(dir); i >= 0 {
			return fmt.Errorf("ctrlvec: %s: direction.%d: value %d is %v (a control vector must hold finite numbers)", path, l, i, dir[i])
		}
		if err := w.AddTensor(tensor.FromF32("direction."+strconv.Itoa(l), []int{d}, dir)); err != nil {
			return err
		}
	}
	return w.WriteFile(path)
}

// nonFinite returns the index of the first NaN or ±Inf in x, or -1.
func nonFinite(x []float32) int {
	for i, v := range x {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return i
		}
	}
	return -1
}

// Read loads a control vector file and checks it against a model with
// nLayers blocks of width dim (0 skips a check).
func Read(path string, nLayers, dim int) (*Vector, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fail := func(format string, a ...any) (*Vector, error) {
		return nil, fmt.Errorf("ctrlvec: %s: %s", path, fmt.Sprintf(format, a...))
	}
	if arch := f.Architecture(); arch != Architecture {
		return fail("general.architecture is %q, not a control vector (%q)", arch, Architecture)
	}
	v := &Vector{Directions: map[int][]float32{}}
	if hint, ok, err := f.String("controlvector.model_hint"); err != nil {
		return fail("%v", err)
	} else if ok {
		v.ModelHint = hint
	}
	count, hasCount, err := f.Uint("controlvector.layer_count")
	if err != nil {
		// Some writers store it signed.
		c, ok, err2 := f.Int("controlvector.layer_count")
		if err2 != nil {
			return fail("controlvector.layer_count: %v", err)
		}
		count, hasCount = uint64(c), ok
	}
	for _, name := range f.Names() {
		ls, ok := strings.CutPrefix(name, "direction.")
		if !ok {
			continue
		}
		l, err := strconv.Atoi(ls)
		if err != nil {
			return fail("tensor %q: layer %q is not a number", name, ls)
		}
		if l < 1 {
			return fail("tensor %q: layer %d is invalid (llama.cpp control vectors start at layer 1)", name, l)
		}
		if nLayers > 0 && l >= nLayers {
			return fail("tensor %q: layer %d, but the model has %d layers (0..%d)", name, l, nLayers, nLayers-1)
		}
		t, err := f.Tensor(name)
		if err != nil {
			return nil, err
		}
		if len(t.Shape) != 1 && !(len(t.Shape) == 2 && t.Shape[0] == 1) {
			return fail("tensor %q: shape %v, want [d_model]", name, t.Shape)
		}
		x, err := t.F32()
		if err != nil {
			return fail("tensor %q: %v", name, err)
		}
		if dim > 0 && len(x) != dim {
			return fail("tensor %q: %d values, but the model's width is %d", name, len(x), dim)
		}
		if i := nonFinite(x); i >= 0 {
			return fail("tensor %q: value %d is %v (a control vector must hold finite numbers)", name, i, x[i])
		}
		v.Directions[l] = append([]float32(nil), x...)
	}
	if len(v.Directions) == 0 {
		return fail("no direction.L tensors")
	}
	if hasCount && int(count) != len(v.Directions) {
		return fail("controlvector.layer_count is %d but the file has %d direction tensors", count, len(v.Directions))
	}
	d := -1
	for _, l := range v.Layers() {
		if d >= 0 && len(v.Directions[l]) != d {
			return fail("direction.%d has %d values, direction tensors before it %d", l, len(v.Directions[l]), d)
		}
		d = len(v.Directions[l])
	}
	return v, nil
}
