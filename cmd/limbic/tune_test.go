package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/peft"
	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/engine/train"
	"github.com/limbic-dev/limbic/engine/train/checkpoint"
	"github.com/limbic-dev/limbic/internal/testref"
)

func writeData(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "train.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTuneRefusals: bad flags and malformed data are one-line errors that
// name the flag, or the file and line, and write nothing.
func TestTuneRefusals(t *testing.T) {
	testref.Stories15M(t)
	good := writeData(t, `{"text": "Once upon a time there was a cat."}`, `{"text": "The dog ran."}`)
	bad := writeData(t, `{"text": "fine"}`, `{"text": "fine", "messages": []}`)
	badJSON := writeData(t, `{"text": "fine"}`, ``, `{"messages": [{"role": "user", "content": "hi"}`)
	noReply := writeData(t, `{"text": "fine"}`, `{"messages": [{"role": "user", "content": "hi"}]}`)
	badTmpl := writeData(t, "{% if %}")
	never := filepath.Join(t.TempDir(), "never")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", never}, "--data"},
		{[]string{"--data", good}, "--out"},
		{[]string{"--data", good, "--out", never, "--steps", "0"}, "--steps"},
		{[]string{"--data", good, "--out", never, "--steps", "3", "--epochs", "1"}, "--steps and --epochs"},
		{[]string{"--data", good, "--out", never, "--epochs", "NaN"}, "--epochs"},
		{[]string{"--data", good, "--out", never, "--batch", "0"}, "--batch"},
		{[]string{"--data", good, "--out", never, "--grad-accum", "-1"}, "--grad-accum"},
		{[]string{"--data", good, "--out", never, "--seq-len", "0"}, "--seq-len"},
		{[]string{"--data", good, "--out", never, "--lr", "0"}, "--lr"},
		{[]string{"--data", good, "--out", never, "--lr", "Inf"}, "--lr"},
		{[]string{"--data", good, "--out", never, "--min-lr", "1"}, "--min-lr"},
		{[]string{"--data", good, "--out", never, "--warmup", "-1"}, "--warmup"},
		{[]string{"--data", good, "--out", never, "--weight-decay", "-0.1"}, "--weight-decay"},
		{[]string{"--data", good, "--out", never, "--clip", "NaN"}, "--clip"},
		{[]string{"--data", good, "--out", never, "--val", "1.5"}, "--val"},
		{[]string{"--data", good, "--out", never, "--val", "2"}, "--val"},
		{[]string{"--data", good, "--out", never, "--val-every", "-1"}, "--val-every"},
		{[]string{"--data", good, "--out", never, "--threads", "-1"}, "--threads"},
		{[]string{"--data", good, "--out", never, "--lora-rank", "-4"}, "--lora-rank"},
		{[]string{"--data", good, "--out", never, "--lora-rank", "4", "--lora-alpha", "0"}, "--lora-alpha"},
		{[]string{"--data", good, "--out", never, "--lora-rank", "4", "--lora-dropout", "1"}, "--lora-dropout"},
		{[]string{"--data", good, "--out", never, "--lora-rank", "4", "--lora-targets", " , "}, "--lora-targets"},
		{[]string{"--data", good, "--out", never, "--merge"}, "--merge"},
		{[]string{"--data", good, "--out", never, "--chat-template", badTmpl}, "--chat-template"},
		{[]string{"--data", good, "--out", never, "--chat-template", filepath.Join(never, "none.jinja")}, "--chat-template"},
		{[]string{"--data", good, "--out", never, "--resume"}, "no complete checkpoint"},
		{[]string{"--data", filepath.Join(never, "none.jsonl"), "--out", never}, "none.jsonl"},
		{[]string{"--data", bad, "--out", never}, bad + `:2: both "text" and "messages"`},
		{[]string{"--data", badJSON, "--out", never}, badJSON + ":3: invalid JSON"},
		{[]string{"--data", noReply, "--out", never, "--val", "0"}, noReply + ":2: no assistant tokens"},
	} {
		out, err := exec.Command(bin, append([]string{"tune", "-q"}, c.args...)...).CombinedOutput()
		s := string(out)
		if err == nil || !strings.HasPrefix(s, "limbic: ") || !strings.Contains(s, c.want) || strings.Contains(s, "panic") || strings.Count(s, "\n") != 1 {
			t.Errorf("tune %v: %v, output %q; want a one-line error containing %q", c.args, err, s, c.want)
		}
	}
	if _, err := os.Stat(never); err == nil {
		t.Errorf("a refused run wrote %s", never)
	}
}

