package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/internal/testref"
	"github.com/limbic-dev/limbic/science/vecpack"
)

var (
	onceModel sync.Once
	testModel *model.Model
	modelErr  error
)

func loadModel(t testing.TB) *model.Model {
	t.Helper()
	testref.Stories15M(t)
	onceModel.Do(func() { testModel, modelErr = model.Load(context.Background(), model.Default, model.LoadOptions{}) })
	if modelErr != nil {
		t.Fatal(modelErr)
	}
	return testModel
}

// testPack: random vectors for a few emotions at every layer, baseline mean 0, std 1.
func testPack(d, layers int) *vecpack.Pack {
	return testpack.Random(testpack.Options{Emotions: []string{"happy", "sad", "calm", "desperate", "angry", "afraid"}, D: d, Layers: layers,
		Seed: 9, ModelID: "stories15m", BestLayer: 3, Norm: testpack.Constant(8)})
}

func newTestServer(t testing.TB, withPack bool, mod func(*Config)) (*httptest.Server, *Server) {
	t.Helper()
	m := loadModel(t)
	cfg := Config{Model: m, MaxTokens: 64}
	if withPack {
		cfg.Pack, cfg.PackPath = testPack(m.Dim, m.Layers), "test-pack"
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts, s
}

func post(t testing.TB, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestModels(t *testing.T) {
	for _, withPack := range []bool{false, true} {
		ts, _ := newTestServer(t, withPack, nil)
		resp, err := http.Get(ts.URL + "/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Object string      `json:"object"`
			Data   []ModelInfo `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if got.Object != "list" || len(got.Data) != 1 || got.Data[0].ID != "stories15m" {
			t.Fatalf("models = %+v", got)
		}
		l := got.Data[0].Limbic
		if l.Readout != withPack || (withPack && len(l.Emotions) != 6) || (!withPack && !strings.Contains(l.Note, "no vector pack")) {
			t.Errorf("pack %v: limbic = %+v", withPack, l)
		}
		if l.ChatTemplate != "plain" {
			t.Errorf("chat template %q, want plain for stories15M", l.ChatTemplate)
		}
	}
}

func TestChatNonStream(t *testing.T) {
	ts, _ := newTestServer(t, true, nil)
	resp, b := post(t, ts.URL+"/v1/chat/completions", `{"model":"stories15m","messages":[{"role":"user","content":"Tell me a story."}],
		"max_tokens":12,"temperature":0,"limbic":{"readout":{"top_k":2}}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var r ChatResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Object != "chat.completion" || len(r.Choices) != 1 || r.Choices[0].Message.Role != "assistant" || r.Choices[0].Message.Content == "" {
		t.Fatalf("response %s", b)
	}
	if r.Usage.CompletionTokens == 0 || r.Usage.TotalTokens != r.Usage.PromptTokens+r.Usage.CompletionTokens {
		t.Errorf("usage %+v", r.Usage)
	}
	if r.Limbic == nil || len(r.Limbic.Tokens) != r.Usage.CompletionTokens || len(r.Limbic.Summary) != 6 || r.Limbic.Stat != "z" {
		t.Fatalf("limbic %+v", r.Limbic)
	}
	if tk := r.Limbic.Tokens[0]; len(tk.Scores) != 2 || tk.Pos != r.Usage.PromptTokens-1 {
		t.Errorf("first token readout %+v (prompt %d tokens)", tk, r.Usage.PromptTokens)
	}
	var joined strings.Builder
	for _, tk := range r.Limbic.Tokens {
		joined.WriteString(tk.Text)
	}
	if joined.String() != r.Choices[0].Message.Content {
		t.Errorf("token texts %q != content %q", joined.String(), r.Choices[0].Message.Content)
	}
}

// sse reads an SSE body into its data payloads, checking the framing.
func sse(t *testing.T, body io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	expectBlank := false
	for sc.Scan() {
		line := sc.Text()
		if expectBlank {
			if line != "" {
				t.Fatalf("event not followed by a blank line: %q", line)
			}
			expectBlank = false
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("unexpected SSE line %q", line)
		}
		out = append(out, data)
		expectBlank = true
	}
	return out
}

func TestChatStreamMatchesNonStream(t *testing.T) {
	ts, _ := newTestServer(t, true, nil)
	body := `{"messages":[{"role":"user","content":"Tell me about a cat."}],"max_tokens":16,"temperature":0.7,"seed":42,
		"stream":%s,"stream_options":{"include_usage":true}}`
	_, b := post(t, ts.URL+"/v1/chat/completions", strings.Replace(body, "%s", "false", 1))
	var full ChatResponse
	json.Unmarshal(b, &full)
	resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(strings.Replace(body, "%s", "true", 1)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := sse(t, resp.Body)
	if events[len(events)-1] != "[DONE]" {
		t.Fatalf("last event %q", events[len(events)-1])
	}
	var content strings.Builder
	var finish string
	var usage *Usage
	readouts := 0
	for i, e := range events[:len(events)-1] {
		var c ChatChunk
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, e)
		}
		if c.Object != "chat.completion.chunk" {
			t.Fatalf("object %q", c.Object)
		}
		if i == 0 && (len(c.Choices) != 1 || c.Choices[0].Delta.Role != "assistant") {
			t.Errorf("first chunk %s", e)
		}
		if c.Usage != nil {
			usage = c.Usage
			continue
		}
		if len(c.Choices) == 1 {
			if c.Choices[0].Delta.Content != nil {
				content.WriteString(*c.Choices[0].Delta.Content)
			}
			if c.Choices[0].FinishReason != nil {
				finish = *c.Choices[0].FinishReason
				if c.Limbic == nil || len(c.Limbic.Summary) == 0 {
					t.Errorf("final chunk without summary: %s", e)
				}
			}
		}
		if c.Limbic != nil {
			readouts += len(c.Limbic.Tokens)
		}
	}
	if content.String() != full.Choices[0].Message.Content {
		t.Errorf("streamed %q, non-streamed %q", content.String(), full.Choices[0].Message.Content)
	}
	if finish != full.Choices[0].FinishReason || usage == nil || usage.CompletionTokens != full.Usage.CompletionTokens || readouts != usage.CompletionTokens {
		t.Errorf("finish %q/%q usage %+v/%+v readouts %d", finish, full.Choices[0].FinishReason, usage, full.Usage, readouts)
	}
}

func TestOpenAIClient(t *testing.T) {
	ts, _ := newTestServer(t, true, func(c *Config) { c.APIKey = "sekrit" })
	client := openai.NewClient(option.WithBaseURL(ts.URL+"/v1"), option.WithAPIKey("sekrit"))
	ctx := context.Background()
	cc, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:     "stories15m",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be kind."), openai.UserMessage("Once upon a time")},
		MaxTokens: openai.Int(8),
		Seed:      openai.Int(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.Choices) != 1 || cc.Choices[0].Message.Content == "" || cc.Usage.CompletionTokens == 0 {
		t.Fatalf("completion %+v", cc)
	}
	if _, ok := cc.JSON.ExtraFields["limbic"]; !ok {
		t.Error("no limbic extension in the response")
	}
	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:     "stories15m",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
		MaxTokens: openai.Int(8),
	})
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content == "" {
		t.Errorf("accumulated %+v", acc.ChatCompletion)
	}
	comp, err := client.Completions.New(ctx, openai.CompletionNewParams{
		Model:     "stories15m",
		Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("The dog")},
		MaxTokens: openai.Int(6),
	})
	if err != nil || len(comp.Choices) != 1 || comp.Choices[0].Text == "" {
		t.Fatalf("completion %+v, %v", comp, err)
	}
	bad := openai.NewClient(option.WithBaseURL(ts.URL+"/v1"), option.WithAPIKey("wrong"), option.WithMaxRetries(0))
	if _, err := bad.Models.List(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong key: %v", err)
	}
	resp, err := http.Get(ts.URL + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("health without key: %v %v", resp, err)
	}
}

func TestErrors(t *testing.T) {
	ts, _ := newTestServer(t, true, func(c *Config) { c.MaxBody = 2000 })
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"malformed", `{"messages": [`, 400, "malformed JSON"},
		{"no messages", `{"messages": []}`, 400, "messages"},
		{"bad role", `{"messages": [{"role": "robot", "content": "x"}]}`, 400, "role"},
		{"max tokens", `{"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}`, 400, "max_tokens"},
		{"temperature", `{"messages": [{"role": "user", "content": "x"}], "temperature": 9}`, 400, "temperature"},
		{"n", `{"messages": [{"role": "user", "content": "x"}], "n": 3}`, 400, "n 3"},
		{"bad steer", `{"messages": [{"role": "user", "content": "x"}], "limbic": {"steer": ["calm"]}}`, 400, "steer"},
		{"unknown emotion", `{"messages": [{"role": "user", "content": "x"}], "limbic": {"steer": ["bliss=0.1"]}}`, 400, "bliss"},
		{"unknown readout emotion", `{"messages": [{"role": "user", "content": "x"}], "limbic": {"readout": {"emotions": ["zen"]}}}`, 400, "zen"},
		{"bad layer", `{"messages": [{"role": "user", "content": "x"}], "limbic": {"readout": {"layer": 40}}}`, 400, "layer"},
		{"too big", `{"messages": [{"role": "user", "content": "` + strings.Repeat("a", 3000) + `"}]}`, 413, "limit"},
		{"long prompt", `{"messages": [{"role": "user", "content": "` + strings.Repeat("dog ", 400) + `"}]}`, 400, "context length"},
	}
	for _, tt := range tests {
		url := ts.URL + "/v1/chat/completions"
		if tt.name == "long prompt" {
			// under the body limit of a fresh server
			ts2, _ := newTestServer(t, true, nil)
			url = ts2.URL + "/v1/chat/completions"
		}
		resp, b := post(t, url, tt.body)
		var e ErrorBody
		if resp.StatusCode != tt.status || json.Unmarshal(b, &e) != nil || !strings.Contains(e.Error.Message, tt.want) {
			t.Errorf("%s: status %d body %s; want %d with %q", tt.name, resp.StatusCode, b, tt.status, tt.want)
		}
	}
	// Completions with a stop string.
	resp, b := post(t, ts.URL+"/v1/completions", `{"prompt": "Once upon a time", "max_tokens": 40, "temperature": 0, "stop": ["."]}`)
	var c CompletionResponse
	if resp.StatusCode != 200 || json.Unmarshal(b, &c) != nil || strings.Contains(c.Choices[0].Text, ".") || *c.Choices[0].FinishReason != "stop" {
		t.Errorf("stop string: %d %s", resp.StatusCode, b)
	}
}

