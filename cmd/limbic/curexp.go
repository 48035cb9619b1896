package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/train/checkpoint"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/behave"
	"github.com/limbic-dev/limbic/science/curate"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/report"
	"github.com/limbic-dev/limbic/science/vecpack"
	"github.com/limbic-dev/limbic/serve/monitor"
	"github.com/limbic-dev/limbic/serve/trainwatch"
)

// curationConfig is what the curation experiment does. Every field is part
// of the experiment: a directory made with other settings is refused.
type curationConfig struct {
	Seed uint64 `json:"seed"`
	// The training sets (curate.BuildFailureSets).
	Openings   int `json:"openings"` // the first N of curate.FailureOpenings (0: all)
	HeldOut    int `json:"held_out"`
	PerOpening int `json:"per_opening"`
	Keep       int `json:"keep"`
	MaxTokens  int `json:"max_tokens"`
	// The fine-tunes (limbic tune, full fine-tuning, same for both sets).
	Steps     int     `json:"steps"`
	Batch     int     `json:"batch"`
	SeqLen    int     `json:"seq_len"`
	LR        float64 `json:"lr"`
	SaveEvery int     `json:"save_every"`
	Threads   int     `json:"threads"`
	// The last checkpoint's evaluation: EvalPer seeded continuations of
	// EvalTokens tokens per held-out opening, and Rollouts rollouts of the
	// give-up-or-try scenario.
	EvalPer    int `json:"eval_per"`
	EvalTokens int `json:"eval_tokens"`
	Rollouts   int `json:"rollouts"`
}

// defaultCuration fits in about 12 minutes on 2 busy cores (lr 5e-4
// overfitted so far that the fine-tunes' own readouts inverted; README).
var defaultCuration = curationConfig{Seed: 1, HeldOut: 6, PerOpening: 8, Keep: 2, MaxTokens: 80,
	Steps: 48, Batch: 4, SeqLen: 128, LR: 1e-4, SaveEvery: 8, Threads: 2, EvalPer: 8, EvalTokens: 60, Rollouts: 48}

func (c curationConfig) check() error {
	n := len(curate.FailureOpenings)
	for _, f := range []struct {
		name   string
		v, min int
	}{{"openings", c.Openings, 0}, {"held-out", c.HeldOut, 1}, {"per-opening", c.PerOpening, 2}, {"keep", c.Keep, 1},
		{"max-tokens", c.MaxTokens, 1}, {"steps", c.Steps, 1}, {"batch", c.Batch, 1}, {"seq-len", c.SeqLen, 2},
		{"save-every", c.SaveEvery, 1}, {"threads", c.Threads, 0}, {"eval-per", c.EvalPer, 2}, {"eval-tokens", c.EvalTokens, 1}, {"rollouts", c.Rollouts, 1}} {
		if err := atLeast(f.name, f.v, f.min); err != nil {
			return err
		}
	}
	used := n
	if c.Openings > 0 {
		used = c.Openings
	}
	switch {
	case c.Openings > n:
		return fmt.Errorf("--openings %d: there are %d failure openings", c.Openings, n)
	case c.HeldOut >= used:
		return fmt.Errorf("--held-out %d: leaves no training opening of %d", c.HeldOut, used)
	case 2*c.Keep > c.PerOpening:
		return fmt.Errorf("--keep %d: each set takes %d of --per-opening %d continuations; want 2×keep ≤ per-opening", c.Keep, c.Keep, c.PerOpening)
	case !(c.LR > 0 && c.LR < 1):
		return fmt.Errorf("--lr %v: want a number in (0, 1)", c.LR)
	case c.Steps/c.SaveEvery < 1:
		return fmt.Errorf("--save-every %d: more than --steps %d", c.SaveEvery, c.Steps)
	}
	return nil
}

// curationSets are the two training sets' names, in order.
var curationSets = []string{"calm_set", "desperate_set"}

