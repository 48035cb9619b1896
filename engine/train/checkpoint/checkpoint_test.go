package checkpoint

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/engine/format/peft"
	"github.com/limbic-dev/limbic/engine/format/safetensors"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/engine/train"
	"github.com/limbic-dev/limbic/engine/train/data"
	"github.com/limbic-dev/limbic/engine/train/internal/toy"
)

const vocab = 9

// toyData is a data.Set over a synthetic stream of tokens.
func toyData(t testing.TB) *data.Set {
	var exs []data.Example
	s := uint64(3)
	for range 40 {
		var e data.Example
		for j := range 7 {
			s = s*6364136223846793005 + 1442695040888963407
			tok := int(s>>33) % vocab
			if j > 0 && (s>>17)%4 != 0 {
				tok = (e.Tokens[j-1] + 2) % vocab
			}
			e.Tokens = append(e.Tokens, tok)
			e.Loss = append(e.Loss, j != 3)
		}
		exs = append(exs, e)
	}
	rows, err := data.Pack(exs, 6)
	if err != nil {
		t.Fatal(err)
	}
	set, err := data.NewSet(rows, 3, 2, 11)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func toyConfig() train.Config {
	return train.Config{Steps: 60, GradAccum: 2, Schedule: train.Schedule{LR: 0.05, Min: 0.001, Warmup: 5, Total: 60},
		Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Clip: 1, SaveEvery: 1, Seed: 5}
}

func newToy() *toy.Model {
	m := toy.New(vocab, 1)
	m.Dropout = 0.1
	return m
}

// saver writes the toy model's full checkpoints under out.
func saver(out string, m *toy.Model, pause time.Duration) func(context.Context, *train.State) error {
	return func(_ context.Context, st *train.State) error {
		var ts []*tensor.Tensor
		for _, p := range m.Params() {
			ts = append(ts, tensor.FromF32(p.Name, p.Shape, p.Data))
		}
		_, err := Write(out, Checkpoint{ConfigJSON: []byte(`{"model_type": "toy"}`), Tensors: ts, State: st, Params: m.Params(), TuneConfig: map[string]any{"seq_len": 6}})
		time.Sleep(pause)
		return err
	}
}

// resume continues the run in out from its latest checkpoint.
func resume(t *testing.T, out string) (*train.State, *toy.Model) {
	t.Helper()
	dir, err := Latest(out)
	if err != nil || dir == "" {
		t.Fatalf("Latest(%s) = %q, %v", out, dir, err)
	}
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := toy.New(vocab, 77) // other weights, replaced from the checkpoint
	m.Dropout = 0.1
	f, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range m.Params() {
		w, err := f.Tensor(p.Name)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := w.F32()
		copy(p.Data, v)
	}
	if err := l.Restore(m.Params()); err != nil {
		t.Fatal(err)
	}
	st, err := train.Run(context.Background(), toyConfig(), m, toyData(t), train.RunOptions{Resume: l.State, Save: saver(out, m, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return st, m
}

func sameRun(t *testing.T, got, want *train.State, gm, wm *toy.Model) {
	t.Helper()
	if len(got.Log) != len(want.Log) {
		t.Fatalf("%d steps logged, want %d", len(got.Log), len(want.Log))
	}
	for i := range want.Log {
		if got.Log[i] != want.Log[i] {
			t.Fatalf("step %d: resumed %+v, uninterrupted %+v", i+1, got.Log[i], want.Log[i])
		}
	}
	for i, p := range wm.Params() {
		for j, x := range p.Data {
			if math.Float32bits(x) != math.Float32bits(gm.Params()[i].Data[j]) {
				t.Fatalf("%s[%d]: resumed %v, uninterrupted %v", p.Name, j, gm.Params()[i].Data[j], x)
			}
		}
	}
}

func TestWriteLoadResume(t *testing.T) {
	ref := newToy()
	want, err := train.Run(context.Background(), toyConfig(), ref, toyData(t), train.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cfg := toyConfig()
	cfg.Steps, cfg.Schedule.Total = 60, 60
	cfg.SaveEvery = 20
	m := newToy()
	ctx, cancel := context.WithCancel(context.Background())
	_, err = train.Run(ctx, cfg, m, toyData(t), train.RunOptions{Save: saver(out, m, 0), Progress: func(p train.Progress) {
		if p.Step == 27 {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("cancelled run: no error")
	}
	// A torn write and a directory without the completion mark are ignored.
	os.MkdirAll(filepath.Join(out, ".checkpoint-40.tmp-123"), 0o755)
	os.MkdirAll(filepath.Join(out, "checkpoint-50"), 0o755)
	if dir, _ := Latest(out); filepath.Base(dir) != "checkpoint-20" {
		t.Fatalf("Latest = %q, want checkpoint-20", dir)
	}
	if _, err := Load(filepath.Join(out, "checkpoint-50")); err == nil {
		t.Error("Load of an incomplete checkpoint: no error")
	}
	got, gm := resume(t, out)
	sameRun(t, got, want, gm, ref)
	// Every file of a Hugging Face checkpoint is there.
	for _, f := range []string{"config.json", "model.safetensors", StateFile, OptimizerFile, DoneFile} {
		if _, err := os.Stat(filepath.Join(out, "checkpoint-60", f)); err != nil {
			t.Error(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "checkpoint-60", StateFile))
	for _, s := range []string{`"global_step": 60`, `"log_history"`, `"learning_rate"`, `"rng_state"`, `"tune_config": {`, `"seq_len": 6`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("trainer_state.json lacks %s", s)
		}
	}
	// Writing over a complete checkpoint is refused.
	st := *got
	if _, err := Write(out, Checkpoint{ConfigJSON: []byte(`{}`), Tensors: []*tensor.Tensor{}, State: &st, Params: gm.Params()}); err == nil {
		t.Error("overwriting checkpoint-60: no error")
	}
}

// TestKillResume kills a training process with SIGKILL while it writes a
// checkpoint after every step, resumes from the latest complete one, and
// checks the losses and weights against an uninterrupted run, bit for bit.
func TestKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a helper process")
	}
	ref := newToy()
	want, err := train.Run(context.Background(), toyConfig(), ref, toyData(t), train.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperTrain$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LIMBIC_TRAIN_HELPER_OUT="+out)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if dir, _ := Latest(out); dir != "" && dir >= Dir(out, 12) && len(filepath.Base(dir)) == len("checkpoint-12") {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break
		}
	}
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("the helper wrote no checkpoint-12 within 30 s (exit: %v)", werr)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the helper was not killed (it ended: %v)", werr)
	}
	dir, _ := Latest(out)
	t.Logf("killed after %s", filepath.Base(dir))
	if dir == Dir(out, 60) {
		t.Fatal("the helper finished before the kill")
	}
	got, gm := resume(t, out)
	sameRun(t, got, want, gm, ref)
}

// TestHelperTrain is the process TestKillResume kills.
func TestHelperTrain(t *testing.T) {
	out := os.Getenv("LIMBIC_TRAIN_HELPER_OUT")
	if out == "" {
		t.Skip("a helper for TestKillResume")
	}
	m := newToy()
	_, err := train.Run(context.Background(), toyConfig(), m, toyData(t), train.RunOptions{Save: saver(out, m, 20*time.Millisecond)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func TestAdapterCheckpointAndMerge(t *testing.T) {
	// A 4×3 weight adapted with rank 2: merged = W + (alpha/r)·B·A.
	w := tensor.FromF32("model.layers.0.self_attn.q_proj.weight", []int{4, 3}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	other := tensor.FromF32("model.norm.weight", []int{3}, []float32{1, 1, 1})
	A := tensor.FromF32(peft.TensorName(w.Name, "lora_A"), []int{2, 3}, []float32{1, 0, 0, 0, 1, 0})
	B := tensor.FromF32(peft.TensorName(w.Name, "lora_B"), []int{4, 2}, []float32{1, 0, 0, 1, 1, 1, 0, 0})
	cfg := peft.NewConfig("stories15m", 2, 4, 0.05, []string{"q_proj"})
	files := AdapterFiles{Config: cfg, Tensors: []*tensor.Tensor{A, B}}
	merged, err := Merge([]*tensor.Tensor{w, other}, files)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := merged[0].F32()
	// B·A = [[1 0 0] [0 1 0] [1 1 0] [0 0 0]], times alpha/r = 2.
	want := []float32{3, 2, 3, 4, 7, 6, 9, 10, 9, 10, 11, 12}
	if !slices.Equal(got, want) {
		t.Errorf("merged %v, want %v", got, want)
	}
	if merged[1] != other {
		t.Error("a weight the adapter does not adapt was changed")
	}
	if _, err := Merge([]*tensor.Tensor{other}, files); err == nil || !strings.Contains(err.Error(), "q_proj") {
		t.Errorf("merge into a model without q_proj: %v", err)
	}
	bad := tensor.FromF32(w.Name, []int{3, 3}, make([]float32, 9))
	if _, err := Merge([]*tensor.Tensor{bad}, files); err == nil || !strings.Contains(err.Error(), "[4 3]") {
		t.Errorf("merge into a weight of another shape: %v", err)
	}

	// A LoRA checkpoint is a PEFT directory peft.Open reads back.
	out := t.TempDir()
	p := &train.Param{Name: A.Name, Shape: A.Shape, Data: make([]float32, 6), Grad: make([]float32, 6)}
	st := &train.State{Step: 3, Seed: 1, Opt: &train.AdamW{T: 3, M: [][]float32{{1, 2, 3, 4, 5, 6}}, V: [][]float32{{6, 5, 4, 3, 2, 1}}}}
	dir, err := Write(out, Checkpoint{Adapter: &files, State: st, Params: []*train.Param{p}, StoreParams: true})
	if err != nil {
		t.Fatal(err)
	}
	ad, err := peft.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ad.Config.R != 2 || ad.Config.LoraAlpha != 4 || ad.Config.TaskType != "CAUSAL_LM" || len(ad.Pairs) != 1 {
		t.Errorf("adapter read back: %+v", ad.Config)
	}
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		t.Error("a LoRA checkpoint has full weights")
	}
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Adapter == nil || l.State.Step != 3 || l.State.Opt.T != 3 {
		t.Fatalf("loaded %+v", l)
	}
	p.Data = []float32{9, 9, 9, 9, 9, 9}
	if err := l.Restore([]*train.Param{p}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.State.Opt.V[0], []float32{6, 5, 4, 3, 2, 1}) || !slices.Equal(p.Data, make([]float32, 6)) {
		t.Errorf("restored V %v, param %v", l.State.Opt.V[0], p.Data)
	}
	q := &train.Param{Name: "missing", Shape: []int{6}, Data: make([]float32, 6)}
	if err := l.Restore([]*train.Param{q}); err == nil {
		t.Error("Restore of a parameter the checkpoint lacks: no error")
	}
}