// bucketModel is a toy Trainable over the whole vocabulary: the logits
// after token x are W[x mod K] + b, with seeded dropout on W's row; LoRA
// runs also carry a pair of LoRA matrices for layer 0's q_proj that only
// weight decay moves.
type bucketModel struct {
	k, v  int
	w, b  train.Param
	a, bb *train.Param
	base  *model.Model
}

const buckets = 8

func newBucketModel(m *model.Model, o tuneModelOptions) (*tuneModel, error) {
	v := m.Config.Vocab
	bm := &bucketModel{k: buckets, v: v, base: m}
	bm.w = train.Param{Name: "toy.w", Shape: []int{buckets, v}, Data: make([]float32, buckets*v), Grad: make([]float32, buckets*v), Decay: true}
	bm.b = train.Param{Name: "toy.b", Shape: []int{v}, Data: make([]float32, v), Grad: make([]float32, v)}
	// A full fine-tuning checkpoint carries the toy's weights: start from them.
	if f, err := safetensors.Open(filepath.Join(m.Path, "model.safetensors")); err == nil {
		for _, p := range []*train.Param{&bm.w, &bm.b} {
			if t, err := f.Tensor(p.Name); err == nil {
				x, _ := t.F32()
				copy(p.Data, x)
			}
		}
		f.Close()
	}
	tm := &tuneModel{Trainable: bm}
	if o.LoRA != nil {
		r := o.LoRA.Rank
		name := "model.layers.0.self_attn.q_proj.weight"
		bm.a = &train.Param{Name: peft.TensorName(name, "lora_A"), Shape: []int{r, m.Config.Dim}, Data: make([]float32, r*m.Config.Dim), Grad: make([]float32, r*m.Config.Dim), Decay: true}
		bm.bb = &train.Param{Name: peft.TensorName(name, "lora_B"), Shape: []int{m.Config.Dim, r}, Data: make([]float32, r*m.Config.Dim), Grad: make([]float32, r*m.Config.Dim), Decay: true}
		for i := range bm.a.Data {
			bm.a.Data[i] = float32(i%7) * 0.01
			bm.bb.Data[i] = float32(i%5) * 0.01
		}
		tm.Adapter = func() ([]*tensor.Tensor, error) {
			return []*tensor.Tensor{tensor.FromF32(bm.a.Name, bm.a.Shape, bm.a.Data), tensor.FromF32(bm.bb.Name, bm.bb.Shape, bm.bb.Data)}, nil
		}
	}
	tm.Full = func() (arch.Config, []*tensor.Tensor, error) {
		cfg, ts, err := m.HFTensors()
		if err != nil {
			return cfg, nil, err
		}
		return cfg, append(ts, tensor.FromF32(bm.w.Name, bm.w.Shape, bm.w.Data), tensor.FromF32(bm.b.Name, bm.b.Shape, bm.b.Data)), nil
	}
	return tm, nil
}

func (m *bucketModel) Params() []*train.Param {
	ps := []*train.Param{&m.w, &m.b}
	if m.a != nil {
		ps = append(ps, m.a, m.bb)
	}
	return ps
}

func (m *bucketModel) Loss(b train.Batch) (float64, int, error) { return m.run(b, 0, 0, false) }

func (m *bucketModel) Accumulate(b train.Batch, scale float64, seed uint64) (float64, int, error) {
	time.Sleep(slowToy)
	return m.run(b, scale, seed, true)
}

// slowToy slows the toy's steps down (in TestTuneKillResume's helper).
var slowToy time.Duration

func (m *bucketModel) run(b train.Batch, scale float64, seed uint64, grad bool) (float64, int, error) {
	z := make([]float64, m.v)
	keep := make([]float64, m.v)
	var sum float64
	n := 0
	s := seed
	for i, in := range b.Inputs {
		for j, x := range in {
			y := b.Targets[i][j]
			if y < 0 {
				continue
			}
			if y >= m.v || x < 0 || x >= m.v {
				return 0, 0, fmt.Errorf("token out of range")
			}
			row := (x % m.k) * m.v
			mx := math.Inf(-1)
			for c := range z {
				keep[c] = 1
				if grad {
					s = s*6364136223846793005 + 1442695040888963407
					if s>>60 == 0 { // 1/16
						keep[c] = 0
					}
				}
				z[c] = float64(m.w.Data[row+c])*keep[c] + float64(m.b.Data[c])
				mx = max(mx, z[c])
			}
			var se float64
			for _, zc := range z {
				se += math.Exp(zc - mx)
			}
			lse := mx + math.Log(se)
			sum += lse - z[y]
			n++
			if grad {
				for c, zc := range z {
					d := math.Exp(zc - lse)
					if c == y {
						d--
					}
					m.w.Grad[row+c] += float32(scale * d * keep[c])
					m.b.Grad[c] += float32(scale * d)
				}
			}
		}
	}
	return sum, n, nil
}

