package trainwatch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/limbic-dev/limbic/science/behave"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/vecpack"
	"github.com/limbic-dev/limbic/serve/monitor"
)

// Record is a checkpoint's result with its change since the baseline (the
// first record: the first evaluated checkpoint, or the base model recorded
// by RecordBase): Delta parallels Result.Layers, each value
// the checkpoint's minus the baseline's (ZStd unset).
type Record struct {
	Result
	BaselineStep int       `json:"baseline_step"`
	Delta        []Readout `json:"delta"`
}

// Options configure a Watcher.
type Options struct {
	RunDir string
	DB     *DB
	Pack   *vecpack.Pack
	Kind   vecpack.Kind
	Probes ProbeSet
	Chat   bool // read the probes as user turns (a chat model)
	// Layer is the main readout layer (readout.Best: the pack's best;
	// negative from the end). Rules may read other layers.
	Layer     int
	LossTexts []string
	// Scenarios are limbic eval scenarios whose unsteered rate is measured
	// on every checkpoint; their rollouts are kept under EvalDir (default
	// RunDir/watch-eval), one directory per checkpoint.
	Scenarios []*behave.Scenario
	EvalDir   string
	Rules     []monitor.Rule
	Load      LoadFunc
	Scan      ScanOptions
	// MaxAttempts is how many failed reads of a checkpoint whose files did
	// not change in between are made before the watcher gives up on it for
	// this process (default 3). Reads that fail while the files keep
	// changing (a writer at work) do not count.
	MaxAttempts int
	Notifier    *monitor.Notifier // nil: monitor.NewNotifier()
	Metrics     *Metrics          // nil: none
	// OnRecord is called after each checkpoint is stored, with its alerts.
	OnRecord func(Record, []Alert)
	// Logf reports torn reads and retries (nil: silent).
	Logf func(format string, a ...any)
	Now  func() time.Time
}

// Watcher evaluates a run's checkpoints as they complete.
type Watcher struct {
	o        Options
	eval     *Evaluator
	rules    *monitor.RuleSet
	ser      *series
	main     int
	done     map[int]bool
	attempts map[int]int
	seen     map[int][]FileState // the files at the last failed attempt
	gaveUp   map[int]bool

	mu     sync.Mutex // guards ser.history and alerts for readers beside Poll
	alerts []Alert
}

