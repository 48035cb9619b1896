package model

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/internal/approx"
	"github.com/limbic-dev/limbic/internal/testref"
)

var (
	loadOnce sync.Once
	embedded *Model
	hfModel  *Model
	loadErr  error
)

// models returns the embedded model loaded from llama2.c and the same model
// converted to a Hugging Face directory and loaded back.
func models(t *testing.T) map[string]*Model {
	t.Helper()
	testref.Stories15M(t)
	loadOnce.Do(func() {
		embedded, loadErr = Load(context.Background(), Default, LoadOptions{})
		if loadErr != nil {
			return
		}
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("limbic-test-hf-%d", os.Getpid()))
		if loadErr = embedded.ExportHF(dir, true); loadErr != nil {
			return
		}
		hfModel, loadErr = Load(context.Background(), dir, LoadOptions{})
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return map[string]*Model{"llama2c": embedded, "hf": hfModel}
}

type reference struct {
	prompt    string
	tokens    []int
	positions []int
	logits    []float32 // [len(positions), vocab]
	resid     [][]float32
}

func readReference(t *testing.T, path string) reference {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r reference
	r.prompt = f.Metadata["prompt"]
	get := func(name string) []float32 {
		x, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := x.F32()
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), v...)
	}
	ints := func(name string) []int {
		x, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := x.Ints()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	r.tokens, r.positions, r.logits = ints("tokens"), ints("logit_positions"), get("logits")
	for l := 0; f.Has(fmt.Sprintf("resid.%d", l)); l++ {
		r.resid = append(r.resid, get(fmt.Sprintf("resid.%d", l)))
	}
	return r
}

// TestReferenceForward checks logits and every layer's residual stream
// against the float64 reference, through both loaders.
func TestReferenceForward(t *testing.T) {
	files, _ := filepath.Glob(testref.Path("stories15m", "forward", "prompt-*.safetensors"))
	if len(files) != 5 {
		t.Fatalf("found %d reference files, want 5", len(files))
	}
	for name, m := range models(t) {
		for _, file := range files {
			ref := readReference(t, file)
			if got := m.Tok.Encode(ref.prompt, true); fmt.Sprint(got) != fmt.Sprint(ref.tokens) {
				t.Errorf("%s: tokens of %q = %v, want %v", name, ref.prompt, got, ref.tokens)
			}
			c, err := Capture(m.Transformer, ref.tokens, []string{"blocks.*.hook_resid_post"})
			if err != nil {
				t.Fatal(err)
			}
			v := m.Vocab
			worst := 0.0
			for k, p := range ref.positions {
				worst = approx.Worst(worst, approx.MaxAbsDiff(c.Logits[p*v:(p+1)*v], ref.logits[k*v:(k+1)*v]))
			}
			if !(worst <= 0.05) {
				t.Errorf("%s %s: max |Δlogit| = %.4f, want ≤ 0.05", name, filepath.Base(file), worst)
			}
			if len(c.Hooks) != len(ref.resid) {
				t.Fatalf("%s: captured %d layers, reference has %d", name, len(c.Hooks), len(ref.resid))
			}
			worstR := 0.0
			for l, h := range c.Hooks {
				worstR = approx.Worst(worstR, approx.MaxAbsDiff(h.Data, ref.resid[l]))
			}
			if !(worstR <= 0.02) {
				t.Errorf("%s %s: max |Δresid| = %.4f, want ≤ 0.02", name, filepath.Base(file), worstR)
			}
			t.Logf("%s %s: T=%d max|Δlogit| %.2e max|Δresid| %.2e", name, filepath.Base(file), len(ref.tokens), worst, worstR)
		}
	}
}

