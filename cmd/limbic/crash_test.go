package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/serve/store"
)

// TestKillDuringStreaming kills the server with SIGKILL while it streams and
// raises alerts, then checks that every alert acknowledged to a client (in
// the stream) or to the webhook receiver is in the database.
func TestKillDuringStreaming(t *testing.T) {
	pack := writeTestPack(t)
	dir := t.TempDir()
	var mu sync.Mutex
	acked := map[int64]bool{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id int64
		fmt.Sscanf(r.Header.Get("Idempotency-Key"), "limbic-alert-%d", &id)
		mu.Lock()
		acked[id] = true
		mu.Unlock()
	}))
	defer recv.Close()
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(`
- {name: every-token, emotion: happy, op: ">", threshold: -1000, action: {type: webhook, url: "`+recv.URL+`"}}
- {name: flapping, emotion: sad, op: ">", threshold: 0, clear: 0}
`), 0o644)
	db := filepath.Join(dir, "limbic.db")
	cmd := exec.Command(bin, "serve", "--vectors", pack, "--rules", rules, "--db", db, "--addr", "127.0.0.1:0", "--json", "-q")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var info struct{ URL string }
	line, err := bufio.NewReader(stdout).ReadString('}')
	if err != nil || json.Unmarshal([]byte(line), &info) != nil {
		t.Fatalf("server start: %q %v", line, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	streamed := map[int64]bool{}
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(ctx, "POST", info.URL+"/v1/chat/completions",
					strings.NewReader(fmt.Sprintf(`{"messages":[{"role":"user","content":"story %d"}],"max_tokens":60,"stream":true,"seed":%d}`, i, c*100+i)))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					data, ok := strings.CutPrefix(sc.Text(), "data: ")
					if !ok || data == "[DONE]" {
						continue
					}
					var ch struct {
						Limbic *struct{ Alerts []struct{ ID int64 } } `json:"limbic"`
					}
					json.Unmarshal([]byte(data), &ch)
					if ch.Limbic != nil {
						mu.Lock()
						for _, a := range ch.Limbic.Alerts {
							streamed[a.ID] = true
						}
						mu.Unlock()
					}
				}
				resp.Body.Close()
			}
		}(c)
	}
	// Kill once enough alerts are out, mid-stream.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n, m := len(streamed), len(acked)
		mu.Unlock()
		if n >= 40 && m >= 10 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(streamed) < 40 || len(acked) < 10 {
		t.Fatalf("only %d streamed and %d webhook alerts before the deadline", len(streamed), len(acked))
	}
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	missing := 0
	for _, set := range []map[int64]bool{streamed, acked} {
		for id := range set {
			if _, err := st.Alert(context.Background(), id); err != nil {
				missing++
				t.Errorf("acknowledged alert %d missing after kill -9: %v", id, err)
			}
		}
	}
	t.Logf("killed mid-stream: %d alerts streamed, %d delivered to the webhook, %d missing from the database", len(streamed), len(acked), missing)
}
