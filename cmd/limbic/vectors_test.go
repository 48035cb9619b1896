package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/format/gguf"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/internal/testref"
	"github.com/limbic-dev/limbic/science/ctrlvec"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// writeTestPack writes a random vector pack for the embedded model (d 288,
// 6 layers) with a neutral baseline, and returns its path.
func writeTestPack(t *testing.T) string {
	t.Helper()
	testref.Stories15M(t)
	p := testpack.Random(testpack.Options{Emotions: []string{"happy", "sad", "scared", "calm"}, D: 288, Layers: 6, Seed: 3,
		ModelID: "stories15m", Hash: "sha256:cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a",
		BestLayer: 4, Norm: func(l int) float64 { return 6 + float64(l) }})
	path := filepath.Join(t.TempDir(), "pack.safetensors")
	if err := vecpack.Write(path, p); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadJSON(t *testing.T) {
	pack := writeTestPack(t)
	out := limbic(t, "read", "--vectors", pack, "--format", "json", "--smooth", "3", "Lily was sad because her cat was lost.")
	var tr struct {
		Layer    int         `json:"layer"`
		Metric   string      `json:"metric"`
		Smooth   int         `json:"smooth"`
		Emotions []string    `json:"emotions"`
		Values   [][]float32 `json:"values"`
		Tokens   []struct {
			Text string                     `json:"text"`
			Top  []struct{ Emotion string } `json:"top"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Layer != 4 || tr.Metric != "z" || tr.Smooth != 3 || len(tr.Emotions) != 4 || len(tr.Values) != 4 || len(tr.Tokens) < 10 || len(tr.Tokens[3].Top) != 3 {
		t.Errorf("trace: layer %d metric %s smooth %d emotions %v tokens %d", tr.Layer, tr.Metric, tr.Smooth, tr.Emotions, len(tr.Tokens))
	}
	ansi := limbic(t, "read", "--vectors", pack, "--emotions", "calm", "--color", "always", "Lily was sad.")
	if !strings.Contains(ansi, "\x1b[48;2;") && !strings.Contains(ansi, ";48;2;") {
		t.Errorf("no ANSI colours in %q", ansi)
	}
	// On a pipe (as here) and with NO_COLOR, no escape codes: the values in brackets.
	plain := limbic(t, "read", "--vectors", pack, "--emotions", "calm", "Lily was sad.")
	cmd := exec.Command(bin, "read", "--vectors", pack, "--emotions", "calm", "--color", "auto", "Lily was sad.")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	noColor, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []string{plain, string(noColor)} {
		if strings.Contains(got, "\x1b") || !strings.Contains(got, "sad[") {
			t.Errorf("plain view %q: want no escape codes and values in brackets", got)
		}
	}
	// "-" reads the text from standard input; --layer counts from the end.
	cmd = exec.Command(bin, "read", "--vectors", pack, "--format", "json", "--layer", "-3", "-")
	cmd.Stdin = strings.NewReader("Lily was sad because her cat was lost.")
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var fromStdin struct {
		Layer  int `json:"layer"`
		Tokens []struct {
			Text string `json:"text"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal(b, &fromStdin); err != nil {
		t.Fatal(err)
	}
	if fromStdin.Layer != 3 || len(fromStdin.Tokens) != len(tr.Tokens) {
		t.Errorf("read - --layer -3: layer %d with %d tokens, want layer 3 (of 6) with the %d tokens of the same text", fromStdin.Layer, len(fromStdin.Tokens), len(tr.Tokens))
	}
	html := filepath.Join(t.TempDir(), "r.html")
	limbic(t, "read", "--vectors", pack, "--format", "html", "--out", html, "-q", "Lily was sad.")
	b, err = os.ReadFile(html)
	if err != nil || !strings.Contains(string(b), "<!DOCTYPE html>") {
		t.Errorf("html: %v", err)
	}
	// The emotions × tokens grid: every emotion of the pack, or --emotions.
	for _, tc := range []struct {
		args []string
		rows int
	}{{nil, 4}, {[]string{"--emotions", "sad,calm"}, 2}} {
		args := append([]string{"read", "--vectors", pack, "--format", "html", "--out", html, "-q", "Lily was sad."}, tc.args...)
		limbic(t, args...)
		b, err = os.ReadFile(html)
		if want := fmt.Sprintf(`data-rows="%d"`, tc.rows); err != nil || !strings.Contains(string(b), want) {
			t.Errorf("read html %v: grid lacks %s (%v)", tc.args, want, err)
		}
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	pack := writeTestPack(t)
	dir := t.TempDir()
	cv := filepath.Join(dir, "calm.gguf")
	limbic(t, "export", "--vectors", pack, "--format", "llama-cpp", "calm", "0.25", "--layers", "2-4", "--out", cv)
	got, err := ctrlvec.Read(cv, 6, 288)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := vecpack.Read(pack)
	for _, l := range []int{2, 3, 4} {
		u, _ := p.Unit(l, "calm", vecpack.Denoised)
		norm, _ := p.MeanResidNorm(l)
		for i := range u {
			if want := u[i] * float32(0.25*norm); got.Directions[l][i] != want {
				t.Fatalf("layer %d [%d] = %v, want %v", l, i, got.Directions[l][i], want)
			}
		}
	}
	// Import keeps it by name; steering with it equals steering with the spec.
	imp := limbic(t, "import", cv, "--as", "calmtest", "--json")
	var info struct {
		Path   string                `json:"path"`
		Layers []struct{ Layer int } `json:"layers"`
	}
	if err := json.Unmarshal([]byte(imp), &info); err != nil || len(info.Layers) != 3 {
		t.Fatalf("import: %s %v", imp, err)
	}
	defer os.Remove(info.Path)
	// Neither import nor export replaces a file silently.
	for _, args := range [][]string{
		{"import", cv, "--as", "calmtest"},
		{"export", "--vectors", pack, "calm", "0.5", "--layers", "2", "--out", cv},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--overwrite") {
			t.Errorf("limbic %v over an existing file: %v %q, want a refusal naming --overwrite", args, err, out)
		}
	}
	if got, err := ctrlvec.Read(cv, 6, 288); err != nil || len(got.Directions) != 3 {
		t.Errorf("refused export changed %s: %v", cv, err)
	}
	limbic(t, "import", cv, "--as", "calmtest", "--overwrite", "-q")
	// "-" reads the control vector from standard input (a name is then needed).
	cmd := exec.Command(bin, "import", "-", "--as", "calmstdin", "--json")
	f, err := os.Open(cv)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdin = f
	out, err := cmd.Output()
	var fromStdin struct {
		Path   string                `json:"path"`
		Layers []struct{ Layer int } `json:"layers"`
	}
	if err != nil || json.Unmarshal(out, &fromStdin) != nil || len(fromStdin.Layers) != 3 {
		t.Fatalf("import - --as calmstdin: %v %q", err, out)
	}
	defer os.Remove(fromStdin.Path)
	if a, b := readBytes(t, fromStdin.Path), readBytes(t, cv); string(a) != string(b) {
		t.Error("import - kept other bytes than it was given")
	}
	back, err := ctrlvec.Read(info.Path, 6, 288)
	if err != nil {
		t.Fatal(err)
	}
	for l, d := range got.Directions {
		for i := range d {
			if back.Directions[l][i] != d[i] {
				t.Fatalf("imported copy differs at layer %d", l)
			}
		}
	}
	a := limbic(t, "generate", "-p", "Once upon a time", "-n", "12", "--temp", "0", "--json", "--vectors", pack, "--steer", "calm=0.25@2-4")
	b := limbic(t, "generate", "-p", "Once upon a time", "-n", "12", "--temp", "0", "--json", "--steer-vector", "calmtest")
	c := limbic(t, "generate", "-p", "Once upon a time", "-n", "12", "--temp", "0", "--json")
	if a != b {
		t.Errorf("--steer and the exported control vector differ:\n%s\n%s", a, b)
	}
	if a == c {
		t.Log("steering at 0.25 did not change the greedy text (possible, but unusual)")
	}
}

func TestVectorErrors(t *testing.T) {
	pack := writeTestPack(t)
	for _, args := range [][]string{
		{"read", "--vectors", pack, "--emotions", "zen", "x"},
		{"read", "--vectors", pack, "--layer", "9", "x"},
		{"read", "--vectors", pack, "--layer", "-7", "x"},
		{"read", "--vectors", pack, "--layer", "Best", "x"},
		{"read", "--vectors", pack, "--top-k", "0", "x"},
		{"read", "--vectors", pack, "--smooth", "-1", "x"},
		{"read", "--vectors", pack, "--color", "sometimes", "x"},
		{"generate", "-p", "x", "--vectors", pack, "--steer", "calm=NaN"},
		{"generate", "-p", "x", "--vectors", pack, "--steer", "calm=Inf@2"},
		{"generate", "-p", "x", "--vectors", pack, "--steer", "calm=1e9"},
		{"export", "--vectors", pack, "calm", "NaN"},
		{"export", "--vectors", pack, "calm", "1e9"},
		{"export", "--vectors", pack, "calm", "0.1", "--layers", "0"},
		{"export", "--vectors", pack, "bliss", "0.1"},
		{"generate", "-p", "x", "--vectors", pack, "--steer", "calm=abc"},
		{"read", "--vectors", filepath.Join(t.TempDir(), "none.safetensors"), "x"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil || !strings.HasPrefix(string(out), "limbic: ") {
			t.Errorf("limbic %v: %v %q", args, err, out)
		}
	}
	// A pack for another model (different hash) is refused unless --any-model.
	p, _ := vecpack.Read(pack)
	p.Meta.Model.Hash = "sha256:" + strings.Repeat("0", 64)
	other := filepath.Join(t.TempDir(), "other.safetensors")
	vecpack.Write(other, p)
	out, err := exec.Command(bin, "read", "--vectors", other, "x").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "made for model") {
		t.Errorf("foreign pack: %v %q", err, out)
	}
	limbic(t, "read", "--vectors", other, "--any-model", "--format", "json", "x")
	// A control vector of the wrong width.
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	ctrlvec.Write(bad, &ctrlvec.Vector{Directions: map[int][]float32{1: make([]float32, 100)}})
	out, err = exec.Command(bin, "import", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "width") {
		t.Errorf("wrong width: %v %q", err, out)
	}
	// A control vector holding NaN is refused, naming the tensor, by import and --steer-vector.
	nan := filepath.Join(t.TempDir(), "nan.gguf")
	w := gguf.NewWriter()
	w.AddKV("general.architecture", ctrlvec.Architecture)
	x := make([]float32, 288)
	x[7] = float32(math.NaN())
	if err := w.AddTensor(tensor.FromF32("direction.2", []int{288}, x)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(nan); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"import", nan}, {"generate", "-p", "x", "-n", "2", "--steer-vector", nan}} {
		out, err = exec.Command(bin, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), `tensor "direction.2": value 7 is NaN`) {
			t.Errorf("limbic %v: %v %q, want an error naming direction.2", args, err, out)
		}
	}
}

// TestSteeredExperimentKeepsBaseline: a steered experiment writes beside the
// baseline, never over it, and records its steering; --layer counts from
// the end.
func TestSteeredExperimentKeepsBaseline(t *testing.T) {
	pack := writeTestPack(t)
	dir := filepath.Join(os.Getenv("LIMBIC_HOME"), "runs", "stories15m", "experiments")
	base := filepath.Join(dir, "implicit.json")
	steered := filepath.Join(dir, "implicit.steer-calm=0.1@2.json")
	os.Remove(base)
	os.Remove(steered)
	limbic(t, "experiment", "implicit", "--vectors", pack, "--layer", "-2", "-q")
	before, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	limbic(t, "experiment", "implicit", "--vectors", pack, "--layer", "-2", "--steer", "calm=0.1@2", "-q")
	after, err := os.ReadFile(base)
	if err != nil || string(after) != string(before) {
		t.Errorf("the steered run changed the baseline %s (%v)", base, err)
	}
	var res struct {
		Steering []string `json:"steering"`
		Layer    int      `json:"layer"`
	}
	b, err := os.ReadFile(steered)
	if err != nil {
		t.Fatalf("no steered result: %v", err)
	}
	if err := json.Unmarshal(b, &res); err != nil || len(res.Steering) != 1 || res.Steering[0] != "calm=0.1@2" || res.Layer != 4 {
		t.Errorf("steered result: steering %v layer %d (%v), want [calm=0.1@2] at layer 4 (-2 of 6)", res.Steering, res.Layer, err)
	}
	res.Steering = nil
	if err := json.Unmarshal(before, &res); err != nil || len(res.Steering) != 0 {
		t.Errorf("baseline records steering %v (%v)", res.Steering, err)
	}
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