func TestNoPackPlainCompletions(t *testing.T) {
	ts, _ := newTestServer(t, false, nil)
	resp, b := post(t, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"Hi"}],"max_tokens":5}`)
	var r ChatResponse
	if resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil || r.Limbic == nil || !strings.Contains(r.Limbic.Note, "no vector pack") {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	resp, _ = post(t, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"Hi"}],"limbic":{"steer":["calm=0.1"]}}`)
	if resp.StatusCode != 400 {
		t.Errorf("steer without a pack: status %d", resp.StatusCode)
	}
}

// TestSteerMovesReadout: steering +happy at the read layer raises happy's readout.
func TestSteerMovesReadout(t *testing.T) {
	ts, _ := newTestServer(t, true, nil)
	run := func(steerSpec string) float64 {
		ext := `"limbic":{"readout":{"emotions":["happy"],"layer":3}}`
		if steerSpec != "" {
			ext = `"limbic":{"readout":{"emotions":["happy"],"layer":3},"steer":["` + steerSpec + `"]}`
		}
		resp, b := post(t, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":8,"temperature":0,`+ext+`}`)
		var r ChatResponse
		if resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		// The first token's readout is at the last prompt position, which
		// does not depend on what is generated.
		return float64(r.Limbic.Tokens[0].Scores["happy"])
	}
	base, steered := run(""), run("happy=0.5@3")
	// +0.5 · mean norm 8 along the unit vector adds 4 to the projection; z uses std 1.
	if d := steered - base; d < 3.999 || d > 4.001 {
		t.Errorf("happy z at the last prompt position moved by %.3f, want 4", d)
	}
}

func TestClientDisconnectCancels(t *testing.T) {
	ts, s := newTestServer(t, true, func(c *Config) { c.MaxTokens = 2000 })
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/chat/completions",
		bytes.NewBufferString(`{"messages":[{"role":"user","content":"Go on"}],"max_tokens":200,"stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 4; i++ {
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if w, a := s.batcher.Load(); w == 0 && a == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	w, a := s.batcher.Load()
	t.Errorf("after disconnect: %d waiting, %d active", w, a)
}