// TestHFExportSameLogits checks that the converted directory gives the same
// logits as the llama2.c original (the rotary layout differs, the model not).
func TestHFExportSameLogits(t *testing.T) {
	ms := models(t)
	toks := ms["llama2c"].Tok.Encode("Once upon a time, there was a little dog named Max. Max was sad.", true)
	a, err := Capture(ms["llama2c"].Transformer, toks, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Capture(ms["hf"].Transformer, toks, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := approx.MaxAbsDiff(a.Logits, b.Logits); !(d <= 1e-4) {
		t.Errorf("max |Δlogit| llama2c vs hf = %g, want ≤ 1e-4", d)
	}
}

func TestGreedyReference(t *testing.T) {
	f, err := os.Open(testref.Path("stories15m", "greedy.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var ref struct {
			Prompt    string `json:"prompt"`
			PromptIDs []int  `json:"prompt_ids"`
			Greedy    []int  `json:"greedy_ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ref); err != nil {
			t.Fatal(err)
		}
		n++
		for name, m := range models(t) {
			ids := m.Tok.Encode(ref.Prompt, true)
			if fmt.Sprint(ids) != fmt.Sprint(ref.PromptIDs) {
				t.Fatalf("%s: prompt ids %v, want %v", name, ids, ref.PromptIDs)
			}
			res, err := Generate(context.Background(), m.Transformer, []Request{{Prompt: ids, Max: len(ref.Greedy)}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := res[0].IDs; fmt.Sprint(got) != fmt.Sprint(ref.Greedy) {
				t.Errorf("%s %q: greedy ids\n got %v\nwant %v", name, ref.Prompt, got, ref.Greedy)
			}
		}
	}
	if n == 0 {
		t.Fatal("no reference lines")
	}
}

// TestBatchedGenerationMatchesSingle decodes several prompts together and
// one by one: a sequence's tokens must not depend on its batch mates.
func TestBatchedGenerationMatchesSingle(t *testing.T) {
	m := models(t)["llama2c"]
	prompts := []string{"Tom was angry.", "Once upon a time, there was a big red ball", "Sue felt happy"}
	var reqs []Request
	for i, p := range prompts {
		reqs = append(reqs, Request{Prompt: m.Tok.Encode(p, true), Max: 20 + 5*i, Sampling: Sampling{Temp: 0.9, Seed: uint64(i)}})
	}
	batch, err := Generate(context.Background(), m.Transformer, reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs {
		single, err := Generate(context.Background(), m.Transformer, []Request{r}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(single[0].IDs) != fmt.Sprint(batch[i].IDs) {
			t.Errorf("prompt %d: batched %v, alone %v", i, batch[i].IDs, single[0].IDs)
		}
	}
}

// TestHookAddPropagates adds a vector at blocks.3.hook_resid_post: layers
// 0–2 are untouched, layer 3 moves by exactly the vector, later layers move
// as a forward from the shifted residual does (the same shift added at
// blocks.4.hook_resid_pre gives the same result), and so do the logits.
func TestHookAddPropagates(t *testing.T) {
	m := models(t)["llama2c"].Transformer
	toks := models(t)["llama2c"].Tok.Encode("Lily was happy to see her friend.", true)
	vec := make([]float32, m.Dim)
	for i := range vec {
		vec[i] = float32(math.Sin(float64(i))) * 0.5
	}
	run := func(p hook.Point) ([][]float32, []float32) {
		var hs hook.Set
		if p.Layer >= 0 {
			hs.Add(p, hook.AddVector(vec, nil))
		}
		caps := make([]*hook.Capture, m.Layers)
		for l := range caps {
			caps[l] = &hook.Capture{}
			hs.Add(hook.Block(l, hook.ResidPost), caps[l].Func())
		}
		s := &arch.Seq{Cache: m.NewCache(), Tokens: toks, Hooks: &hs, Logits: arch.AllLogits}
		if err := m.Forward([]*arch.Seq{s}); err != nil {
			t.Fatal(err)
		}
		out := make([][]float32, m.Layers)
		for l, c := range caps {
			out[l] = c.Data
		}
		return out, s.Out
	}
	base, baseLogits := run(hook.Point{Layer: -1})
	steer, steerLogits := run(hook.Block(3, hook.ResidPost))
	alt, altLogits := run(hook.Block(4, hook.ResidPre))
	for l := 0; l < 3; l++ {
		if d := approx.MaxAbsDiff(base[l], steer[l]); d != 0 {
			t.Errorf("layer %d changed by %g before the hook", l, d)
		}
	}
	d := m.Dim
	for r := 0; r < len(toks); r++ {
		for j := 0; j < d; j++ {
			if got := steer[3][r*d+j] - base[3][r*d+j]; !(approx.Diff(got, vec[j]) <= 1e-5) {
				t.Fatalf("layer 3 row %d dim %d shifted by %g, want %g", r, j, got, vec[j])
			}
		}
	}
	for l := 4; l < m.Layers; l++ {
		if d := approx.MaxAbsDiff(base[l], steer[l]); !(d >= 1e-3 && d < math.Inf(1)) {
			t.Errorf("layer %d moved by %g, want a finite shift ≥ 1e-3", l, d)
		}
		if dd := approx.MaxAbsDiff(steer[l], alt[l]); !(dd <= 1e-5) {
			t.Errorf("layer %d: shift at resid_post 3 and resid_pre 4 differ by %g", l, dd)
		}
	}
	if d, dd := approx.MaxAbsDiff(baseLogits, steerLogits), approx.MaxAbsDiff(steerLogits, altLogits); !(d >= 1e-3 && d < math.Inf(1) && dd <= 1e-5) {
		t.Errorf("logits do not follow the shift: moved by %g (want finite ≥ 1e-3), resid_post 3 vs resid_pre 4 differ by %g (want ≤ 1e-5)", d, dd)
	}
}

// TestHookSpan steers only positions [3, 5): earlier positions never move
// (causal attention), later ones do.
func TestHookSpan(t *testing.T) {
	m := models(t)["llama2c"].Transformer
	toks := models(t)["llama2c"].Tok.Encode("Lily was happy to see her friend at the park.", true)
	vec := make([]float32, m.Dim)
	for i := range vec {
		vec[i] = 1
	}
	capture := func(steer bool) []float32 {
		var hs hook.Set
		if steer {
			hs.Add(hook.Block(1, hook.ResidPost), hook.AddVector(vec, hook.Spans{{From: 3, To: 5}}))
		}
		c := &hook.Capture{}
		hs.Add(hook.Block(5, hook.ResidPost), c.Func())
		s := &arch.Seq{Cache: m.NewCache(), Tokens: toks, Hooks: &hs}
		if err := m.Forward([]*arch.Seq{s}); err != nil {
			t.Fatal(err)
		}
		return c.Data
	}
	a, b := capture(false), capture(true)
	d := m.Dim
	for r := range toks {
		diff := approx.MaxAbsDiff(a[r*d:(r+1)*d], b[r*d:(r+1)*d])
		if r < 3 && diff != 0 {
			t.Errorf("position %d before the span moved by %g", r, diff)
		}
		if r >= 3 && !(diff >= 1e-3 && diff < math.Inf(1)) {
			t.Errorf("position %d moved by %g, want a finite shift ≥ 1e-3", r, diff)
		}
	}
}

func TestNoHooksNoCapture(t *testing.T) {
	m := models(t)["llama2c"].Transformer
	s := &arch.Seq{Cache: m.NewCache(), Tokens: []int{1, 100, 200}, Logits: arch.LastLogits}
	if err := m.Forward([]*arch.Seq{s}); err != nil {
		t.Fatal(err)
	}
	if len(s.Out) != m.Vocab {
		t.Fatalf("got %d logits, want %d", len(s.Out), m.Vocab)
	}
}

func TestBadInput(t *testing.T) {
	m := models(t)["llama2c"]
	dir := t.TempDir()
	orig, err := os.ReadFile(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{"truncated", write("trunc.bin", orig[:len(orig)/2]), "truncated"},
		{"trailing", write("long.bin", append(append([]byte(nil), orig...), 1, 2, 3, 4)), "trailing"},
		{"tiny", write("tiny.bin", orig[:10]), "too short"},
		{"garbage", write("garbage.bin", []byte(strings.Repeat("\xff", 64))), "not a llama2.c checkpoint"},
	}
	for _, tt := range tests {
		_, err := Load(context.Background(), tt.path, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), filepath.Base(tt.path)) {
			t.Errorf("%s: error %v, want one naming the file and saying %q", tt.name, err, tt.want)
		}
	}

	// Hugging Face directory with a config missing a field.
	hf := filepath.Join(dir, "hf")
	if err := os.MkdirAll(hf, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(hfModel.Path, "config.json"))
	var c map[string]any
	json.Unmarshal(cfg, &c)
	delete(c, "hidden_size")
	cb, _ := json.Marshal(c)
	os.WriteFile(filepath.Join(hf, "config.json"), cb, 0o644)
	os.Symlink(filepath.Join(hfModel.Path, "model.safetensors"), filepath.Join(hf, "model.safetensors"))
	os.Symlink(filepath.Join(hfModel.Path, "tokenizer.json"), filepath.Join(hf, "tokenizer.json"))
	if _, err := Load(context.Background(), hf, LoadOptions{}); err == nil || !strings.Contains(err.Error(), `"hidden_size"`) {
		t.Errorf("config without hidden_size: error %v", err)
	}
	// A malformed tokenizer.json.
	os.WriteFile(filepath.Join(hf, "config.json"), cfg, 0o644)
	os.Remove(filepath.Join(hf, "tokenizer.json"))
	os.WriteFile(filepath.Join(hf, "tokenizer.json"), []byte(`{"model": {"type": "BPE", "vocab": [}`), 0o644)
	if _, err := Load(context.Background(), hf, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("malformed tokenizer.json: error %v", err)
	}

	// A prompt longer than the context.
	long := make([]int, m.MaxSeq+1)
	for i := range long {
		long[i] = 100
	}
	if _, err := Generate(context.Background(), m.Transformer, []Request{{Prompt: long, Max: 1}}, nil); err == nil || !strings.Contains(err.Error(), "context length") {
		t.Errorf("overlong prompt: error %v", err)
	}
	if _, err := Capture(m.Transformer, long, nil); err == nil || !strings.Contains(err.Error(), "context length") {
		t.Errorf("overlong capture: error %v", err)
	}
	if _, err := Capture(m.Transformer, []int{1, m.Vocab}, nil); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("out-of-range token: error %v", err)
	}
}

func TestWeightsHash(t *testing.T) {
	m := models(t)["llama2c"]
	h, err := m.WeightsHash()
	if err != nil {
		t.Fatal(err)
	}
	// The embedded model's published digest (hub checks it on fetch).
	if want := "sha256:cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a"; h != want {
		t.Errorf("hash %s, want %s", h, want)
	}
	hh, err := models(t)["hf"].WeightsHash()
	if err != nil || hh == h || len(hh) != len(h) {
		t.Errorf("hf hash %s, %v", hh, err)
	}
}
