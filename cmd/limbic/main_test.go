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
	"time"

	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/hub"
	"github.com/limbic-dev/limbic/internal/testref"
)

var bin string

func TestMain(m *testing.M) {
	if os.Getenv(tuneHelperEnv) != "" { // TestTuneKillResume's helper: no binary to build
		os.Exit(m.Run())
	}
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

// TestNumericFlags: every numeric flag out of range (negative, zero, past
// the context, non-finite) is a one-line error naming the flag, never a
// panic or a run with a silently adjusted value.
func TestNumericFlags(t *testing.T) {
	testref.Stories15M(t)
	never := filepath.Join(t.TempDir(), "never")
	tests := []struct {
		args []string
		flag string
	}{
		{[]string{"bench", "--decode", "-1"}, "--decode"},
		{[]string{"bench", "--prefill", "0"}, "--prefill"},
		{[]string{"bench", "--prefill", "64", "--ctx", "32"}, "--prefill"},
		{[]string{"bench", "--repeats", "0"}, "--repeats"},
		{[]string{"bench", "--threads", "-2"}, "--threads"},
		{[]string{"generate", "-p", "x", "-n", "0"}, "--tokens"},
		{[]string{"generate", "-p", "x", "-n", "-5"}, "--tokens"},
		{[]string{"generate", "-p", "x", "-n", "100000"}, "--tokens"},
		{[]string{"generate", "-p", "x", "--temp", "Inf"}, "--temp"},
		{[]string{"generate", "-p", "x", "--top-p", "0"}, "--top-p"},
		{[]string{"generate", "-p", "x", "--top-p", "NaN"}, "--top-p"},
		{[]string{"generate", "-p", "x", "--ctx", "-1"}, "--ctx"},
		{[]string{"capture", "--ids", "1,-3", "--out", filepath.Join(never, "x.safetensors")}, "--ids"},
		{[]string{"capture", "--ids", "1,99999", "--out", filepath.Join(never, "x.safetensors")}, "--ids"},
		{[]string{"stories", "--per-topic", "-1", "--dir", never}, "--per-topic"},
		{[]string{"stories", "--batch", "0", "--dir", never}, "--batch"},
		{[]string{"stories", "--max-tokens", "-4", "--dir", never}, "--max-tokens"},
		{[]string{"stories", "--max-tokens", "5000", "--dir", never}, "--max-tokens"},
		{[]string{"extract", "--offset", "-2", "--dir", never}, "--offset"},
		{[]string{"stories", "--neutral-per-topic", "-1", "--dir", never}, "--neutral-per-topic"},
		{[]string{"serve", "--max-seqs", "0", "--no-db"}, "--max-seqs"},
		{[]string{"serve", "--max-tokens", "-1", "--no-db"}, "--max-tokens"},
		{[]string{"serve", "--trace-stride", "0", "--no-db"}, "--trace-stride"},
		{[]string{"serve", "--max-body", "0", "--no-db"}, "--max-body"},
		{[]string{"serve", "--retention", "-1h", "--no-db"}, "--retention"},
		{[]string{"synth", "--layers", "0", "--out", never}, "--layers"},
		{[]string{"synth", "--heads", "-1", "--out", never}, "--heads"},
		{[]string{"synth", "--vocab", "0", "--out", never}, "--vocab"},
		{[]string{"synth", "--rope-theta", "NaN", "--out", never}, "--rope-theta"},
		{[]string{"synth", "--norm-eps", "0", "--out", never}, "--norm-eps"},
		{[]string{"experiment", "feel", "--strength", "NaN"}, "--strength"},
		{[]string{"experiment", "feel", "--strength", "-0.5"}, "--strength"},
	}
	for _, tt := range tests {
		// A flag that is not checked may start a server or a long run: cap it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, bin, tt.args...).CombinedOutput()
		cancel()
		s := string(out)
		if err == nil || !strings.HasPrefix(s, "limbic: ") || !strings.Contains(s, tt.flag) || strings.Contains(s, "panic") {
			t.Errorf("limbic %v: %v, output %q; want a one-line error naming %s", tt.args, err, s, tt.flag)
		}
	}
	if _, err := os.Stat(never); err == nil {
		t.Errorf("a refused command wrote %s", never)
	}
}

// TestSeedDrawnAndPrinted: sampling without --seed draws a seed, prints it on
// stderr and in --json, and that seed repeats the run.
func TestSeedDrawnAndPrinted(t *testing.T) {
	testref.Stories15M(t)
	type gen struct {
		Text string `json:"text"`
		Seed uint64 `json:"seed"`
	}
	run := func(args ...string) (gen, string) {
		cmd := exec.Command(bin, append([]string{"generate", "-p", "Once upon a time", "-n", "24", "--temp", "1", "--json"}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("generate %v: %v\n%s", args, err, stderr.String())
		}
		var g gen
		if err := json.Unmarshal(out, &g); err != nil {
			t.Fatal(err)
		}
		return g, stderr.String()
	}
	a, errA := run()
	b, _ := run()
	if a.Seed == b.Seed || a.Text == b.Text {
		t.Errorf("two runs without --seed: seeds %d and %d, texts %q and %q; want both different", a.Seed, b.Seed, a.Text, b.Text)
	}
	if want := fmt.Sprintf("--seed %d", a.Seed); !strings.Contains(errA, want) {
		t.Errorf("stderr %q does not say %q", errA, want)
	}
	again, _ := run("--seed", fmt.Sprint(a.Seed))
	if again.Text != a.Text || again.Seed != a.Seed {
		t.Errorf("--seed %d gave %q (seed %d), want the first run's %q", a.Seed, again.Text, again.Seed, a.Text)
	}
}

// TestStdinDash: "-" reads standard input wherever a command takes a text.
func TestStdinDash(t *testing.T) {
	testref.Stories15M(t)
	text := "Lily was happy."
	want := limbic(t, "tokenize", text)
	for _, args := range [][]string{{"tokenize", "-"}, {"generate", "-p", "-", "-n", "1", "--temp", "0", "--json"}} {
		cmd := exec.Command(bin, args...)
		cmd.Stdin = strings.NewReader(text)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("limbic %v: %v", args, err)
		}
		got := string(out)
		if args[0] == "generate" {
			var g struct {
				PromptIDs []int `json:"prompt_ids"`
			}
			if err := json.Unmarshal(out, &g); err != nil {
				t.Fatal(err)
			}
			got = strings.Trim(strings.ReplaceAll(fmt.Sprint(g.PromptIDs), " ", " "), "[]") + "\n"
		}
		if got != want {
			t.Errorf("limbic %v with %q on stdin: %q, want %q", args, text, got, want)
		}
	}
}

// TestFetchShowsSize: fetch says how much it holds (here already fetched).
func TestFetchShowsSize(t *testing.T) {
	testref.Stories15M(t)
	var got struct {
		Dir   string `json:"dir"`
		Bytes int64  `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(limbic(t, "fetch", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Bytes != embeddedBytes {
		t.Errorf("fetch --json: bytes %d, want %d (model.bin + tokenizer.bin)", got.Bytes, embeddedBytes)
	}
	if out := limbic(t, "fetch"); !strings.Contains(out, "(61.2 MB)") {
		t.Errorf("fetch: %q, want the total size (61.2 MB)", out)
	}
}

// TestInterruptSaysHowToResume: Ctrl-C on a resumable command prints the
// exact command that resumes it.
func TestInterruptSaysHowToResume(t *testing.T) {
	testref.Stories15M(t)
	dir := filepath.Join(t.TempDir(), "run dir")
	args := []string{"stories", "--dir", dir, "--emotions", "happy,sad", "--per-topic", "500", "-q"}
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(dir, "stories.jsonl")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("interrupted stories: %v, want exit status 130\n%s", err, stderr.String())
	}
	want := bin + " stories --dir '" + dir + "' --emotions happy,sad --per-topic 500 -q"
	if !strings.Contains(stderr.String(), "resume with\n  "+want+"\n") {
		t.Errorf("stderr %q does not give the command %q", stderr.String(), want)
	}
}
