package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/serve/api"
	"github.com/limbic-dev/limbic/serve/dashboard"
	"github.com/limbic-dev/limbic/serve/metrics"
	"github.com/limbic-dev/limbic/serve/monitor"
	"github.com/limbic-dev/limbic/serve/store"
)

func newServeCmd() *cobra.Command {
	var (
		vf          vectorFlags
		addr        string
		rulesFile   string
		noRules     bool
		dbPath      string
		noDB        bool
		stride      int
		retention   time.Duration
		apiKey      string
		maxTokens   int
		maxBody     int64
		maxSeqs     int
		maxQueue    int
		bodyTimeout time.Duration
		noTelemetry bool
	)
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the model with an OpenAI-compatible API, live emotion telemetry and alerts",
		Long: `Serve runs an OpenAI-compatible server (POST /v1/chat/completions,
/v1/completions, GET /v1/models) whose responses carry per-token emotion
readouts under "limbic", steers per request ("limbic": {"steer": [...]}),
evaluates alert rules on every generated token, stores conversations and
alerts in SQLite, exposes Prometheus metrics at /metrics and a dashboard at /.

With no flags it serves the embedded model with the vector pack that
` + "`limbic run`" + ` made for it, the default rules (desperate high, calm low, angry
high, afraid high — those whose emotions the pack has), and a database
beside the pack. Without a pack it serves plain completions and says so in
/v1/models. It binds 127.0.0.1 unless --addr says otherwise; --api-key (or
LIMBIC_API_KEY) requires "Authorization: Bearer KEY" on every route but
/health and the dashboard's static files (the page asks for the key).`,
		Example: `  limbic serve
  limbic serve --model ./Qwen2.5-1.5B-Instruct --vectors qwen.safetensors --rules rules.yaml --addr 127.0.0.1:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, c := range []struct {
				flag string
				v    int
			}{{"trace-stride", stride}, {"max-tokens", maxTokens}, {"max-seqs", maxSeqs}} {
				if err := inRange(c.flag, c.v, 1, maxContext); err != nil {
					return err
				}
			}
			if maxBody < 1 {
				return fmt.Errorf("--max-body %d: must be at least 1 byte", maxBody)
			}
			if retention < 0 {
				return fmt.Errorf("--retention %v: must be ≥ 0 (0 keeps everything)", retention)
			}
			ctx := cmd.Context()
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			if g.quiet {
				logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			}
			if apiKey == "" {
				apiKey = os.Getenv("LIMBIC_API_KEY")
			}
			m, err := loadTextModel(ctx)
			if err != nil {
				return err
			}
			defer m.Close()
			pack, packPath, err := vf.loadPack(m, vf.vectors != "")
			if err != nil {
				return err
			}
			cfg := api.Config{Model: m, Pack: pack, PackPath: packPath, APIKey: apiKey, MaxBody: maxBody, MaxTokens: maxTokens,
				MaxSeqs: maxSeqs, Log: logger, TraceStride: stride, NoTelemetry: noTelemetry, Fingerprint: "limbic-" + version,
				MaxQueue: maxQueue, BodyTimeout: bodyTimeout}
			if pack == nil {
				logger.Warn("no vector pack: serving plain completions without emotion readout (run `limbic run`, or pass --vectors)")
			} else if !noRules && !noTelemetry {
				if rulesFile != "" {
					if cfg.Rules, err = monitor.LoadRules(rulesFile); err != nil {
						return err
					}
				} else {
					for _, r := range monitor.DefaultRules() {
						if _, err := pack.EmotionIndex(r.Emotion); err == nil {
							cfg.Rules = append(cfg.Rules, r)
						} else {
							logger.Info("default rule skipped: the pack has no such emotion", "rule", r.Name, "emotion", r.Emotion)
						}
					}
				}
			}
			if !noDB {
				if dbPath == "" {
					dbPath = filepath.Join(runDir(m), "limbic.db")
				}
				if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
					return err
				}
				st, err := store.Open(dbPath, store.Options{})
				if err != nil {
					return err
				}
				defer st.Close()
				cfg.Store = st
				if retention > 0 {
					go st.RunRetention(ctx, retention, time.Hour, func(p store.Pruned, err error) {
						if err != nil {
							logger.Error("retention", "err", err)
						}
					})
				}
			}
			var emos []string
			if pack != nil {
				emos = pack.Meta.Emotions
				if len(emos) > 40 {
					emos = nil
					for _, r := range cfg.Rules {
						emos = append(emos, r.Emotion)
					}
				}
			}
			cfg.Metrics = metrics.New(metrics.Options{ReadoutEmotions: emos})
			cfg.Dashboard = dashboardHandler()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			defer ln.Close()
			cfg.BindAddr = ln.Addr().String()
			srv, err := api.New(cfg)
			if err != nil {
				return err
			}
			defer srv.Close()
			hs := srv.HTTPServer()
			logger.Info("serving", "url", "http://"+ln.Addr().String(), "model", m.Name, "vectors", packPath,
				"rules", len(cfg.Rules), "db", dbPath, "auth", apiKey != "")
			if g.jsonOut {
				printJSON(map[string]any{"url": "http://" + ln.Addr().String(), "model": m.Name, "vectors": packPath, "db": dbPath})
			}
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				if !errors.Is(err, http.ErrServerClosed) {
					return err
				}
			case <-ctx.Done():
				logger.Info("shutting down")
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = hs.Shutdown(sctx)
			}
			return nil
		},
	}
	f := c.Flags()
	vf.add(c, false)
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (another host than loopback exposes the API: set --api-key)")
	f.StringVar(&rulesFile, "rules", "", "alert rules file (YAML or JSON; default: the built-in rules)")
	f.BoolVar(&noRules, "no-rules", false, "evaluate no alert rules")
	f.StringVar(&dbPath, "db", "", "SQLite database (default: limbic.db beside the run's vector pack)")
	f.BoolVar(&noDB, "no-db", false, "keep no database (no alerts or conversation API)")
	f.IntVar(&stride, "trace-stride", 1, "store every n-th token's readout")
	f.DurationVar(&retention, "retention", 30*24*time.Hour, "delete conversations and alerts older than this (0: keep)")
	f.StringVar(&apiKey, "api-key", "", "require this bearer token (default $LIMBIC_API_KEY)")
	f.IntVar(&maxTokens, "max-tokens", 1024, "most tokens a request may generate")
	f.Int64Var(&maxBody, "max-body", 1<<20, "request body limit in bytes")
	f.IntVar(&maxSeqs, "max-seqs", 16, "sequences decoded together")
	f.IntVar(&maxQueue, "max-queue", 64, "requests that may wait for a sequence slot; more get 429 (0: 64, -1: no limit)")
	f.DurationVar(&bodyTimeout, "body-timeout", 30*time.Second, "most time to read a request body")
	f.BoolVar(&noTelemetry, "no-telemetry", false, "no readout and no rules (to measure their cost)")
	addJSON(c)
	return c
}

// dashboardHandler is the web dashboard served at /.
func dashboardHandler() http.Handler { return dashboard.Handler() }
