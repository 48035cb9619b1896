package trainwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/hfdir"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/approx"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/internal/testref"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/vecpack"
	"github.com/limbic-dev/limbic/serve/monitor"
)

var testEmotions = []string{"afraid", "calm", "desperate", "happy"}

// env is the embedded model as a Hugging Face checkpoint writer.
type env struct {
	base  *model.Model
	cfg   []byte
	extra map[string][]byte
	ts    []*tensor.Tensor
	pack  *vecpack.Pack
}

func newEnv(t *testing.T) *env {
	t.Helper()
	testref.Stories15M(t)
	base, err := model.Load(context.Background(), "", model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { base.Close() })
	tmpl := filepath.Join(t.TempDir(), "tmpl")
	if err := base.ExportHF(tmpl, false); err != nil {
		t.Fatal(err)
	}
	e := &env{base: base, extra: map[string][]byte{}}
	if e.cfg, err = os.ReadFile(filepath.Join(tmpl, "config.json")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		if e.extra[f], err = os.ReadFile(filepath.Join(tmpl, f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, e.ts, err = base.HFTensors(); err != nil {
		t.Fatal(err)
	}
	e.pack = testpack.Random(testpack.Options{Emotions: testEmotions, D: base.Dim, Layers: base.Layers, Seed: 3, BestLayer: 3, ModelID: "stories15m",
		Norm: func(int) float64 { return 10 }, BaselineMean: 0.5, BaselineStd: 2})
	return e
}

// tensors returns the model's tensors with every matrix scaled elementwise
// by 1 + eps·N(0,1) (seeded), so that each checkpoint reads differently.
func (e *env) tensors(t *testing.T, eps float64, seed uint64) []*tensor.Tensor {
	t.Helper()
	if eps == 0 {
		return e.ts
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	out := make([]*tensor.Tensor, len(e.ts))
	for i, x := range e.ts {
		if len(x.Shape) != 2 {
			out[i] = x
			continue
		}
		v, err := x.F32()
		if err != nil {
			t.Fatal(err)
		}
		w := make([]float32, len(v))
		for j := range v {
			w[j] = v[j] * float32(1+eps*rng.NormFloat64())
		}
		out[i] = tensor.FromF32(x.Name, x.Shape, w)
	}
	return out
}

// write writes run/checkpoint-step as a complete checkpoint.
func (e *env) write(t *testing.T, run string, step int, eps float64, opts ...hfdir.Option) string {
	t.Helper()
	dir := filepath.Join(run, fmt.Sprintf("checkpoint-%d", step))
	extra := map[string][]byte{MarkerFile: []byte(fmt.Sprintf(`{"global_step": %d}`, step))}
	for k, v := range e.extra {
		extra[k] = v
	}
	if err := hfdir.Write(dir, e.cfg, e.tensors(t, eps, uint64(step)), extra, opts...); err != nil {
		t.Fatal(err)
	}
	return dir
}

var fewProbes = ProbeSet{Name: "few", Probes: []Probe{
	{Kind: "emotional", Prompt: "Tom's tower fell down again. Tom"},
	{Kind: "neutral", Prompt: "The cat sat on the mat. The cat"},
	{Kind: "emotional", Prompt: "The storm was loud and the lights went out. Sam"},
}}

type watchSetup struct {
	probes ProbeSet
	rules  []monitor.Rule
	load   LoadFunc
	logs   *[]string
}

func (e *env) watcher(t *testing.T, run, dbPath string, s watchSetup) (*Watcher, *DB) {
	t.Helper()
	db, err := OpenDB(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if s.probes.Probes == nil {
		s.probes = fewProbes
	}
	if s.load == nil {
		s.load = (&Loader{Base: e.base}).Load
	}
	logf := func(format string, a ...any) {
		if s.logs != nil {
			*s.logs = append(*s.logs, fmt.Sprintf(format, a...))
		}
	}
	w, err := New(context.Background(), Options{RunDir: run, DB: db, Pack: e.pack, Probes: s.probes, Layer: readout.Best,
		Rules: s.rules, Load: s.load, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	return w, db
}

func steps(rs []Record) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.Step)
	}
	return out
}

func storedSteps(t *testing.T, db *DB) []int {
	t.Helper()
	st, err := db.Results(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, s := range st {
		out = append(out, s.Result.Step)
	}
	return out
}

// TestTornCheckpointsNotRecorded: checkpoints with a missing shard, a
// truncated weights file, no completion marker or a partial config.json are
// not recorded; once completed, they are.
func TestTornCheckpointsNotRecorded(t *testing.T) {
	e := newEnv(t)
	run := t.TempDir()
	hold := t.TempDir()
	e.write(t, run, 10, 0)
	d20 := e.write(t, run, 20, 0.02, hfdir.MaxShardBytes(20<<20))
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	b, err := os.ReadFile(filepath.Join(d20, IndexFile))
	if err != nil {
		t.Fatalf("checkpoint-20 is not sharded: %v", err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	var shards []string
	for _, f := range idx.WeightMap {
		if !slices.Contains(shards, f) {
			shards = append(shards, f)
		}
	}
	slices.Sort(shards)
	if len(shards) < 2 {
		t.Fatalf("checkpoint-20 has %d shards, want several", len(shards))
	}
	missing := shards[len(shards)-1]
	if err := os.Rename(filepath.Join(d20, missing), filepath.Join(hold, missing)); err != nil {
		t.Fatal(err)
	}
	d30 := e.write(t, run, 30, 0.02)
	whole, err := os.ReadFile(filepath.Join(d30, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d30, WeightsFile), whole[:len(whole)-4096], 0o644); err != nil {
		t.Fatal(err)
	}
	d40 := e.write(t, run, 40, 0.02)
	marker, _ := os.ReadFile(filepath.Join(d40, MarkerFile))
	if err := os.Remove(filepath.Join(d40, MarkerFile)); err != nil {
		t.Fatal(err)
	}
	d50 := e.write(t, run, 50, 0.02)
	cfg, _ := os.ReadFile(filepath.Join(d50, ConfigFile))
	if err := os.WriteFile(filepath.Join(d50, ConfigFile), cfg[:len(cfg)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	// A trainer's temporary directory is not a checkpoint.
	if err := os.MkdirAll(filepath.Join(run, ".checkpoint-60.tmp-1"), 0o755); err != nil {
		t.Fatal(err)
	}

	_, wait, err := Scan(run, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantReasons := map[int]string{20: missing + ": missing", 30: WeightsFile + ": partial", 40: MarkerFile + ": missing", 50: ConfigFile + ": partial"}
	if len(wait) != len(wantReasons) {
		t.Errorf("incomplete checkpoints: got %d %+v, want %d", len(wait), wait, len(wantReasons))
	}
	for _, inc := range wait {
		if want := wantReasons[inc.Step]; want == "" || !strings.Contains(inc.Reason, want) {
			t.Errorf("checkpoint-%d: reason %q, want it to contain %q", inc.Step, inc.Reason, want)
		}
	}

	w, db := e.watcher(t, run, filepath.Join(t.TempDir(), "watch.db"), watchSetup{})
	n, err := w.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := storedSteps(t, db); n != 1 || !slices.Equal(got, []int{10}) {
		t.Fatalf("after the first poll: recorded %d, stored %v, want 1, [10]", n, got)
	}

	// Complete them.
	if err := os.Rename(filepath.Join(hold, missing), filepath.Join(d20, missing)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d30, WeightsFile), whole, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d40, MarkerFile), marker, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d50, ConfigFile), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err = w.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := storedSteps(t, db); n != 4 || !slices.Equal(got, []int{10, 20, 30, 40, 50}) {
		t.Fatalf("after completing them: recorded %d, stored %v, want 4, [10 20 30 40 50]", n, got)
	}
	h := w.History()
	if d := maxAbs(h[1].Delta[0].Z); !(d > 1e-4) {
		t.Errorf("checkpoint-20 (perturbed) reads like checkpoint-10: max |dz| = %g", d)
	}
	if d := maxAbs(h[0].Delta[0].Z); !(d == 0) {
		t.Errorf("the baseline's own delta: max |dz| = %g, want 0", d)
	}
}

// maxAbs is the largest |x|: +Inf when any x is NaN or infinite, NaN for
// none (so neither check above can pass on bad values).
func maxAbs(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return approx.MaxAbsDiff(xs, make([]float64, len(xs)))
}

// TestTornReadRetried: a checkpoint whose files change while it is loaded,
// or whose load fails, is not recorded and is evaluated on a later poll; a
// load that keeps failing is given up after MaxAttempts.
func TestTornReadRetried(t *testing.T) {
	e := newEnv(t)
	run := t.TempDir()
	d10 := e.write(t, run, 10, 0)
	d20 := e.write(t, run, 20, 0.02)
	var calls10, calls20 atomic.Int32
	ld := (&Loader{Base: e.base}).Load
	load := func(ctx context.Context, c Checkpoint) (*Loaded, error) {
		switch c.Dir {
		case d10:
			if calls10.Add(1) == 1 { // the writer is still at work: the marker grows during the load
				if err := os.WriteFile(filepath.Join(d10, MarkerFile), []byte(`{"global_step": 10, "more": 1}`), 0o644); err != nil {
					return nil, err
				}
			}
		case d20:
			if calls20.Add(1) == 1 {
				return nil, errors.New("safetensors: short read")
			}
		}
		return ld(ctx, c)
	}
	var logs []string
	w, db := e.watcher(t, run, filepath.Join(t.TempDir(), "watch.db"), watchSetup{load: load, logs: &logs})
	n, err := w.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := storedSteps(t, db); n != 0 || len(got) != 0 {
		t.Fatalf("first poll: recorded %d, stored %v, want none (both reads torn)", n, got)
	}
	if len(logs) != 2 || !strings.Contains(logs[0], "changed while it was read") || !strings.Contains(logs[1], "short read") {
		t.Errorf("logs: %q", logs)
	}
	if n, err = w.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := storedSteps(t, db); n != 2 || !slices.Equal(got, []int{10, 20}) {
		t.Fatalf("second poll: recorded %d, stored %v, want 2, [10 20]", n, got)
	}

	// A checkpoint that never loads is given up after MaxAttempts.
	e.write(t, run, 30, 0.02)
	var calls30 atomic.Int32
	bad := func(ctx context.Context, c Checkpoint) (*Loaded, error) {
		calls30.Add(1)
		return nil, errors.New("broken")
	}
	w2, db2 := e.watcher(t, run, filepath.Join(t.TempDir(), "other.db"), watchSetup{load: bad})
	for range 5 {
		if _, err := w2.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := calls30.Load(); got != 3*3 { // three checkpoints, three attempts each
		t.Errorf("load attempts: got %d, want 9", got)
	}
	if got := storedSteps(t, db2); len(got) != 0 {
		t.Errorf("stored %v, want none", got)
	}
}

// TestRestartEvaluatesNothingNew: a second watcher on the same database
// loads no checkpoint already recorded, keeps the baseline, and evaluates
// only the new one; a watcher with other settings refuses the database.
func TestRestartEvaluatesNothingNew(t *testing.T) {
	e := newEnv(t)
	run := t.TempDir()
	dbPath := filepath.Join(t.TempDir(), "watch.db")
	e.write(t, run, 10, 0)
	e.write(t, run, 20, 0.02)
	w1, db1 := e.watcher(t, run, dbPath, watchSetup{})
	if n, err := w1.Poll(context.Background()); err != nil || n != 2 {
		t.Fatalf("first watcher: %d recorded, %v; want 2", n, err)
	}
	first := w1.History()
	db1.Close()

	var loads atomic.Int32
	ld := (&Loader{Base: e.base}).Load
	counting := func(ctx context.Context, c Checkpoint) (*Loaded, error) { loads.Add(1); return ld(ctx, c) }
	w2, db2 := e.watcher(t, run, dbPath, watchSetup{load: counting})
	n, err := w2.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || loads.Load() != 0 {
		t.Fatalf("restarted watcher: recorded %d, loaded %d checkpoints; want 0, 0", n, loads.Load())
	}
	if got := steps(w2.History()); !slices.Equal(got, []int{10, 20}) {
		t.Errorf("restored history: %v", got)
	}
	e.write(t, run, 30, 0.04)
	if n, err = w2.Poll(context.Background()); err != nil || n != 1 || loads.Load() != 1 {
		t.Fatalf("after checkpoint-30: recorded %d (%v), loaded %d; want 1, 1", n, err, loads.Load())
	}
	h := w2.History()
	last := h[len(h)-1]
	if last.BaselineStep != 10 {
		t.Errorf("baseline step: got %d, want 10", last.BaselineStep)
	}
	base := first[0].Layers[0].Z
	for i := range base {
		want := last.Layers[0].Z[i] - base[i]
		if !(math.Abs(last.Delta[0].Z[i]-want) <= 1e-12) {
			t.Errorf("dz[%d]: got %g, want %g", i, last.Delta[0].Z[i], want)
		}
	}
	db2.Close()

	// Other probes: the database holds another series.
	db3, err := OpenDB(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db3.Close()
	other := ProbeSet{Name: "other", Probes: []Probe{{Prompt: "Lily smiled. Lily"}}}
	_, err = New(context.Background(), Options{RunDir: run, DB: db3, Pack: e.pack, Probes: other, Layer: readout.Best, Load: ld})
	if err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("other probes on the same database: err = %v, want a refusal", err)
	}
}

// TestEvaluateMatchesScan: the evaluator's means are the means over the
// probes of readout.Scan's scores at each probe's last token.
func TestEvaluateMatchesScan(t *testing.T) {
	e := newEnv(t)
	ev, err := NewEvaluator(e.pack, EvalOptions{Probes: fewProbes, Layers: []int{readout.Best, 1}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ev.Evaluate(context.Background(), e.base.Transformer, e.base.Tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.Layers(); !slices.Equal(got, []int{3, 1}) {
		t.Fatalf("layers: got %v, want [3 1]", got)
	}
	for li, layer := range []int{3, 1} {
		r, err := readout.NewReader(e.pack, layer, nil, vecpack.Denoised)
		if err != nil {
			t.Fatal(err)
		}
		n := len(testEmotions)
		wantZ, wantCos := make([]float64, n), make([]float64, n)
		var zs [][]float64
		for _, p := range fewProbes.Probes {
			ids := e.base.Tok.Encode(p.Prompt, e.base.Tok.DefaultAddBOS())
			sc, err := readout.Scan(e.base.Transformer, ids, r, nil)
			if err != nil {
				t.Fatal(err)
			}
			last := sc[len(sc)-1]
			z := make([]float64, n)
			for j := range n {
				wantZ[j] += float64(last.Z[j]) / float64(len(fewProbes.Probes))
				wantCos[j] += float64(last.Cos[j]) / float64(len(fewProbes.Probes))
				z[j] = float64(last.Z[j])
			}
			zs = append(zs, z)
		}
		got := res.Layers[li]
		if got.Layer != layer {
			t.Fatalf("readout %d: layer %d, want %d", li, got.Layer, layer)
		}
		for j, emo := range testEmotions {
			if !(math.Abs(got.Z[j]-wantZ[j]) <= 1e-5) || !(math.Abs(got.Cos[j]-wantCos[j]) <= 1e-6) {
				t.Errorf("layer %d %s: z %g cos %g, want z %g cos %g", layer, emo, got.Z[j], got.Cos[j], wantZ[j], wantCos[j])
			}
			var ss float64
			for _, z := range zs {
				ss += (z[j] - wantZ[j]) * (z[j] - wantZ[j])
			}
			if sd := math.Sqrt(ss / float64(len(zs)-1)); !(math.Abs(got.ZStd[j]-sd) <= 1e-4) {
				t.Errorf("layer %d %s: z std %g, want %g", layer, emo, got.ZStd[j], sd)
			}
		}
	}
}

// TestLossMatchesLogProbs: the held-out loss is the mean of −log p of each
// next token, computed here from one forward per prefix.
func TestLossMatchesLogProbs(t *testing.T) {
	e := newEnv(t)
	text := "Once upon a time, there was a little dog."
	ids := e.base.Tok.Encode(text, e.base.Tok.DefaultAddBOS())
	var want float64
	for i := 1; i < len(ids); i++ {
		logits, err := lastLogits(e.base, ids[:i])
		if err != nil {
			t.Fatal(err)
		}
		lp, _, err := model.LogProbs(logits, ids[i], 0)
		if err != nil {
			t.Fatal(err)
		}
		want -= lp
	}
	want /= float64(len(ids) - 1)
	got, n, err := meanLoss(context.Background(), e.base.Transformer, e.base.Tok, []string{text})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(ids)-1 || !(math.Abs(got-want) <= 1e-4) {
		t.Errorf("loss: got %g over %d tokens, want %g over %d", got, n, want, len(ids)-1)
	}
}

func lastLogits(m *model.Model, ids []int) ([]float32, error) {
	seq := &arch.Seq{Cache: m.NewCache(), Tokens: ids, Logits: arch.LastLogits}
	if err := m.Forward([]*arch.Seq{seq}); err != nil {
		return nil, err
	}
	return seq.Out, nil
}
