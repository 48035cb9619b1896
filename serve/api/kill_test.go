package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/internal/testref"
	"github.com/limbic-dev/limbic/serve/store"
)

const killEnv = "LIMBIC_API_KILL_CHILD"

// killRules fire and resolve often on the random test pack, so that alerts
// are stored while the stream runs.
const killRules = `
- {name: happy-up, emotion: happy, layer: 3, op: ">", threshold: 0}
- {name: sad-any, emotion: sad, op: ">", threshold: -1000, for: 2}`

// TestKillChild is the server process of TestKillMidStreamLosesNothing: a
// real server with a store at the path in $LIMBIC_API_KILL_CHILD, listening
// on a free port that it prints as "ADDR host:port", serving until killed.
func TestKillChild(t *testing.T) {
	path := os.Getenv(killEnv)
	if path == "" {
		t.Skip("run by TestKillMidStreamLosesNothing")
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := loadModel(t)
	s, err := New(Config{Model: m, MaxTokens: 512, Pack: testPack(m.Dim, m.Layers), PackPath: "test-pack",
		Store: st, Rules: rules(t, killRules)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("ADDR " + ln.Addr().String() + "\n")
	t.Fatal(http.Serve(ln, s.Handler()))
}

// TestKillMidStreamLosesNothing runs the server as a separate process,
// streams a completion, SIGKILLs the server after some chunks have been
// read, and checks the store token by token: every token the client
// received is stored, with its text and with the readout that came with it;
// the prompt tokens are stored with their text; every stored alert points at
// a stored token.
func TestKillMidStreamLosesNothing(t *testing.T) {
	if os.Getenv(killEnv) != "" {
		t.Skip("child process")
	}
	testref.Stories15M(t)
	const prompt = "Once upon a time there was a little dog"
	const readChunks = 25
	path := filepath.Join(t.TempDir(), "limbic.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	var base string
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("the server process ended without listening")
		}
		base = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatal("the server process did not start listening in 60s")
	}

	const conv = "conv-kill-test"
	body := fmt.Sprintf(`{"prompt":%q,"max_tokens":400,"temperature":1,"seed":7,"stream":true,"limbic":{"conversation_id":%q}}`, prompt, conv)
	resp, err := http.Post(base+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/completions: %s", resp.Status)
	}
	var got []TokenReadout // the tokens received, with their readouts
	var streamed strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for len(got) < readChunks && sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c CompletionResponse
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %s: %v", data, err)
		}
		if len(c.Choices) == 1 {
			streamed.WriteString(c.Choices[0].Text)
		}
		if c.Limbic != nil {
			got = append(got, c.Limbic.Tokens...)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	resp.Body.Close()
	if len(got) < readChunks {
		t.Fatalf("read %d token chunks before the stream ended, want %d", len(got), readChunks)
	}

	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.Conversation(context.Background(), conv)
	if err != nil {
		t.Fatal(err)
	}
	// Killed mid-stream: the conversation never finished.
	if c.Status != store.StatusRunning {
		t.Fatalf("conversation status %q, want %q (the server was killed after finishing, not mid-stream)", c.Status, store.StatusRunning)
	}
	rows := map[int]store.Point{}
	for _, p := range c.Trace {
		rows[p.Pos] = p
	}
	emo := map[string]int{}
	for i, e := range c.Emotions {
		emo[e] = i
	}
	// The prompt's tokens, with their text.
	var ptext strings.Builder
	for pos := 0; pos < c.PromptTokens; pos++ {
		r, ok := rows[pos]
		if !ok {
			t.Fatalf("prompt token at %d not stored", pos)
		}
		if r.Generated {
			t.Errorf("prompt token at %d stored as generated", pos)
		}
		ptext.WriteString(r.Text)
	}
	if got, want := strings.TrimSpace(ptext.String()), prompt; got != want {
		t.Errorf("stored prompt text %q, want %q", got, want)
	}
	// Every received token, its text and the readout it came with.
	var stext strings.Builder
	for _, tk := range got {
		r, ok := rows[tk.Pos]
		if !ok {
			t.Fatalf("token %d: the position it was sampled from, %d, is not stored", tk.Index, tk.Pos)
		}
		if len(r.Values) != len(c.Emotions) {
			t.Fatalf("token %d: stored readout at %d has %d values, want %d", tk.Index, tk.Pos, len(r.Values), len(c.Emotions))
		}
		for name, v := range tk.Scores {
			i, ok := emo[name]
			if !ok {
				t.Fatalf("token %d: emotion %q not among the stored %v", tk.Index, name, c.Emotions)
			}
			if got, want := r.Values[i], v; got != want {
				t.Errorf("token %d: stored %s at %d = %v, received %v", tk.Index, name, tk.Pos, got, want)
			}
		}
		tr, ok := rows[tk.Pos+1]
		if !ok {
			t.Fatalf("token %d (id %d, %q) received but not stored at %d", tk.Index, tk.Token, tk.Text, tk.Pos+1)
		}
		if tr.TokenID != tk.Token || tr.Text != tk.Text || !tr.Generated {
			t.Errorf("token %d: stored id %d text %q generated %v, received id %d text %q", tk.Index, tr.TokenID, tr.Text, tr.Generated, tk.Token, tk.Text)
		}
		stext.WriteString(tr.Text)
	}
	if got, want := stext.String(), streamed.String(); got != want {
		t.Errorf("stored text of the received tokens %q, streamed %q", got, want)
	}
	// Every stored alert points at a stored token.
	if len(c.Alerts) == 0 {
		t.Fatal("no alert stored: the rules should have fired")
	}
	for _, a := range c.Alerts {
		if _, ok := rows[a.Pos]; !ok {
			t.Errorf("alert %d (%s %s) at %d: no token stored there", a.ID, a.Rule, a.State, a.Pos)
		}
	}
	t.Logf("received %d tokens; stored %d rows (%d prompt) and %d alerts", len(got), len(c.Trace), c.PromptTokens, len(c.Alerts))
}
