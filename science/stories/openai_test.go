package stories

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func noSleep(ctx context.Context, d time.Duration) error { return ctx.Err() }

func TestNewOpenAIEndpoint(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:8000", "http://127.0.0.1:8000/v1/chat/completions"},
		{"http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1/chat/completions"},
		{"https://api.example.com/v1", "https://api.example.com/v1/chat/completions"},
		{"https://api.example.com/v1/chat/completions", "https://api.example.com/v1/chat/completions"},
		{"http://h/openai", "http://h/openai/v1/chat/completions"},
	}
	for _, tt := range tests {
		g, err := NewOpenAI(tt.in, "m")
		if err != nil || g.Endpoint != tt.want {
			t.Errorf("NewOpenAI(%q): %q, %v; want %q", tt.in, g.Endpoint, err, tt.want)
		}
	}
	for _, bad := range []string{"ftp://x", "localhost:8000", ""} {
		if _, err := NewOpenAI(bad, "m"); err == nil {
			t.Errorf("NewOpenAI(%q) accepted", bad)
		}
	}
	if _, err := NewOpenAI("http://x", ""); err == nil {
		t.Error("empty model accepted")
	}
}

func TestOpenAIKeyFromEnv(t *testing.T) {
	t.Setenv("LIMBIC_GENERATOR_API_KEY", "")
	t.Setenv("OPENAI_API_KEY", "sk-openai")
	g, _ := NewOpenAI("http://x", "m")
	if g.APIKey != "sk-openai" {
		t.Errorf("key %q", g.APIKey)
	}
	t.Setenv("LIMBIC_GENERATOR_API_KEY", "sk-limbic")
	g, _ = NewOpenAI("http://x", "m")
	if g.APIKey != "sk-limbic" {
		t.Errorf("key %q", g.APIKey)
	}
}

func TestOpenAIGenerate(t *testing.T) {
	var hits, fails atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
			http.Error(w, "wrong path", 404)
			return
		}
		if r.Header.Get("Authorization") != "Bearer sk-test" {
			http.Error(w, `{"error":{"message":"bad key"}}`, 401)
			return
		}
		var body chatBody
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		last := body.Messages[len(body.Messages)-1].Content
		if strings.Contains(last, "flaky") && fails.Add(1) <= 2 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", 429)
			return
		}
		if strings.Contains(last, "broken") {
			http.Error(w, "bad request", 400)
			return
		}
		if body.Model != "tiny" || body.Seed == nil || body.MaxTokens != 50 {
			http.Error(w, "bad body "+string(b), 400)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{
			"message": map[string]any{"role": "assistant", "content": "echo: " + last}}}})
	}))
	defer srv.Close()

	g, err := NewOpenAI(srv.URL, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	g.APIKey = "sk-test"
	g.sleep = noSleep
	reqs := []Request{
		{Prompt: "once upon a time", MaxTokens: 50, Seed: 1},
		{Messages: []Message{{Role: "system", Content: "s"}, {Role: "user", Content: "flaky one"}}, MaxTokens: 50, Seed: 2},
		{Prompt: "third", MaxTokens: 50, Seed: 3},
	}
	out, err := g.Generate(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"echo: once upon a time", "echo: flaky one", "echo: third"}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("out[%d] = %q, want %q", i, out[i], want[i])
		}
	}
	if fails.Load() != 3 {
		t.Errorf("flaky request tried %d times, want 3", fails.Load())
	}

	hits.Store(0)
	_, err = g.Generate(context.Background(), []Request{{Prompt: "broken", MaxTokens: 50}})
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") || hits.Load() != 1 {
		t.Errorf("permanent error: %v after %d tries", err, hits.Load())
	}
	g.APIKey = "wrong"
	if _, err = g.Generate(context.Background(), []Request{{Prompt: "x", MaxTokens: 50}}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("auth error: %v", err)
	}
	g.APIKey = "sk-test"
	fails.Store(-100) // always failing now
	g.MaxRetries = 2
	hits.Store(0)
	if _, err = g.Generate(context.Background(), []Request{{Prompt: "flaky", MaxTokens: 50}}); err == nil || hits.Load() != 3 {
		t.Errorf("retries exhausted: %v after %d tries", err, hits.Load())
	}
}

func TestOpenAIChatStoriesEndToEnd(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body chatBody
		json.NewDecoder(r.Body).Decode(&body)
		var n int
		fmt.Sscanf(body.Messages[len(body.Messages)-1].Content, "Write the %d", &n)
		var b strings.Builder
		b.WriteString("Sure.\n\n")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "[story %d]\nShe kept checking the door, her hands cold, listening for steps that never came. Story %d.\n\n", i, i)
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"message": map[string]any{"content": b.String()}}}})
	}))
	defer srv.Close()
	g, _ := NewOpenAI(srv.URL+"/v1", "writer")
	g.sleep = noSleep
	cfg := Config{Spec: Spec{Kind: Emotional, Emotions: []string{"lonely", "afraid"}, Topics: []string{"A neighbor wants to install a fence"},
		PerTopic: 5, Seed: 3}, Style: StyleChat, StoriesPerCall: 3}
	path := filepath.Join(t.TempDir(), "s.jsonl")
	st, _ := OpenStore(path)
	sum, err := Generate(context.Background(), cfg, g, st, nil)
	st.Close()
	if err != nil || sum.Written != 10 || sum.Requests != 4 {
		t.Fatalf("%+v, %v", sum, err)
	}
	all, _ := ReadAll(path)
	for _, s := range all {
		if !strings.HasPrefix(s.Text, "She kept checking") || s.Generator != "openai:writer@"+strings.TrimPrefix(srv.URL, "http://") {
			t.Errorf("story %+v", s)
		}
	}
}