// New builds the watcher, checks the database against its settings and
// replays the stored history through the rules (storing events the
// history causes that are not stored yet, e.g. after the rules changed),
// then delivers webhooks left pending.
func New(ctx context.Context, o Options) (*Watcher, error) {
	if o.DB == nil || o.Pack == nil || o.Load == nil {
		return nil, errors.New("trainwatch: Options need DB, Pack and Load")
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.Notifier == nil {
		o.Notifier = monitor.NewNotifier()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	main, err := readout.ResolveLayer(o.Pack, o.Layer)
	if err != nil {
		return nil, fmt.Errorf("trainwatch: %w", err)
	}
	layers := []int{main}
	w := &Watcher{o: o, main: main, done: map[int]bool{}, attempts: map[int]int{}, seen: map[int][]FileState{}, gaveUp: map[int]bool{}}
	if len(o.Rules) > 0 {
		if err := monitor.Validate(o.Rules, o.Pack.Meta.Emotions); err != nil {
			return nil, err
		}
		rules, err := monitor.ResolveLayers(o.Rules, o.Pack.Meta.Model.NLayers)
		if err != nil {
			return nil, fmt.Errorf("trainwatch: rules: %w", err)
		}
		if w.rules, err = monitor.NewRuleSet(rules, main); err != nil {
			return nil, fmt.Errorf("trainwatch: rules: %w", err)
		}
		for _, r := range w.rules.Rules() {
			if r.Action.Type == monitor.Stop || r.Action.Type == monitor.Regulate {
				return nil, fmt.Errorf("trainwatch: rule %q: %s actions act on a generation; over checkpoints use record or webhook", r.Name, r.Action.Type)
			}
		}
		for _, k := range w.rules.Keys() {
			if (k.Stat == monitor.Z || k.Stat == monitor.DeltaZ) && !hasBaseline(o.Pack, k.Layer) {
				return nil, fmt.Errorf("trainwatch: rules read %s: the vector pack has no neutral baseline for z-scores", k)
			}
			if !contains(layers, k.Layer) {
				layers = append(layers, k.Layer)
			}
		}
	}
	if w.eval, err = NewEvaluator(o.Pack, EvalOptions{Probes: o.Probes, Layers: layers, Kind: o.Kind, Chat: o.Chat, LossTexts: o.LossTexts}); err != nil {
		return nil, err
	}
	if err := o.DB.Claim(w.eval.Fingerprint(), fmt.Sprintf("pack %s, layers %v, %s vectors, %d probes (%s)", o.Pack.Meta.Model.ID, w.eval.Layers(), o.Kind, len(o.Probes.Probes), o.Probes.Name)); err != nil {
		return nil, err
	}
	if w.ser, err = restore(ctx, o.DB, w.rules, o.Now()); err != nil {
		return nil, err
	}
	for _, r := range w.ser.history {
		w.done[r.Step] = true
	}
	if w.alerts, err = o.DB.Alerts(ctx, false); err != nil {
		return nil, err
	}
	if o.Metrics != nil {
		for _, r := range w.ser.history {
			o.Metrics.observe(r, nil, main)
		}
	}
	if err := w.deliverPending(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

func hasBaseline(p *vecpack.Pack, layer int) bool {
	li, err := p.LayerIndex(layer)
	return err == nil && p.Layers[li].NeutralMeanDenoised != nil
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// MainLayer is the main readout layer.
func (w *Watcher) MainLayer() int { return w.main }

// History returns the evaluated checkpoints in evaluation order. It is
// safe to call while Poll runs.
func (w *Watcher) History() []Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Record(nil), w.ser.history...)
}

// Alerts returns the stored alerts in order. It is safe to call while Poll
// runs.
func (w *Watcher) Alerts() []Alert {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Alert(nil), w.alerts...)
}

// Value returns a readout of rec for a rule key: the mean over the probes
// (z, proj, cos) or its change since the baseline (dz, dproj, dcos).
func (rec *Record) Value(k monitor.Key) (float64, bool) {
	src := rec.Layers
	if k.Stat.IsDelta() {
		src = rec.Delta
	}
	for _, l := range src {
		if l.Layer != k.Layer {
			continue
		}
		var xs []float64
		switch k.Stat {
		case monitor.Z, monitor.DeltaZ:
			xs = l.Z
		case monitor.Proj, monitor.DeltaProj:
			xs = l.Proj
		case monitor.Cos, monitor.DeltaCos:
			xs = l.Cos
		}
		for i, e := range l.Emotions {
			if e == k.Emotion && i < len(xs) {
				return xs[i], true
			}
		}
	}
	return 0, false
}

// Poll scans the run directory once and evaluates every complete
// checkpoint not evaluated yet, in step order. It returns how many it
// recorded. Torn reads are logged and left for a later poll.
func (w *Watcher) Poll(ctx context.Context) (int, error) {
	cps, _, err := Scan(w.o.RunDir, w.o.Scan)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cps {
		if w.done[c.Step] || w.gaveUp[c.Step] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		res, err := w.evaluate(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			w.torn(c, err)
			continue
		}
		if err := w.store(ctx, res); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (w *Watcher) evalDir() string {
	if w.o.EvalDir != "" {
		return w.o.EvalDir
	}
	return filepath.Join(w.o.RunDir, "watch-eval")
}

// Base is the Kind of a record of the base model itself (RecordBase).
const Base Kind = "base"

// RecordBase evaluates the base model m as step 0, the baseline of the
// series, when nothing has been recorded yet (a fine-tune's first
// checkpoint has already moved); later, or when the run has a
// checkpoint-0 of its own, it does nothing and returns false.
// name says what m is (a path or a model name).
func (w *Watcher) RecordBase(ctx context.Context, l *Loaded, name string) (bool, error) {
	if len(w.History()) > 0 {
		return false, nil
	}
	if fi, err := os.Stat(filepath.Join(w.o.RunDir, "checkpoint-0")); err == nil && fi.IsDir() {
		return false, nil // the run saved its own step 0
	}
	if l.Model.Dim != w.o.Pack.D() {
		return false, fmt.Errorf("trainwatch: base model width %d, vector pack width %d", l.Model.Dim, w.o.Pack.D())
	}
	start := w.o.Now()
	res, err := w.eval.Evaluate(ctx, l.Model, l.Tok)
	if err != nil {
		return false, err
	}
	if err := finiteResult(res); err != nil {
		return false, fmt.Errorf("trainwatch: base model: %w", err)
	}
	for _, sc := range w.o.Scenarios {
		b, err := behaviourOf(ctx, sc, l, l.Tok, w.o.Pack, w.o.Kind, "base|"+name, filepath.Join(w.evalDir(), "base"))
		if err != nil {
			return false, fmt.Errorf("trainwatch: base model: %w", err)
		}
		res.Behaviour = append(res.Behaviour, b)
	}
	res.Step, res.Dir, res.Kind = 0, name, Base
	res.Time = w.o.Now()
	res.Seconds = res.Time.Sub(start).Seconds()
	return true, w.store(ctx, res)
}

// store records a result with its alerts and reports and delivers them.
func (w *Watcher) store(ctx context.Context, res Result) error {
	w.mu.Lock()
	rec, evs := w.ser.add(res)
	alerts, err := w.o.DB.Record(ctx, res, evs)
	if err == nil {
		w.alerts = append(w.alerts, alerts...)
	}
	w.mu.Unlock()
	if err != nil {
		return err
	}
	w.done[res.Step] = true
	if w.o.Metrics != nil {
		w.o.Metrics.observe(rec, alerts, w.main)
	}
	if w.o.OnRecord != nil {
		w.o.OnRecord(rec, alerts)
	}
	return w.deliver(ctx, alerts)
}

// evaluate loads and reads c, checking that its files did not change
// meanwhile.
func (w *Watcher) evaluate(ctx context.Context, c Checkpoint) (Result, error) {
	if err := c.Unchanged(); err != nil {
		return Result{}, err
	}
	start := w.o.Now()
	l, err := w.o.Load(ctx, c)
	if err != nil {
		return Result{}, fmt.Errorf("load: %w", err)
	}
	if l.Close != nil {
		defer l.Close()
	}
	if err := c.Unchanged(); err != nil {
		return Result{}, err
	}
	if l.Model.Dim != w.o.Pack.D() {
		return Result{}, fmt.Errorf("model width %d, vector pack width %d", l.Model.Dim, w.o.Pack.D())
	}
	res, err := w.eval.Evaluate(ctx, l.Model, l.Tok)
	if err != nil {
		return Result{}, err
	}
	if err := finiteResult(res); err != nil {
		return Result{}, err
	}
	if len(w.o.Scenarios) > 0 {
		tok := l.Tok
		// The rollouts file is keyed by the checkpoint's files as read, so
		// a rewritten checkpoint never reuses rollouts of the old one.
		id := fmt.Sprintf("%s|%v", c.Dir, c.Files)
		dir := filepath.Join(w.evalDir(), filepath.Base(c.Dir))
		for _, sc := range w.o.Scenarios {
			b, err := behaviourOf(ctx, sc, l, tok, w.o.Pack, w.o.Kind, id, dir)
			if err != nil {
				return Result{}, err
			}
			res.Behaviour = append(res.Behaviour, b)
		}
		if err := c.Unchanged(); err != nil {
			return Result{}, err
		}
	}
	res.Step, res.Dir, res.Kind = c.Step, c.Dir, c.Kind
	res.Time = w.o.Now()
	res.Seconds = res.Time.Sub(start).Seconds()
	return res, nil
}

func finiteResult(r Result) error {
	bad := func(xs []float64) bool {
		for _, x := range xs {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return true
			}
		}
		return false
	}
	for _, l := range r.Layers {
		if bad(l.Cos) || bad(l.Proj) || bad(l.Z) || bad(l.ZStd) {
			return fmt.Errorf("non-finite readout at layer %d (diverged weights?)", l.Layer)
		}
	}
	if r.Loss != nil && bad([]float64{*r.Loss}) {
		return errors.New("non-finite loss (diverged weights?)")
	}
	return nil
}

func (w *Watcher) torn(c Checkpoint, err error) {
	if !slices.EqualFunc(w.seen[c.Step], c.Files, func(a, b FileState) bool {
		return a.Name == b.Name && a.Size == b.Size && a.ModTime.Equal(b.ModTime)
	}) {
		w.attempts[c.Step] = 0 // the files changed since the last attempt: a writer at work
	}
	w.seen[c.Step] = c.Files
	w.attempts[c.Step]++
	if w.o.Metrics != nil {
		w.o.Metrics.torn.Inc()
	}
	if w.attempts[c.Step] >= w.o.MaxAttempts {
		w.gaveUp[c.Step] = true
		w.logf("checkpoint-%d: giving up after %d attempts (restart watch to retry): %v", c.Step, w.attempts[c.Step], err)
		return
	}
	w.logf("checkpoint-%d: not recorded, will retry: %v", c.Step, err)
}

func (w *Watcher) logf(format string, a ...any) {
	if w.o.Logf != nil {
		w.o.Logf(format, a...)
	}
}

// Run polls every interval until ctx is done; it returns nil then.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := w.Poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (w *Watcher) deliverPending(ctx context.Context) error {
	pend, err := w.o.DB.Alerts(ctx, true)
	if err != nil {
		return err
	}
	return w.deliver(ctx, pend)
}

// deliver POSTs the webhook alerts and records the outcome; they were
// stored before.
func (w *Watcher) deliver(ctx context.Context, alerts []Alert) error {
	for _, a := range alerts {
		if a.Delivery != DeliveryPending || w.rules == nil {
			continue
		}
		rule, ok := w.rules.Rule(a.Event.Rule)
		if !ok || rule.Action.Type != monitor.Webhook {
			continue // the rule changed since: nothing to deliver to
		}
		d, err := monitor.NewDelivery(rule, monitor.Payload{ID: a.ID, ConversationID: "watch:" + w.o.RunDir, Time: a.Created, Event: a.Event})
		if err != nil {
			return err
		}
		d.Key = fmt.Sprintf("limbic-watch-%s-%d", w.eval.Fingerprint(), a.ID)
		res := w.o.Notifier.Send(ctx, d)
		msg := ""
		if res.Err != nil {
			msg = res.Err.Error()
		}
		if !res.Delivered && !res.Abandoned && ctx.Err() != nil {
			return nil // interrupted: stays pending, resent on the next start
		}
		if err := w.o.DB.MarkDelivered(context.WithoutCancel(ctx), a.ID, res.Delivered, res.Attempts, msg); err != nil {
			return err
		}
		if w.o.Metrics != nil {
			w.o.Metrics.deliveries.WithLabelValues(fmt.Sprint(res.Delivered)).Inc()
		}
	}
	return nil
}