// curationResult is the experiment's JSON (CURATION_DIR/result.json).
type curationResult struct {
	Config curationConfig     `json:"config"`
	Dir    string             `json:"dir"`
	Pack   string             `json:"pack"`
	Layer  int                `json:"layer"`
	Sets   map[string]setInfo `json:"sets"`
	// Readouts: emotion → model (base, calm_set, desperate_set) → the mean
	// z over the continuation tokens of held-out failure openings, with a
	// 95% bootstrap interval over the continuations.
	Readouts map[string]map[string]meanCI `json:"readouts"`
	// BaseRead is the same continuations read by the base model: what the
	// text says, apart from how the fine-tune's own representations moved.
	BaseRead map[string]map[string]meanCI `json:"readouts_base_read"`
	// Behaviour: model → the give-up-or-try scenario's unsteered rate.
	Behaviour    map[string]trainwatch.Behaviour `json:"behaviour"`
	Trajectories map[string][]trajPoint          `json:"trajectories"`
	Alerts       map[string][]alertInfo          `json:"alerts"`
	// Evaluated is, per run, how many times this invocation evaluated each
	// checkpoint step (0: the base model as the baseline); a second run
	// over a finished experiment evaluates none.
	Evaluated map[string]map[int]int `json:"evaluated"`
	// Live is, per run, how many checkpoints were evaluated while the
	// trainer was still running (the watcher follows the run live).
	Live       map[string]int     `json:"live"`
	Trained    map[string]bool    `json:"trained"` // false: the finished fine-tune was reused
	DataReused bool               `json:"data_reused"`
	Seconds    map[string]float64 `json:"seconds"` // time per step of this invocation
	Report     string             `json:"report"`
}

type setInfo struct {
	Docs   int     `json:"docs"`
	Tokens int     `json:"tokens"`
	Calm   float64 `json:"calm"`      // mean readout of the documents (as selected)
	Desp   float64 `json:"desperate"` // idem
}

type meanCI struct {
	Mean float64    `json:"mean"`
	CI   [2]float64 `json:"ci"`
	N    int        `json:"n"`
}

type trajPoint struct {
	Step       int     `json:"step"`
	Desperate  float64 `json:"desperate"` // z, mean over the probes
	Calm       float64 `json:"calm"`
	DDesperate float64 `json:"desperate_dz"` // change since the base model
	DCalm      float64 `json:"calm_dz"`
	Seconds    float64 `json:"seconds"`
}

type alertInfo struct {
	Step int    `json:"step"`
	Rule string `json:"rule"`
	Kind string `json:"kind"`
}

// curationOpts are what runCuration needs besides the config.
type curationOpts struct {
	Dir      string
	Pack     *vecpack.Pack
	PackPath string
	Base     *model.Model
	Log      io.Writer     // progress lines (nil: none)
	Poll     time.Duration // how often the watchers look for checkpoints
}

