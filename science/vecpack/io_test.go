package vecpack

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
)

func TestPackRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := testPack(3, 8, []int{1, 3, 5})
	p.Layers[2].NeutralMeanRaw, p.Layers[2].NeutralStdRaw, p.Layers[2].NeutralMeanDenoised, p.Layers[2].NeutralStdDenoised = nil, nil, nil, nil
	p.Meta.BestLayer = 3
	p.Meta.Params = map[string]string{"seed": "1"}
	path := filepath.Join(dir, "v.safetensors")
	if err := Write(path, p); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got.Meta, p.Meta)
	}
	bad := testPack(3, 8, []int{1})
	bad.Meta.Counts = nil
	if err := Write(filepath.Join(dir, "bad"), bad); err == nil {
		t.Error("wrote an inconsistent pack")
	}
}

func TestReadRejects(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.safetensors")
	safetensors.Write(plain, []*tensor.Tensor{tensor.FromF32("x", []int{1}, []float32{1})}, nil)
	if _, err := Read(plain); err == nil || !strings.Contains(err.Error(), "not a limbic vector pack") {
		t.Errorf("plain file: %v", err)
	}
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("hello"), 0o644)
	if _, err := Read(junk); err == nil {
		t.Error("junk accepted")
	}
	// A tensor of the wrong shape.
	p := testPack(2, 4, []int{0})
	path := filepath.Join(dir, "p.safetensors")
	Write(path, p)
	f, _ := safetensors.Open(path)
	ts, _ := f.Tensors()
	meta := f.Metadata
	var out []*tensor.Tensor
	for _, x := range ts {
		c := *x
		c.Data = append([]byte(nil), x.Data...)
		if c.Name == "raw.0" {
			c.Shape = []int{4, 2}
		}
		out = append(out, &c)
	}
	f.Close()
	safetensors.Write(path, out, meta)
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "raw.0 has shape [4 2], want [2 4]") {
		t.Errorf("wrong shape: %v", err)
	}
}

func TestHeldOutRoundTrip(t *testing.T) {
	h := NewHeldOut(ModelInfo{ID: "x", Hash: "sha256:1", DModel: 2, NLayers: 4}, []string{"a", "b"}, []int{0, 3})
	h.Add("s1", 1, [][]float32{{1, 2}, {3, 4}})
	h.Add("s2", 0, [][]float32{{5, 6}, {7, 8}})
	path := filepath.Join(t.TempDir(), "h.safetensors")
	if err := WriteHeldOut(path, h); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHeldOut(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("got %+v\nwant %+v", got, h)
	}
	p := testPack(2, 4, []int{0})
	pp := filepath.Join(t.TempDir(), "p.safetensors")
	Write(pp, p)
	if _, err := ReadHeldOut(pp); err == nil {
		t.Error("a vector pack read as a held-out file")
	}
}
