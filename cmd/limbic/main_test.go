package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/hub"
	"github.com/limbic-dev/limbic/internal/testref"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "limbic-cli")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "limbic")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	// The commands run in a home of their own that shares the fetched
	// embedded model, so tests write nothing into the user's cache.
	emb, err := hub.EnsureEmbedded(context.Background(), hub.EmbeddedOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "embedded model: %v\n", err)
		os.Exit(1)
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, "models"), 0o755); err != nil {
		panic(err)
	}
	if err := os.Symlink(emb, filepath.Join(home, "models", "stories15m")); err != nil {
		panic(err)
	}
	os.Setenv("LIMBIC_HOME", home)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// limbic runs the binary and returns stdout, failing on a non-zero exit.
func limbic(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("limbic %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

func TestTokenizeReference(t *testing.T) {
	testref.Stories15M(t)
	f, err := os.Open(testref.Path("stories15m", "tokenize.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var ref struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ref); err != nil {
			t.Fatal(err)
		}
		var got struct{ IDs []int }
		if err := json.Unmarshal([]byte(limbic(t, "tokenize", "--json", ref.Text)), &got); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got.IDs) != fmt.Sprint(ref.IDs) {
			t.Errorf("tokenize %q = %v, want %v", ref.Text, got.IDs, ref.IDs)
		}
		n++
	}
	if n != 25 {
		t.Errorf("checked %d lines, want 25", n)
	}
}

func TestGenerateGreedyJSON(t *testing.T) {
	testref.Stories15M(t)
	b, err := os.ReadFile(testref.Path("stories15m", "greedy.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Prompt    string `json:"prompt"`
		PromptIDs []int  `json:"prompt_ids"`
		Greedy    []int  `json:"greedy_ids"`
	}
	json.Unmarshal([]byte(strings.SplitN(string(b), "\n", 2)[0]), &ref)
	var got struct {
		PromptIDs []int  `json:"prompt_ids"`
		IDs       []int  `json:"ids"`
		Text      string `json:"text"`
	}
	out := limbic(t, "generate", "-p", ref.Prompt, "-n", fmt.Sprint(len(ref.Greedy)), "--temp", "0", "--json")
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	if fmt.Sprint(got.PromptIDs) != fmt.Sprint(ref.PromptIDs) || fmt.Sprint(got.IDs) != fmt.Sprint(ref.Greedy) {
		t.Errorf("generate --json = %+v, want prompt %v ids %v", got, ref.PromptIDs, ref.Greedy)
	}
	if got.Text == "" {
		t.Error("empty text")
	}
	// Same seed, same sample.
	a := limbic(t, "generate", "-p", "Once upon a time", "-n", "20", "--seed", "7", "--json")
	c := limbic(t, "generate", "-p", "Once upon a time", "-n", "20", "--seed", "7", "--json")
	if a != c {
		t.Errorf("same seed gave different outputs:\n%s\n%s", a, c)
	}
}

func TestCapture(t *testing.T) {
	testref.Stories15M(t)
	out := filepath.Join(t.TempDir(), "c.safetensors")
	limbic(t, "capture", "--ids", "1,9038,2501,263,931", "--hook", "blocks.*.hook_resid_post", "--hook", "ln_final.hook_normalized", "--out", out, "-q")
	f, err := safetensors.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{"tokens": "[5]", "logits": "[5 32000]", "blocks.0.hook_resid_post": "[5 288]",
		"blocks.5.hook_resid_post": "[5 288]", "ln_final.hook_normalized": "[5 288]"}
	for name, shape := range want {
		info, ok := f.Info(name)
		if !ok {
			t.Errorf("missing tensor %s (have %v)", name, f.Names())
			continue
		}
		if got := fmt.Sprint(info.Shape); got != shape {
			t.Errorf("%s shape %s, want %s", name, got, shape)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, args := range [][]string{
		{"generate", "-p", "x", "--temp", "-1"},
		{"capture", "--ids", "1,x", "--out", "/tmp/x.safetensors"},
		{"capture", "--ids", "1,2", "--hook", "blocks.99.hook_resid_post", "--out", "/tmp/x.safetensors"},
		{"--model", "/nonexistent/model.bin", "tokenize", "x"},
		{"convert", "--to", "onnx", "--out", "/tmp/x"},
		{"run", "--emotions", "happy,blissfull", "--dir", "/tmp/limbic-test-never"},
		{"stories", "--denoise", "2", "--dir", "/tmp/limbic-test-never"},
	} {
		cmd := exec.Command(bin, args...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("limbic %v succeeded", args)
			continue
		}
		if s := string(out); !strings.HasPrefix(s, "limbic: ") || strings.Contains(s, "panic") {
			t.Errorf("limbic %v: output %q, want a one-line error", args, s)
		}
	}
}