// tune runs limbic tune in this process with the toy model.
func tune(t *testing.T, args ...string) error {
	t.Helper()
	old := newTrainable
	newTrainable = newBucketModel
	defer func() { newTrainable = old }()
	root := newRoot()
	root.SetArgs(append([]string{"tune", "-q"}, args...))
	return root.ExecuteContext(context.Background())
}

func toyStories(n int) []string {
	var lines []string
	names := []string{"Tom", "Lily", "Sam", "Mia"}
	for i := range n {
		lines = append(lines, fmt.Sprintf(`{"text": "%s had a red ball. %s played with the ball in the park every day, and it was fun."}`, names[i%4], names[(i+1)%4]))
	}
	return lines
}

func logHistory(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, checkpoint.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Log json.RawMessage `json:"log_history"`
		Val json.RawMessage `json:"val_history"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return string(s.Log) + string(s.Val)
}

// TestTuneFullAndResume trains the toy through limbic tune, checks the
// checkpoints (Hugging Face directories that load as models), then removes
// the last two and resumes: the re-made final checkpoint has the same
// losses, bit for bit.
func TestTuneFullAndResume(t *testing.T) {
	testref.Stories15M(t)
	data := writeData(t, toyStories(12)...)
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"--data", data, "--out", out, "--steps", "6", "--save-every", "2", "--val-every", "3", "--batch", "2", "--grad-accum", "2", "--seq-len", "16", "--lr", "0.05", "--warmup", "2", "--val", "0.25", "--seed", "3", "--threads", "1"}
	if err := tune(t, args...); err != nil {
		t.Fatal(err)
	}
	for _, s := range []int{2, 4, 6} {
		if !checkpoint.Complete(checkpoint.Dir(out, s)) {
			t.Fatalf("checkpoint-%d is missing or incomplete", s)
		}
	}
	final := checkpoint.Dir(out, 6)
	want := logHistory(t, final)
	if !strings.Contains(want, `"step": 6`) || !strings.Contains(want, `"loss"`) {
		t.Fatalf("log history %s", want)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", checkpoint.OptimizerFile} {
		if _, err := os.Stat(filepath.Join(final, f)); err != nil {
			t.Error(err)
		}
	}
	// The checkpoint loads as a model, with the base's logits (the toy
	// leaves the transformer's weights alone).
	ck, err := model.Load(context.Background(), final, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	base, err := model.Load(context.Background(), model.Default, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	toks := []int{1, 365, 2462, 263, 931}
	c1, err1 := model.Capture(ck.Transformer, toks, nil)
	c2, err2 := model.Capture(base.Transformer, toks, nil)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	worst := 0.0
	for i := range c1.Logits {
		worst = math.Max(worst, math.Abs(float64(c1.Logits[i]-c2.Logits[i])))
	}
	if !(worst <= 1e-4) {
		t.Errorf("checkpoint logits differ from the base by %g", worst)
	}
	// Starting again over a run is refused; --resume with other flags too.
	if err := tune(t, args...); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("a second run into the same --out: %v", err)
	}
	os.RemoveAll(checkpoint.Dir(out, 6))
	os.RemoveAll(checkpoint.Dir(out, 4))
	if err := tune(t, append(args, "--resume", "--lr", "0.01")...); err == nil || !strings.Contains(err.Error(), "lr 0.01") {
		t.Errorf("resume with another --lr: %v", err)
	}
	if err := tune(t, append(args, "--resume")...); err != nil {
		t.Fatal(err)
	}
	if got := logHistory(t, final); got != want {
		t.Errorf("resumed run's history\n%s\nwant\n%s", got, want)
	}
}

// TestTuneLoRAMerge: a LoRA run writes PEFT checkpoints that load with
// their base, and --merge writes the merged weights, with the same logits.
func TestTuneLoRAMerge(t *testing.T) {
	testref.Stories15M(t)
	data := writeData(t, append(toyStories(4),
		`{"messages": [{"role": "user", "content": "Tell me a story."}, {"role": "assistant", "content": "Tom had a ball."}]}`,
		`{"messages": [{"role": "user", "content": "How does Tom feel?"}, {"role": "assistant", "content": "Tom feels happy."}]}`)...)
	tmpl := "{% for m in messages %}{% if m['role'] == 'user' %}Human: {{ m['content'] }}\n\n{% else %}Assistant: {{ m['content'] }}\n\n{% endif %}{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
	tf := filepath.Join(t.TempDir(), "chat.jinja")
	os.WriteFile(tf, []byte(tmpl), 0o644)
	out := filepath.Join(t.TempDir(), "lora")
	if err := tune(t, "--data", data, "--out", out, "--steps", "2", "--batch", "2", "--seq-len", "16", "--val", "0", "--lora-rank", "2", "--lora-targets", "q_proj", "--merge", "--chat-template", tf); err != nil {
		t.Fatal(err)
	}
	final := checkpoint.Dir(out, 2)
	c, err := peft.ReadConfig(final)
	if err != nil {
		t.Fatal(err)
	}
	if c.R != 2 || c.BaseModel != model.Default || c.PeftType != "LORA" || len(c.TargetModules) != 1 {
		t.Errorf("adapter config %+v", c)
	}
	if _, err := os.Stat(filepath.Join(final, "model.safetensors")); err == nil {
		t.Error("a LoRA checkpoint holds full weights")
	}
	toks := []int{1, 365, 2462, 263, 931}
	var logits [][]float32
	for _, ref := range []string{final, filepath.Join(out, "merged"), model.Default} {
		m, err := model.Load(context.Background(), ref, model.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Tok.ChatTemplate(); ref != model.Default && got != tmpl {
			t.Errorf("%s: chat template %q, want the one trained with", ref, got)
		}
		cp, err := model.Capture(m.Transformer, toks, nil)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		logits = append(logits, cp.Logits)
	}
	var same, moved float64
	for i := range logits[0] {
		same = math.Max(same, math.Abs(float64(logits[0][i]-logits[1][i])))
		moved = math.Max(moved, math.Abs(float64(logits[0][i]-logits[2][i])))
	}
	if !(same <= 1e-4) || !(moved > 1e-3) {
		t.Errorf("adapter vs merged: max |Δ| %g (want ≤ 1e-4); vs base %g (want > 1e-3)", same, moved)
	}
}

// tuneHelperEnv names the environment variable that makes the test binary
// TestTuneKillResume's helper: the arguments of its tune run, as JSON.
const tuneHelperEnv = "LIMBIC_TUNE_HELPER_ARGS"

// TestTuneKillResume kills limbic tune (in a helper process, with the toy
// model) with SIGKILL while it writes a checkpoint after every step, resumes
// it with --resume, and compares the final checkpoint's losses with an
// uninterrupted run's, bit for bit.
func TestTuneKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a helper process")
	}
	testref.Stories15M(t)
	data := writeData(t, toyStories(16)...)
	dir := t.TempDir()
	// LoRA checkpoints are small, so that saving after every step is quick.
	args := func(out, saveEvery string) []string {
		return []string{"--data", data, "--out", out, "--steps", "20", "--save-every", saveEvery, "--val-every", "7", "--batch", "2", "--grad-accum", "2",
			"--seq-len", "16", "--lr", "0.05", "--warmup", "3", "--val", "0.2", "--seed", "9", "--threads", "1", "--lora-rank", "2"}
	}
	ref := filepath.Join(dir, "ref")
	if err := tune(t, args(ref, "0")...); err != nil {
		t.Fatal(err)
	}
	want := logHistory(t, checkpoint.Dir(ref, 20))

	out := filepath.Join(dir, "killed")
	a, _ := json.Marshal(args(out, "1"))
	cmd := exec.Command(os.Args[0], "-test.run=^TestTuneHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), tuneHelperEnv+"="+string(a))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if checkpoint.Complete(checkpoint.Dir(out, 6)) {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("the helper wrote no checkpoint-6 within 2 minutes")
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the helper was not killed: %v", cmd.ProcessState)
	}
	last, _ := checkpoint.Latest(out)
	t.Logf("killed after %s", filepath.Base(last))
	if last == checkpoint.Dir(out, 20) {
		t.Fatal("the helper finished before the kill")
	}
	if err := tune(t, append(args(out, "1"), "--resume")...); err != nil {
		t.Fatal(err)
	}
	if got := logHistory(t, checkpoint.Dir(out, 20)); got != want {
		t.Errorf("resumed after SIGKILL:\n%s\nuninterrupted:\n%s", got, want)
	}
}

// TestTuneHelper is the process TestTuneKillResume kills.
func TestTuneHelper(t *testing.T) {
	s := os.Getenv(tuneHelperEnv)
	if s == "" {
		t.Skip("a helper for TestTuneKillResume")
	}
	var args []string
	if err := json.Unmarshal([]byte(s), &args); err != nil {
		t.Fatal(err)
	}
	slowToy = 20 * time.Millisecond
	if err := tune(t, args...); err != nil {
		t.Fatal(err)
	}
}