// runCuration runs (or finishes, or re-reads) the curation experiment.
func runCuration(ctx context.Context, c curationConfig, o curationOpts) (*curationResult, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	logf := func(format string, a ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "curation: "+format+"\n", a...)
		}
	}
	for _, e := range []string{"calm", "desperate"} {
		if _, err := o.Pack.EmotionIndex(e); err != nil {
			return nil, fmt.Errorf("the vector pack %s has no %s vector (it has %s): the experiment reads calm and desperate; give a pack made with them (--vectors)", o.PackPath, e, strings.Join(o.Pack.Meta.Emotions, ", "))
		}
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	cfgPath := filepath.Join(o.Dir, "config.json")
	if had, err := os.ReadFile(cfgPath); err == nil {
		if !bytes.Equal(bytes.TrimSpace(had), bytes.TrimSpace(b)) {
			return nil, fmt.Errorf("%s holds an experiment with other settings (%s): remove it or give another --dir", o.Dir, cfgPath)
		}
	} else if err := atomicfile.WriteBytes(cfgPath, 0o644, append(b, '\n')); err != nil {
		return nil, err
	}
	t0 := time.Now()
	res := &curationResult{Config: c, Dir: o.Dir, Pack: o.PackPath, Sets: map[string]setInfo{}, Readouts: map[string]map[string]meanCI{}, BaseRead: map[string]map[string]meanCI{},
		Behaviour: map[string]trainwatch.Behaviour{}, Trajectories: map[string][]trajPoint{}, Alerts: map[string][]alertInfo{},
		Evaluated: map[string]map[int]int{}, Live: map[string]int{}, Trained: map[string]bool{}, Seconds: map[string]float64{}}
	lap := func(name string, t time.Time) {
		res.Seconds[name] = math.Round(time.Since(t).Seconds()*10) / 10
		logf("%s: %.1fs", name, res.Seconds[name])
	}
	layer, err := readout.ResolveLayer(o.Pack, readout.Best)
	if err != nil {
		return nil, err
	}
	res.Layer = layer
	if li, err := o.Pack.LayerIndex(layer); err != nil || o.Pack.Layers[li].NeutralMeanDenoised == nil {
		return nil, fmt.Errorf("the vector pack %s has no neutral baseline at layer %d: the experiment reads z-scores", o.PackPath, layer)
	}

	// 1. The training sets and the held-out openings (cached).
	t := time.Now()
	sets, held, reused, err := curationData(ctx, c, o, logf)
	if err != nil {
		return nil, err
	}
	res.DataReused = reused
	for i, name := range curationSets {
		si := setInfo{Docs: len(sets[i])}
		for _, d := range sets[i] {
			si.Tokens += d.Tokens
			si.Calm += d.Calm / float64(len(sets[i]))
			si.Desp += d.Desperate / float64(len(sets[i]))
		}
		res.Sets[name] = si
	}
	lap("data", t)

	// 2–3. The fine-tunes, each followed by a watcher as it trains.
	for _, name := range curationSets {
		t = time.Now()
		if err := curationTune(ctx, c, o, name, filepath.Join(o.Dir, "data", name+".jsonl"), res, logf); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		lap("tune+watch "+name, t)
	}

	// 4. The last checkpoints against the base on held-out openings.
	t = time.Now()
	models := []string{"base", "calm_set", "desperate_set"}
	for _, e := range []string{"desperate", "calm"} {
		res.Readouts[e] = map[string]meanCI{}
		res.BaseRead[e] = map[string]meanCI{}
	}
	for _, name := range models {
		m, closeM, err := curationModel(ctx, c, o, name)
		if err != nil {
			return nil, err
		}
		rd, byBase, err := heldOutReadouts(ctx, c, m, o.Base, o.Pack, held)
		if err == nil {
			for e, v := range rd {
				res.Readouts[e][name] = v
				res.BaseRead[e][name] = byBase[e]
			}
			var bh trainwatch.Behaviour
			bh, err = curationBehaviour(ctx, c, m, o.Pack, name, filepath.Join(o.Dir, "behaviour", name))
			res.Behaviour[name] = bh
		}
		closeM()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	lap("evaluation", t)

	// 5. The report.
	res.Report = filepath.Join(o.Dir, "report.html")
	var buf bytes.Buffer
	if err := report.WriteSections(&buf, "Curation experiment", version, []report.Section{curationSection(res)}); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteBytes(res.Report, 0o644, buf.Bytes()); err != nil {
		return nil, err
	}
	res.Seconds["total"] = math.Round(time.Since(t0).Seconds()*10) / 10
	out, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteBytes(filepath.Join(o.Dir, "result.json"), 0o644, append(out, '\n')); err != nil {
		return nil, err
	}
	return res, nil
}

// curationData builds the training sets from the base model's own
// continuations of the failure openings, or reads them back.
func curationData(ctx context.Context, c curationConfig, o curationOpts, logf func(string, ...any)) (sets [2][]curate.Doc, held []curate.Doc, reused bool, err error) {
	dir := filepath.Join(o.Dir, "data")
	setsPath := filepath.Join(dir, "sets.json")
	var saved struct {
		Calm, Desperate, HeldOut []curate.Doc
	}
	if b, err := os.ReadFile(setsPath); err == nil {
		if err := json.Unmarshal(b, &saved); err != nil {
			return sets, nil, false, fmt.Errorf("%s: %w (remove it to rebuild the data)", setsPath, err)
		}
		complete := true
		for _, n := range curationSets {
			if !fileExists(filepath.Join(dir, n+".jsonl")) {
				complete = false
			}
		}
		if complete {
			logf("data: reusing %s", setsPath)
			return [2][]curate.Doc{saved.Calm, saved.Desperate}, saved.HeldOut, true, nil
		}
	}
	openings := curate.FailureOpenings
	if c.Openings > 0 {
		openings = openings[:c.Openings]
	}
	fo := curate.FailureOptions{Openings: openings, HeldOut: c.HeldOut, PerOpening: c.PerOpening, Keep: c.Keep,
		MaxTokens: c.MaxTokens, Seed: c.Seed, Score: curate.ScoreOptions{BestLayer: true}}
	if o.Log != nil {
		fo.Progress = func(stage string, done, total int) { logf("data: %s %d/%d", stage, done, total) }
	}
	calm, desp, held, err := curate.BuildFailureSets(ctx, o.Base, o.Pack, fo)
	if err != nil {
		return sets, nil, false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sets, nil, false, err
	}
	for i, ds := range [][]curate.Doc{calm, desp} {
		if err := curate.WriteJSONL(filepath.Join(dir, curationSets[i]+".jsonl"), ds); err != nil {
			return sets, nil, false, err
		}
	}
	if err := curate.WriteJSONL(filepath.Join(dir, "heldout.jsonl"), held); err != nil {
		return sets, nil, false, err
	}
	saved.Calm, saved.Desperate, saved.HeldOut = calm, desp, held
	b, _ := json.MarshalIndent(saved, "", " ")
	if err := atomicfile.WriteBytes(setsPath, 0o644, b); err != nil {
		return sets, nil, false, err
	}
	return [2][]curate.Doc{calm, desp}, held, false, nil
}

// curationTuneConfig is limbic tune's config of one fine-tune.
func curationTuneConfig(c curationConfig, data string) tuneConfig {
	return tuneConfig{Model: model.Default, Data: data, Steps: c.Steps, Batch: c.Batch, GradAccum: 1, SeqLen: c.SeqLen,
		LR: c.LR, MinLR: c.LR / 10, Warmup: min(10, c.Steps/10), WeightDecay: 0.1, Clip: 1, SaveEvery: c.SaveEvery,
		Seed: c.Seed, Threads: c.Threads}
}

// curationTune trains one set (resuming a partial run, skipping a finished
// one) while a watcher evaluates each checkpoint as it appears, with the
// base model as the baseline and the default drift rules.
func curationTune(ctx context.Context, c curationConfig, o curationOpts, name, data string, res *curationResult, logf func(string, ...any)) error {
	out := filepath.Join(o.Dir, "tune", name)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	db, err := trainwatch.OpenDB(filepath.Join(out, "watch.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	evaluated := map[int]int{}
	res.Evaluated[name] = evaluated
	var (
		mu       sync.Mutex
		training bool // guarded by mu
	)
	res.Live[name] = 0
	loader := &trainwatch.Loader{Base: o.Base}
	w, err := trainwatch.New(ctx, trainwatch.Options{RunDir: out, DB: db, Pack: o.Pack, Kind: vecpack.Denoised,
		Probes: trainwatch.DefaultProbes(false), Layer: readout.Best, Rules: trainwatch.DefaultRules(o.Pack.Meta.Emotions),
		Load: loader.Load,
		OnRecord: func(r trainwatch.Record, alerts []trainwatch.Alert) {
			mu.Lock()
			evaluated[r.Step]++
			if training && r.Kind != trainwatch.Base {
				res.Live[name]++
			}
			mu.Unlock()
			msg := ""
			for _, a := range alerts {
				msg += fmt.Sprintf("  alert %s %s", a.Event.Rule, a.Event.Kind)
			}
			logf("watch %s: step %d evaluated in %.1fs%s", name, r.Step, r.Seconds, msg)
		},
		Logf: func(format string, a ...any) { logf("watch "+name+": "+format, a...) },
	})
	if err != nil {
		return err
	}
	if _, err := w.RecordBase(ctx, &trainwatch.Loaded{Model: o.Base.Transformer, Tok: o.Base.Tok}, model.Default); err != nil {
		return err
	}
	last, err := checkpoint.Latest(out)
	if err != nil {
		return err
	}
	res.Trained[name] = false
	if last == checkpoint.Dir(out, c.Steps) {
		logf("tune %s: reusing %s", name, last)
	} else {
		res.Trained[name] = true
		// The trainer runs here; the watcher polls beside it.
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			tick := time.NewTicker(o.Poll)
			defer tick.Stop()
			for {
				select {
				case <-wctx.Done():
					done <- nil
					return
				case <-tick.C:
					if _, err := w.Poll(wctx); err != nil && wctx.Err() == nil {
						done <- err
						return
					}
				}
			}
		}()
		mu.Lock()
		training = true
		mu.Unlock()
		err := runTuneTo(ctx, curationTuneConfig(c, data), out, last != "", false, io.Discard, false)
		mu.Lock()
		training = false
		mu.Unlock()
		stop()
		werr := <-done
		if err != nil {
			return fmt.Errorf("tune: %w", err)
		}
		if werr != nil {
			return fmt.Errorf("watch: %w", werr)
		}
	}
	if _, err := w.Poll(ctx); err != nil {
		return err
	}
	for _, r := range w.History() {
		p := trajPoint{Step: r.Step, Seconds: r.Seconds}
		for _, v := range []struct {
			e    string
			stat monitor.Stat
			dst  *float64
		}{{"desperate", monitor.Z, &p.Desperate}, {"calm", monitor.Z, &p.Calm}, {"desperate", monitor.DeltaZ, &p.DDesperate}, {"calm", monitor.DeltaZ, &p.DCalm}} {
			x, ok := r.Value(monitor.Key{Emotion: v.e, Layer: w.MainLayer(), Stat: v.stat})
			if !ok {
				return fmt.Errorf("watch: step %d has no %s %s", r.Step, v.e, v.stat)
			}
			*v.dst = x
		}
		res.Trajectories[name] = append(res.Trajectories[name], p)
	}
	res.Alerts[name] = []alertInfo{}
	for _, a := range w.Alerts() {
		res.Alerts[name] = append(res.Alerts[name], alertInfo{Step: a.Step, Rule: a.Event.Rule, Kind: string(a.Event.Kind)})
	}
	if len(res.Trajectories[name]) == 0 || res.Trajectories[name][len(res.Trajectories[name])-1].Step != c.Steps {
		return fmt.Errorf("watch: the last checkpoint (step %d) was not evaluated", c.Steps)
	}
	return nil
}

// curationModel loads base or a set's last checkpoint.
func curationModel(ctx context.Context, c curationConfig, o curationOpts, name string) (*model.Model, func(), error) {
	if name == "base" {
		return o.Base, func() {}, nil
	}
	m, err := model.Load(ctx, checkpoint.Dir(filepath.Join(o.Dir, "tune", name), c.Steps), model.LoadOptions{})
	if err != nil {
		return nil, nil, err
	}
	return m, func() { m.Close() }, nil
}

// heldOutReadouts generates EvalPer seeded continuations of each held-out
// opening with m (the same seeds for every model) and reads calm and
// desperate as the mean z over the continuation tokens, each with a 95%
// bootstrap interval over the continuations: read by m itself (own), and
// read by the base model (byBase).
func heldOutReadouts(ctx context.Context, c curationConfig, m, base *model.Model, p *vecpack.Pack, held []curate.Doc) (own, byBase map[string]meanCI, err error) {
	if len(held) == 0 {
		return nil, nil, errors.New("no held-out openings")
	}
	var reqs []model.Request
	for _, h := range held {
		prompt := m.Tok.Encode(h.Text, m.Tok.DefaultAddBOS())
		for k := range c.EvalPer {
			reqs = append(reqs, model.Request{Prompt: prompt, Max: c.EvalTokens, Stop: m.StopIDs(),
				Sampling: model.Sampling{Temp: 1, TopP: 0.95, Seed: c.Seed*7919 + uint64(h.Opening)*1000 + uint64(k)}})
		}
	}
	var texts []string
	var from []int
	for lo := 0; lo < len(reqs); lo += 32 {
		rs, err := model.Generate(ctx, m.Transformer, reqs[lo:min(lo+32, len(reqs))], nil)
		if err != nil {
			return nil, nil, fmt.Errorf("generating: %w", err)
		}
		for j, r := range rs {
			prompt := reqs[lo+j].Prompt
			if len(r.IDs) == 0 {
				continue // stopped at once: nothing to read
			}
			ids := append(slices.Clone(prompt), r.IDs...)
			texts = append(texts, m.Tok.Decode(ids))
			from = append(from, len(prompt))
		}
	}
	read := func(reader *model.Model) (map[string]meanCI, error) {
		s, err := curate.NewScorer(reader, p, curate.ScoreOptions{BestLayer: true})
		if err != nil {
			return nil, err
		}
		// The scorer re-encodes the text; as in curate, the continuation
		// is read from the opening's length on.
		scores, err := s.ScoreDocs(ctx, texts, from)
		if err != nil {
			return nil, err
		}
		out := map[string]meanCI{}
		for _, e := range []string{"desperate", "calm"} {
			xs := make([]float64, len(scores))
			for i, sc := range scores {
				v, ok := sc.Z[e]
				if !ok {
					return nil, fmt.Errorf("no z-score for %s", e)
				}
				xs[i] = v
			}
			out[e] = bootstrapMean(xs, 2000, c.Seed)
		}
		return out, nil
	}
	if own, err = read(m); err != nil {
		return nil, nil, err
	}
	if byBase, err = read(base); err != nil {
		return nil, nil, err
	}
	return own, byBase, nil
}

// bootstrapMean is the mean of xs with a 95% percentile bootstrap interval.
func bootstrapMean(xs []float64, reps int, seed uint64) meanCI {
	r := meanCI{N: len(xs), Mean: mean(xs)}
	if len(xs) < 2 {
		r.CI = [2]float64{math.NaN(), math.NaN()}
		return r
	}
	rng := rand.New(rand.NewPCG(seed, 0xb007))
	ms := make([]float64, reps)
	for i := range ms {
		s := 0.0
		for range xs {
			s += xs[rng.IntN(len(xs))]
		}
		ms[i] = s / float64(len(xs))
	}
	sort.Float64s(ms)
	r.CI = [2]float64{ms[int(0.025*float64(reps))], ms[int(math.Ceil(0.975*float64(reps)))-1]}
	return r
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// curationBehaviour measures the give-up-or-try scenario's unsteered
// persist rate on m; the rollouts are kept (and reused) under dir.
func curationBehaviour(ctx context.Context, c curationConfig, m *model.Model, p *vecpack.Pack, name, dir string) (trainwatch.Behaviour, error) {
	sc, err := behave.ShippedNamed("give-up-or-try")
	if err != nil {
		return trainwatch.Behaviour{}, err
	}
	sc.Rollouts = c.Rollouts
	sc.Sweep = behave.Sweep{Emotions: []string{"calm"}, Strengths: []float64{0}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return trainwatch.Behaviour{}, err
	}
	hash, err := m.WeightsHash()
	if err != nil {
		return trainwatch.Behaviour{}, err
	}
	b := model.NewBatcher(m.Transformer, model.BatcherOptions{MaxSeqs: 8})
	defer b.Close()
	r, err := behave.Run(ctx, behave.Env{Model: m, Batcher: b, Pack: p, Kind: vecpack.Denoised, ModelID: name + "|" + hash, Parallel: 16},
		sc, filepath.Join(dir, sc.Name+".jsonl"))
	if err != nil {
		return trainwatch.Behaviour{}, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	if len(r.Cells) != 1 {
		return trainwatch.Behaviour{}, fmt.Errorf("scenario %s: %d cells, want the unsteered one", sc.Name, len(r.Cells))
	}
	cell := r.Cells[0]
	return trainwatch.Behaviour{Scenario: sc.Name, Target: r.Target, Rate: cell.Rate, CI: cell.CI, N: cell.N, Unclear: cell.Unclear}, nil
}

// curationSection is the experiment's report section: desperate and calm
// against step for both runs (alerts marked) and the table at the last
// checkpoint.
func curationSection(r *curationResult) report.Section {
	sec := report.Section{ID: "curation", Title: "Curation: fine-tunes on calm and desperate continuations of failure"}
	var figs []string
	chart := report.LineChart{Title: "Probe readouts during training (z)", XLabel: "step", YLabel: "z"}
	steps := map[int]bool{}
	for _, n := range curationSets {
		for _, p := range r.Trajectories[n] {
			steps[p.Step] = true
		}
	}
	for s := range steps {
		chart.X = append(chart.X, float64(s))
	}
	sort.Float64s(chart.X)
	for _, n := range curationSets {
		for _, e := range []string{"desperate", "calm"} {
			ys := make([]float64, len(chart.X))
			for i := range ys {
				ys[i] = math.NaN()
			}
			for _, p := range r.Trajectories[n] {
				i := sort.SearchFloat64s(chart.X, float64(p.Step))
				ys[i] = map[string]float64{"desperate": p.Desperate, "calm": p.Calm}[e]
			}
			chart.Series = append(chart.Series, report.Series{Name: n + " " + e, Y: ys})
		}
		for _, a := range r.Alerts[n] {
			if a.Kind == string(monitor.EventFiring) {
				chart.Marks = append(chart.Marks, report.Mark{X: float64(a.Step), Label: n + " " + a.Rule})
				figs = append(figs, fmt.Sprintf("%s fired on %s at step %d", a.Rule, n, a.Step))
			}
		}
	}
	sec.Figure = report.Figures(chart.SVG())
	sec.Note = fmt.Sprintf("stories15M fine-tuned for %d steps (batch %d × %d tokens, lr %g, seed %d) on the calm and the desperate half of its own continuations of failure openings (%d documents, %d and %d tokens). Chart: the watcher's probe readouts per checkpoint (step 0: the base model). Table: on %d continuations of held-out failure openings per model, the mean z over the continuation tokens with a 95%% bootstrap interval, read by the model that wrote them and by the base model; behaviour: give-up-or-try persist rate with a Wilson 95%% interval.",
		r.Config.Steps, r.Config.Batch, r.Config.SeqLen, r.Config.LR, r.Config.Seed, r.Sets["calm_set"].Docs, r.Sets["calm_set"].Tokens, r.Sets["desperate_set"].Tokens,
		r.Readouts["desperate"]["base"].N)
	if len(figs) > 0 {
		sec.Note += " Alerts: " + strings.Join(figs, "; ") + "."
	} else {
		sec.Note += " No alert fired."
	}
	sec.Head = []string{"model", "desperate z", "95% CI", "calm z", "95% CI", "desperate z, base-read", "calm z, base-read", "persist rate", "Wilson 95% CI", "n"}
	for _, n := range []string{"base", "calm_set", "desperate_set"} {
		d, c, b := r.Readouts["desperate"][n], r.Readouts["calm"][n], r.Behaviour[n]
		sec.Rows = append(sec.Rows, []report.Cell{{Text: n}, {Text: fmt.Sprintf("%+.3f", d.Mean)}, {Text: ciText(d.CI)},
			{Text: fmt.Sprintf("%+.3f", c.Mean)}, {Text: ciText(c.CI)},
			{Text: fmt.Sprintf("%+.3f %s", r.BaseRead["desperate"][n].Mean, ciText(r.BaseRead["desperate"][n].CI))},
			{Text: fmt.Sprintf("%+.3f %s", r.BaseRead["calm"][n].Mean, ciText(r.BaseRead["calm"][n].CI))},
			{Text: rateText(b.Rate)}, {Text: ciText(b.CI)}, {Text: fmt.Sprint(b.N)}})
	}
	sec.JSON = map[string]any{"readouts": r.Readouts, "readouts_base_read": r.BaseRead, "behaviour": r.Behaviour, "trajectories": r.Trajectories, "alerts": r.Alerts}
	return sec
}

func ciText(ci [2]float64) string { return fmt.Sprintf("[%+.3f, %+.3f]", ci[0], ci[1]) }

func rateText(r *float64) string {
	if r == nil {
		return "–"
	}
	return fmt.Sprintf("%.3f", *r)
}

// curationTable is the text table printed on stdout.
func curationTable(r *curationResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "curation experiment in %s (readout layer %d)\n", r.Dir, r.Layer)
	fmt.Fprintf(&b, "%-14s %-24s %-24s %s\n", "model", "desperate z [95% CI]", "calm z [95% CI]", "persist rate [Wilson 95%] n")
	for _, n := range []string{"base", "calm_set", "desperate_set"} {
		d, c, bh := r.Readouts["desperate"][n], r.Readouts["calm"][n], r.Behaviour[n]
		fmt.Fprintf(&b, "%-14s %+.3f %-17s %+.3f %-17s %s %s %d\n", n, d.Mean, ciText(d.CI), c.Mean, ciText(c.CI), rateText(bh.Rate), ciText(bh.CI), bh.N)
	}
	fmt.Fprintf(&b, "the same continuations read by the base model:\n")
	for _, n := range []string{"base", "calm_set", "desperate_set"} {
		d, c := r.BaseRead["desperate"][n], r.BaseRead["calm"][n]
		fmt.Fprintf(&b, "%-14s %+.3f %-17s %+.3f %s\n", n, d.Mean, ciText(d.CI), c.Mean, ciText(c.CI))
	}
	for _, e := range []string{"desperate", "calm"} {
		for _, src := range []struct {
			name string
			rd   map[string]map[string]meanCI
		}{{"own", r.Readouts}, {"base-read", r.BaseRead}} {
			x, y := src.rd[e]["calm_set"], src.rd[e]["desperate_set"]
			overlap := !(x.CI[1] < y.CI[0] || y.CI[1] < x.CI[0])
			fmt.Fprintf(&b, "%s (%s): desperate_set − calm_set = %+.3f; intervals %s\n", e, src.name, y.Mean-x.Mean, map[bool]string{true: "overlap", false: "do not overlap"}[overlap])
		}
	}
	for _, n := range curationSets {
		var fired []string
		for _, a := range r.Alerts[n] {
			if a.Kind == string(monitor.EventFiring) {
				fired = append(fired, fmt.Sprintf("%s at step %d", a.Rule, a.Step))
			}
		}
		if len(fired) == 0 {
			fired = []string{"none"}
		}
		fmt.Fprintf(&b, "alerts on %s: %s\n", n, strings.Join(fired, ", "))
	}
	keys := make([]string, 0, len(r.Seconds))
	for k := range r.Seconds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "time %s: %.1fs\n", k, r.Seconds[k])
	}
	fmt.Fprintf(&b, "report: %s\n", r.Report)
	return b.String()
}

// newCurationCmd is limbic experiment curation.
func newCurationCmd() *cobra.Command {
	var (
		vf  vectorFlags
		dir string
		c   = defaultCuration
	)
	cmd := &cobra.Command{
		Use:   "curation",
		Short: "Fine-tune the model on calm vs desperate continuations of failure and compare (the paper's data-curation proposal)",
		Long: `Curation runs the paper's data-curation proposal (Sofroniew et al. 2026,
section 8) on real fine-tunes of the embedded model:

  1. the base model continues openings in which a character meets failure
     (curate.FailureOpenings); its continuations, read with the vector pack,
     make two training sets of equal size and token count: the calmest
     (the character stays calm and keeps trying) and the most desperate;
     a few openings are held out;
  2. the model is fine-tuned on each set (limbic tune: full fine-tuning,
     the same seed, steps and learning rate), while a watcher (limbic watch)
     evaluates each checkpoint as it appears, with the base model as the
     baseline and the default drift rules (desperate dz > 1, calm dz < -1,
     for 2 checkpoints);
  3. at the last checkpoint, on continuations of the held-out openings,
     the mean desperate and calm z over the continuation tokens for the
     base model and both fine-tunes, with 95% bootstrap intervals, and the
     give-up-or-try scenario's persist rate with a Wilson interval.

Everything is kept in --dir (default: the model's run directory's
curation/): a second run reuses the data, the fine-tunes, the watchers'
results and the rollouts. The pack must have calm and desperate vectors with
a neutral baseline; the default is the one 'limbic run' made (which has
them), else give --vectors. Writes DIR/result.json and DIR/report.html;
prints a table (--json: the result).`,
		Example: `  limbic experiment curation
  limbic experiment curation --vectors runs/stories15m/vectors.safetensors --steps 96 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if g.model != model.Default && g.model != "" {
				return fmt.Errorf("--model %s: the curation experiment fine-tunes the embedded model (%s)", g.model, model.Default)
			}
			if err := c.check(); err != nil {
				return err
			}
			m, err := loadTextModelRef(ctx, model.Default)
			if err != nil {
				return err
			}
			defer m.Close()
			pack, path, err := vf.loadPack(m, true)
			if err != nil {
				return err
			}
			if dir == "" {
				dir = filepath.Join(runDir(m), "curation")
			}
			var log io.Writer
			if !g.quiet {
				log = os.Stderr
			}
			res, err := runCuration(ctx, c, curationOpts{Dir: dir, Pack: pack, PackPath: path, Base: m, Log: log})
			if err != nil {
				return err
			}
			if g.jsonOut {
				return printJSON(res)
			}
			fmt.Print(curationTable(res))
			return nil
		},
	}
	f := cmd.Flags()
	vf.add(cmd, false)
	f.StringVar(&dir, "dir", "", "experiment directory: data, fine-tunes, watch databases, rollouts, result.json, report.html (default RUN_DIR/curation)")
	f.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the data, the held-out split, the fine-tunes and the evaluation")
	f.IntVar(&c.Openings, "openings", c.Openings, "use the first N failure openings (0: all)")
	f.IntVar(&c.HeldOut, "held-out", c.HeldOut, "openings held out of training, for the evaluation")
	f.IntVar(&c.PerOpening, "per-opening", c.PerOpening, "base-model continuations per training opening")
	f.IntVar(&c.Keep, "keep", c.Keep, "continuations of each opening in each set")
	f.IntVar(&c.MaxTokens, "max-tokens", c.MaxTokens, "most tokens per continuation")
	f.IntVar(&c.Steps, "steps", c.Steps, "optimizer steps of each fine-tune")
	f.IntVar(&c.Batch, "batch", c.Batch, "rows per step")
	f.IntVar(&c.SeqLen, "seq-len", c.SeqLen, "tokens per row")
	f.Float64Var(&c.LR, "lr", c.LR, "peak learning rate (cosine decay to a tenth)")
	f.IntVar(&c.SaveEvery, "save-every", c.SaveEvery, "checkpoint every N steps")
	f.IntVarP(&c.Threads, "threads", "t", c.Threads, "training threads (results are reproducible for a given count)")
	f.IntVar(&c.EvalPer, "eval-per", c.EvalPer, "continuations per held-out opening in the evaluation")
	f.IntVar(&c.EvalTokens, "eval-tokens", c.EvalTokens, "tokens per evaluation continuation")
	f.IntVar(&c.Rollouts, "rollouts", c.Rollouts, "give-up-or-try rollouts per model")
	addJSON(cmd)
	return cmd
}
