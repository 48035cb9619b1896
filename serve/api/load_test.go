package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/serve/metrics"
)

// loadRun streams chat completions from clients concurrent clients for d
// and returns the tokens received and the errors.
func loadRun(url string, clients int, d time.Duration, maxTokens int) (tokens, requests int64, errs []string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				body := fmt.Sprintf(`{"messages":[{"role":"user","content":"Tell me story number %d."}],"max_tokens":%d,"stream":true,"stream_options":{"include_usage":true},"seed":%d}`, i, maxTokens, c*1000+i)
				resp, err := client.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
					return
				}
				n, done := int64(0), false
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					line := sc.Text()
					if line == "data: [DONE]" {
						done = true
						break
					}
					if strings.HasPrefix(line, "data: ") {
						var ch ChatChunk
						if err := json.Unmarshal([]byte(line[6:]), &ch); err != nil || (len(ch.Choices) == 0 && ch.Usage == nil) {
							mu.Lock()
							errs = append(errs, "bad chunk: "+line)
							mu.Unlock()
						}
						if ch.Usage != nil {
							n += int64(ch.Usage.CompletionTokens)
						}
					}
				}
				resp.Body.Close()
				if resp.StatusCode != 200 || !done {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("status %d, done %v", resp.StatusCode, done))
					mu.Unlock()
					return
				}
				atomic.AddInt64(&tokens, n)
				atomic.AddInt64(&requests, 1)
			}
		}(c)
	}
	wg.Wait()
	return tokens, requests, errs
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestLoad runs 64 concurrent streaming clients (LIMBIC_LOAD_SECONDS, 3 s
// by default; longer runs use 60) against the embedded model with
// telemetry, rules and the store on, and requires zero errors and no
// goroutine or heap growth once they finish. It logs the aggregate decode
// tokens/s and single-stream tokens/s.
func TestLoad(t *testing.T) {
	secs := 3.0
	if v := os.Getenv("LIMBIC_LOAD_SECONDS"); v != "" {
		secs, _ = strconv.ParseFloat(v, 64)
	}
	d := time.Duration(secs * float64(time.Second))
	st := openStore(t)
	ts, s := newTestServer(t, true, func(c *Config) {
		c.MaxSeqs = 64
		c.Store, c.Metrics = st, metrics.New(metrics.Options{NoRuntime: true})
		c.Rules = rules(t, `- {name: sad-high, emotion: sad, op: ">", threshold: 2, window: 4, for: 2}`)
	})
	// Warm up, then measure the baseline of goroutines and heap.
	loadRun(ts.URL, 2, 500*time.Millisecond, 16)
	time.Sleep(100 * time.Millisecond)
	g0, h0 := runtime.NumGoroutine(), heapAfterGC()

	start := time.Now()
	single, _, errs := loadRun(ts.URL, 1, d/3, 48)
	singleTPS := float64(single) / time.Since(start).Seconds()
	if len(errs) > 0 {
		t.Fatalf("single stream errors: %v", errs[:min(5, len(errs))])
	}
	start = time.Now()
	tokens, reqs, errs := loadRun(ts.URL, 64, d, 48)
	el := time.Since(start).Seconds()
	if len(errs) > 0 {
		t.Fatalf("%d errors under load, e.g. %v", len(errs), errs[:min(5, len(errs))])
	}
	t.Logf("64 clients for %.0fs: %d requests, %d tokens, %.1f tok/s aggregate; single stream %.1f tok/s (%.1fx)",
		el, reqs, tokens, float64(tokens)/el, singleTPS, float64(tokens)/el/singleTPS)

	// After the clients finish: no goroutine or memory growth.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if w, a := s.batcher.Load(); w == 0 && a == 0 && runtime.NumGoroutine() <= g0+2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	g1, h1 := runtime.NumGoroutine(), heapAfterGC()
	t.Logf("goroutines %d → %d, heap %.1f → %.1f MB", g0, g1, float64(h0)/1e6, float64(h1)/1e6)
	if g1 > g0+2 {
		buf := make([]byte, 1<<16)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines grew from %d to %d:\n%s", g0, g1, buf[:n])
	}
	if h1 > h0+16<<20 {
		t.Errorf("heap grew from %.1f to %.1f MB", float64(h0)/1e6, float64(h1)/1e6)
	}
}

// BenchmarkTelemetryCost measures aggregate throughput of 16 streaming
// clients with telemetry (readout, rules, trace store) on and off; the
// goal is ≤ 5% cost.
func BenchmarkTelemetryCost(b *testing.B) {
	for _, off := range []bool{true, false} {
		name := "telemetry-on"
		if off {
			name = "telemetry-off"
		}
		b.Run(name, func(b *testing.B) {
			ts, _ := newTestServer(b, true, func(c *Config) {
				c.NoTelemetry, c.MaxSeqs = off, 16
				if !off {
					c.Store = openStore(b)
					c.Rules = rules(b, `- {name: sad-high, emotion: sad, op: ">", threshold: 2, window: 4, for: 2}`)
				}
			})
			loadRun(ts.URL, 2, 300*time.Millisecond, 16) // warm up
			var tokens int64
			start := time.Now()
			for i := 0; i < b.N; i++ {
				n, _, errs := loadRun(ts.URL, 16, 3*time.Second, 48)
				if len(errs) > 0 {
					b.Fatal(errs[0])
				}
				tokens += n
			}
			b.ReportMetric(float64(tokens)/time.Since(start).Seconds(), "tok/s")
		})
	}
}
