package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/behave"
	"github.com/limbic-dev/limbic/science/readout"
	"github.com/limbic-dev/limbic/science/report"
	"github.com/limbic-dev/limbic/serve/monitor"
	"github.com/limbic-dev/limbic/serve/trainwatch"
)

func newWatchCmd() *cobra.Command {
	var (
		vf          vectorFlags
		base        string
		probesFile  string
		layer       string
		rulesFile   string
		dbPath      string
		once        bool
		interval    time.Duration
		metricsAddr string
		lossFile    string
		noMarker    bool
		reportPath  string
		top         int
		withBase    bool
		evalNames   []string
		evalN       int
	)
	c := &cobra.Command{
		Use:   "watch RUN_DIR",
		Short: "Follow a training run and read the emotion vectors of each checkpoint",
		Long: `Watch follows a training run's output directory (limbic tune's, or Hugging Face
Trainer's checkpoint-STEP/ layout: safetensors weights, single or sharded,
or a PEFT LoRA adapter over --base) and evaluates each checkpoint once, as
soon as it is complete (every file present and whole, trainer_state.json
written; a checkpoint still being written, or one whose files change while it
is read, is retried later and never recorded).

Each checkpoint is read on a fixed probe set (--probes; by default the
shipped set: challenging and neutral requests for a model with a chat
template, emotional and neutral story openings for a base model) with a fixed
vector pack (by default the base model's, from its 'limbic run'): per emotion
the mean cosine and z-score at the last prompt token, and the change since the
first checkpoint (with --include-base, the base model itself, recorded as
step 0). --loss-file adds the mean cross entropy on held-out texts, and
--eval SCENARIO the unsteered rate of a 'limbic eval' scenario with its Wilson
95% interval (e.g. give-up-or-try on a base model).

Results and alerts are kept in a SQLite database (--db, default
RUN_DIR/watch.db): a restarted watch evaluates only new checkpoints.

--rules takes alert rules in the language of 'limbic serve --rules', applied
over checkpoints instead of tokens: for: and window: count checkpoints, and the
stats dz, dcos and dproj are the changes since the first checkpoint, e.g.

  - name: desperate-drift
    emotion: desperate
    stat: dz
    op: ">"
    threshold: 1.0
    for: 2
    clear: 0.5
    action: {type: webhook, url: http://localhost:9000/alerts}

--rules default watches desperate rising and calm falling by more than 1 z.
Alerts are stored before a webhook is sent. Output: a progress line per
checkpoint on stderr (--json: one JSON line per checkpoint on stdout);
with --metrics-addr, Prometheus metrics at /metrics and the training view at
/; with --report, the training view written as an HTML file: trajectories of
the most-changed emotions against step with alerts marked, and a table of
the change at the last checkpoint.`,
		Example: `  limbic watch runs/calm --once
  limbic watch runs/calm --rules drift.yaml --metrics-addr :9464 --report runs/calm/watch.html
  limbic watch out/ --base stories15m --json --interval 10s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			run := args[0]
			if st, err := os.Stat(run); err != nil || !st.IsDir() {
				return fmt.Errorf("RUN_DIR %q: not a directory", run)
			}
			if interval <= 0 {
				return fmt.Errorf("--interval %v: want a positive duration", interval)
			}
			if err := atLeast("top", top, 1); err != nil {
				return err
			}
			li, err := readout.ParseLayer(layer)
			if err != nil {
				return fmt.Errorf("--layer: %w", err)
			}
			ref := g.model
			if base != "" {
				ref = base
			} else if !cmd.Flags().Changed("model") {
				// An adapter run names its base in adapter_config.json.
				if named := adapterBaseOf(run); named != "" {
					ref = named
				}
			}
			bm, err := loadTextModelRef(ctx, ref)
			if err != nil {
				return err
			}
			defer bm.Close()
			pack, packPath, err := vf.loadPack(bm, true)
			if err != nil {
				return err
			}
			kind, err := vf.vecKind()
			if err != nil {
				return err
			}
			chatModel := bm.Tok.ChatTemplate() != ""
			probes := trainwatch.DefaultProbes(chatModel)
			if probesFile != "" {
				if probes, err = trainwatch.LoadProbes(probesFile); err != nil {
					return err
				}
			}
			var rules []monitor.Rule
			switch rulesFile {
			case "":
			case "default":
				if rules = trainwatch.DefaultRules(pack.Meta.Emotions); len(rules) == 0 {
					return fmt.Errorf("--rules default: the vector pack has neither desperate nor calm")
				}
			default:
				if rules, err = monitor.LoadRules(rulesFile); err != nil {
					return err
				}
			}
			var loss []string
			if lossFile != "" {
				if loss, err = readTexts(lossFile); err != nil {
					return err
				}
			}
			var scenarios []*behave.Scenario
			for _, a := range evalNames {
				var sc *behave.Scenario
				if _, statErr := os.Stat(a); statErr == nil || strings.ContainsAny(a, `/\`) || strings.HasSuffix(a, ".yaml") || strings.HasSuffix(a, ".yml") {
					sc, err = behave.ReadFile(a)
				} else {
					sc, err = behave.ShippedNamed(a)
				}
				if err != nil {
					return fmt.Errorf("--eval: %w", err)
				}
				if sc.Chat() != chatModel {
					return fmt.Errorf("--eval %s: a %s scenario, but the base model %s", sc.Name, map[bool]string{true: "chat", false: "story"}[sc.Chat()], map[bool]string{true: "has a chat template", false: "has no chat template"}[chatModel])
				}
				if evalN > 0 {
					sc.Rollouts = evalN
				}
				scenarios = append(scenarios, sc)
			}
			if dbPath == "" {
				dbPath = filepath.Join(run, "watch.db")
			}
			db, err := trainwatch.OpenDB(dbPath)
			if err != nil {
				return err
			}
			defer db.Close()
			var met *trainwatch.Metrics
			var w *trainwatch.Watcher
			ready := make(chan struct{})
			if metricsAddr != "" {
				met = trainwatch.NewMetrics()
				ln, err := net.Listen("tcp", metricsAddr)
				if err != nil {
					return fmt.Errorf("--metrics-addr: %w", err)
				}
				mux := http.NewServeMux()
				mux.Handle("/metrics", met.Handler())
				mux.HandleFunc("/{$}", func(rw http.ResponseWriter, r *http.Request) {
					select {
					case <-ready:
					default:
						http.Error(rw, "starting", http.StatusServiceUnavailable)
						return
					}
					b, err := watchPage(run, w, top)
					if err != nil {
						http.Error(rw, err.Error(), http.StatusInternalServerError)
						return
					}
					rw.Header().Set("Content-Type", "text/html; charset=utf-8")
					rw.Write(b)
				})
				srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
				go srv.Serve(ln)
				defer srv.Close()
				if !g.quiet {
					fmt.Fprintf(os.Stderr, "metrics on http://%s/metrics, training view on http://%s/\n", ln.Addr(), ln.Addr())
				}
			}
			out := bufio.NewWriter(os.Stdout)
			defer out.Flush()
			onRecord := func(rec trainwatch.Record, alerts []trainwatch.Alert) {
				if g.jsonOut {
					b, err := json.Marshal(watchLine(rec, alerts, w.MainLayer()))
					if err == nil {
						out.Write(append(b, '\n'))
						out.Flush()
					}
				}
				if !g.quiet || !g.jsonOut {
					fmt.Fprintln(os.Stderr, progressLine(rec, alerts, w.MainLayer(), top))
				}
				if reportPath != "" {
					if err := writeWatchReport(reportPath, run, w, top); err != nil {
						fmt.Fprintf(os.Stderr, "report: %v\n", err)
					}
				}
			}
			loader := &trainwatch.Loader{Base: bm, Options: model.LoadOptions{DType: dtypeFlag(), MaxSeq: g.ctx}}
			w, err = trainwatch.New(ctx, trainwatch.Options{
				RunDir: run, DB: db, Pack: pack, Kind: kind, Probes: probes, Chat: chatModel, Layer: li,
				LossTexts: loss, Scenarios: scenarios, Rules: rules, Load: loader.Load, Scan: trainwatch.ScanOptions{NoMarker: noMarker},
				Metrics: met, OnRecord: onRecord,
				Logf: func(format string, a ...any) {
					if !g.quiet {
						fmt.Fprintf(os.Stderr, format+"\n", a...)
					}
				},
			})
			if err != nil {
				return err
			}
			close(ready)
			if !g.quiet {
				fmt.Fprintf(os.Stderr, "watching %s: %d probes (%s), pack %s at layer %d, %d checkpoints recorded before, database %s\n",
					run, len(probes.Probes), probes.Name, packPath, w.MainLayer(), len(w.History()), dbPath)
			}
			if withBase {
				if _, err := w.RecordBase(ctx, &trainwatch.Loaded{Model: bm.Transformer, Tok: bm.Tok}, ref); err != nil {
					return err
				}
			}
			if once {
				if _, err := w.Poll(ctx); err != nil {
					return err
				}
			} else if err := w.Run(ctx, interval); err != nil {
				return err
			}
			if reportPath != "" && len(w.History()) > 0 {
				if err := writeWatchReport(reportPath, run, w, top); err != nil {
					return err
				}
				if !g.quiet {
					fmt.Fprintf(os.Stderr, "wrote %s\n", reportPath)
				}
			}
			return nil
		},
	}
	f := c.Flags()
	addJSON(c)
	vf.add(c, false)
	f.StringVar(&vf.vectors, "pack", "", "the vector pack (same as --vectors)")
	f.StringVar(&base, "base", "", "base model: the model of LoRA adapter checkpoints, whose vector pack and tokenizer are used (default: the adapters' base_model_name_or_path, else --model)")
	f.StringVar(&probesFile, "probes", "", "probe prompts: JSON lines {\"prompt\", \"kind\"} or one prompt per line (default: the shipped set)")
	f.StringVar(&layer, "layer", "best", "main readout layer: best (the pack's) or a number, negative from the end")
	f.StringVar(&rulesFile, "rules", "", "alert rules over checkpoints: a YAML or JSON file in serve's rule language, or default (desperate dz > 1, calm dz < -1, for 2 checkpoints)")
	f.StringVar(&dbPath, "db", "", "state database (default RUN_DIR/watch.db)")
	f.BoolVar(&once, "once", false, "evaluate the checkpoints that exist and exit")
	f.DurationVar(&interval, "interval", 30*time.Second, "how often to look for new checkpoints")
	f.StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics (/metrics) and the live training view (/) at this address")
	f.StringVar(&lossFile, "loss-file", "", "held-out texts for the loss: JSON lines with \"text\", or plain text")
	f.BoolVar(&noMarker, "no-marker", false, "accept checkpoints without trainer_state.json")
	f.StringVar(&reportPath, "report", "", "write the training view (HTML) here after each checkpoint")
	f.IntVar(&top, "top", 5, "emotions shown: the most changed")
	f.StringArrayVar(&evalNames, "eval", nil, "also measure a limbic eval scenario's unsteered rate on each checkpoint (a shipped NAME, e.g. give-up-or-try, or a FILE.yaml); rollouts kept in RUN_DIR/watch-eval; repeatable")
	f.IntVar(&evalN, "eval-rollouts", 0, "rollouts per checkpoint for --eval (0: the scenario's)")
	f.BoolVar(&withBase, "include-base", false, "record the base model itself as step 0, the baseline (with a new database)")
	return c
}

// dtypeFlag is --dtype parsed (the base model's load has checked it).
func dtypeFlag() tensor.DType {
	if g.dtype == "" {
		return tensor.Invalid
	}
	dt, _ := tensor.ParseDType(g.dtype)
	return dt
}

// readTexts reads held-out texts: JSON lines with a "text" field, or a
// plain text file (one text).
func readTexts(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--loss-file: %w", err)
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		if len(t) == 0 {
			return nil, fmt.Errorf("--loss-file %s: empty", path)
		}
		return []string{string(b)}, nil
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var doc struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(line, &doc); err != nil || doc.Text == nil {
			return nil, fmt.Errorf("--loss-file %s:%d: want a JSON object with a \"text\" string", path, n)
		}
		out = append(out, *doc.Text)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--loss-file %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--loss-file %s: no texts", path)
	}
	return out, nil
}

// watchEmotion is one emotion of a --json line.
type watchEmotion struct {
	Cos float64  `json:"cos"`
	Z   *float64 `json:"z,omitempty"`
	// ZSD is the standard deviation of z over the probes (the line's
	// "probes" is their number: a 95% interval of z is z ± 1.96·z_sd/√probes).
	ZSD  *float64 `json:"z_sd,omitempty"`
	DCos float64  `json:"dcos"`
	DZ   *float64 `json:"dz,omitempty"`
}

// watchJSON is a --json line: one checkpoint at the main layer.
type watchJSON struct {
	Step         int                     `json:"step"`
	Dir          string                  `json:"dir"`
	Kind         trainwatch.Kind         `json:"kind"`
	BaselineStep int                     `json:"baseline_step"`
	Layer        int                     `json:"layer"`
	Probes       int                     `json:"probes"`
	Seconds      float64                 `json:"seconds"`
	Loss         *float64                `json:"loss,omitempty"`
	Behaviour    []trainwatch.Behaviour  `json:"behaviour,omitempty"`
	Emotions     map[string]watchEmotion `json:"emotions"`
	Alerts       []trainwatch.Alert      `json:"alerts"`
}

func watchLine(rec trainwatch.Record, alerts []trainwatch.Alert, layer int) watchJSON {
	j := watchJSON{Step: rec.Step, Dir: rec.Dir, Kind: rec.Kind, BaselineStep: rec.BaselineStep, Layer: layer, Probes: rec.Probes,
		Seconds: rec.Seconds, Loss: rec.Loss, Behaviour: rec.Behaviour, Emotions: map[string]watchEmotion{}, Alerts: alerts}
	if j.Alerts == nil {
		j.Alerts = []trainwatch.Alert{}
	}
	l, ok := rec.Result.Layer(layer)
	if !ok {
		return j
	}
	for i, e := range l.Emotions {
		we := watchEmotion{Cos: l.Cos[i]}
		we.DCos, _ = rec.Value(monitor.Key{Emotion: e, Layer: layer, Stat: monitor.DeltaCos})
		if l.Z != nil {
			z := l.Z[i]
			we.Z = &z
			if i < len(l.ZStd) {
				sd := l.ZStd[i]
				we.ZSD = &sd
			}
			if dz, ok := rec.Value(monitor.Key{Emotion: e, Layer: layer, Stat: monitor.DeltaZ}); ok {
				we.DZ = &dz
			}
		}
		j.Emotions[e] = we
	}
	return j
}

// progressLine is the one-line summary of a checkpoint: the emotions that
// moved most since the baseline, the loss and the alerts.
func progressLine(rec trainwatch.Record, alerts []trainwatch.Alert, layer, top int) string {
	var b strings.Builder
	name := fmt.Sprintf("checkpoint-%d", rec.Step)
	if rec.Kind == trainwatch.Base {
		name = "base " + rec.Dir
	}
	fmt.Fprintf(&b, "%s  %.1fs", name, rec.Seconds)
	stat := monitor.DeltaZ
	if l, ok := rec.Result.Layer(layer); ok && l.Z == nil {
		stat = monitor.DeltaCos
	}
	type mv struct {
		e string
		v float64
	}
	var mvs []mv
	if l, ok := rec.Result.Layer(layer); ok {
		for _, e := range l.Emotions {
			if v, ok := rec.Value(monitor.Key{Emotion: e, Layer: layer, Stat: stat}); ok {
				mvs = append(mvs, mv{e, v})
			}
		}
	}
	slices.SortStableFunc(mvs, func(a, b mv) int {
		if math.Abs(a.v) > math.Abs(b.v) {
			return -1
		} else if math.Abs(a.v) < math.Abs(b.v) {
			return 1
		}
		return 0
	})
	if rec.Step == rec.BaselineStep {
		b.WriteString("  (baseline)")
	} else {
		fmt.Fprintf(&b, "  %s vs step %d:", stat, rec.BaselineStep)
		for _, m := range mvs[:min(top, len(mvs))] {
			fmt.Fprintf(&b, " %s %+.2f", m.e, m.v)
		}
	}
	if rec.Loss != nil {
		fmt.Fprintf(&b, "  loss %.3f", *rec.Loss)
	}
	for _, be := range rec.Behaviour {
		if be.Rate != nil {
			fmt.Fprintf(&b, "  %s %s %.2f [%.2f, %.2f] n=%d", be.Scenario, be.Target, *be.Rate, be.CI[0], be.CI[1], be.N)
		} else {
			fmt.Fprintf(&b, "  %s: nothing gradable", be.Scenario)
		}
	}
	for _, a := range alerts {
		fmt.Fprintf(&b, "  ALERT %s %s (%.2f)", a.Event.Rule, a.Event.Kind, a.Event.Value)
	}
	return b.String()
}

// watchPage renders the training view of the run as an HTML page.
func watchPage(run string, w *trainwatch.Watcher, top int) ([]byte, error) {
	sec := trainwatch.Section(w.History(), w.Alerts(), w.MainLayer(), top)
	var buf bytes.Buffer
	if err := report.WriteSections(&buf, "Training run "+filepath.Base(filepath.Clean(run)), version, []report.Section{sec}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeWatchReport(path, run string, w *trainwatch.Watcher, top int) error {
	b, err := watchPage(run, w, top)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, 0o644, func(wr io.Writer) error { _, err := wr.Write(b); return err })
}

// adapterBaseOf returns the base model named by the first adapter
// checkpoint of run ("" when there is none or it names none).
func adapterBaseOf(run string) string {
	cps, _, err := trainwatch.Scan(run, trainwatch.ScanOptions{NoMarker: true})
	if err != nil {
		return ""
	}
	for _, c := range cps {
		if c.Kind == trainwatch.Adapter {
			b, _ := trainwatch.AdapterBase(c.Dir)
			return b
		}
	}
	return ""
}
