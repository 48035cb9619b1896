package ctrlvec

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/format/gguf"
	"github.com/limbic-dev/limbic/engine/tensor"
)

func TestRoundTripExact(t *testing.T) {
	v := &Vector{ModelHint: "llama", Directions: map[int][]float32{
		1: {0.5, -1, 3.25e-7, 1e30},
		4: {-0, 2, 3, 4},
	}}
	p := filepath.Join(t.TempDir(), "cv.gguf")
	if err := Write(p, v); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p, 6, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got.ModelHint != "llama" || len(got.Directions) != 2 {
		t.Fatalf("got %+v", got)
	}
	for l, d := range v.Directions {
		for i := range d {
			if got.Directions[l][i] != d[i] {
				t.Errorf("layer %d [%d] = %v, want %v", l, i, got.Directions[l][i], d[i])
			}
		}
	}
}

// write makes a control-vector-like GGUF by hand.
func write(t *testing.T, arch string, count any, tensors map[string][]float32) string {
	t.Helper()
	w := gguf.NewWriter()
	w.AddKV("general.architecture", arch)
	if count != nil {
		w.AddKV("controlvector.layer_count", count)
	}
	for name, v := range tensors {
		if err := w.AddTensor(tensor.FromF32(name, []int{len(v)}, v)); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "x.gguf")
	if err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadErrors(t *testing.T) {
	ok := map[string][]float32{"direction.1": {1, 2}, "direction.2": {3, 4}}
	tests := []struct {
		name    string
		path    string
		nLayers int
		dim     int
		want    string
	}{
		{"wrong count", write(t, Architecture, uint32(5), ok), 0, 0, "layer_count is 5"},
		{"signed count ok", write(t, Architecture, int32(2), ok), 0, 0, ""},
		{"wrong width", write(t, Architecture, uint32(2), ok), 0, 3, "width is 3"},
		{"too many layers", write(t, Architecture, uint32(2), ok), 2, 2, "model has 2 layers"},
		{"layer zero", write(t, Architecture, uint32(1), map[string][]float32{"direction.0": {1, 2}}), 0, 0, "layer 0 is invalid"},
		{"not a control vector", write(t, "llama", uint32(2), ok), 0, 0, "not a control vector"},
		{"mixed widths", write(t, Architecture, uint32(2), map[string][]float32{"direction.1": {1, 2}, "direction.2": {3}}), 0, 0, "values"},
		{"NaN", write(t, Architecture, uint32(2), map[string][]float32{"direction.1": {1, 2}, "direction.2": {3, float32(math.NaN())}}), 0, 0, `tensor "direction.2": value 1 is NaN`},
		{"Inf", write(t, Architecture, uint32(1), map[string][]float32{"direction.3": {float32(math.Inf(-1)), 2}}), 0, 0, `tensor "direction.3": value 0 is -Inf`},
		{"no directions", write(t, Architecture, nil, map[string][]float32{"other": {1}}), 0, 0, "no direction"},
	}
	for _, tt := range tests {
		_, err := Read(tt.path, tt.nLayers, tt.dim)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	if err := Write(filepath.Join(t.TempDir(), "z.gguf"), &Vector{Directions: map[int][]float32{0: {1}}}); err == nil {
		t.Error("writing layer 0 accepted")
	}
	if err := Write(filepath.Join(t.TempDir(), "n.gguf"), &Vector{Directions: map[int][]float32{2: {1, float32(math.NaN())}}}); err == nil || !strings.Contains(err.Error(), "direction.2") {
		t.Errorf("writing NaN: error %v, want one naming direction.2", err)
	}
}
