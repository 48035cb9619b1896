package behave

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// chatModel is the embedded model exported as a Hugging Face directory with
// a chat template added, so chat scenarios can run on it.
func chatModel(t *testing.T, base *model.Model) *model.Model {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "chat")
	if err := base.ExportHF(dir, true); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "tokenizer_config.json")
	cfg := map[string]any{}
	if data, err := os.ReadFile(p); err == nil {
		if err := json.Unmarshal(data, &cfg); err != nil {
			t.Fatal(err)
		}
	}
	cfg["chat_template"] = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(context.Background(), dir, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if m.Tok.ChatTemplate() == "" {
		t.Fatal("the exported model has no chat template")
	}
	return m
}

// TestChatScenarioRuns: a shipped chat scenario renders through the chat
// template and runs steered and unsteered cells; on a base model it is
// refused.
func TestChatScenarioRuns(t *testing.T) {
	env := testEnv(t)
	sc, err := ShippedNamed("sycophancy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.PromptIDs(env.Model); err == nil || !strings.Contains(err.Error(), "no chat template") {
		t.Errorf("chat scenario on a base model: got %v, want a no-chat-template error", err)
	}
	m := chatModel(t, env.Model)
	b := model.NewBatcher(m.Transformer, model.BatcherOptions{MaxSeqs: 4})
	defer b.Close()
	env.Model, env.Batcher = m, b
	env.Pack = testpack.Random(testpack.Options{Emotions: []string{"happy", "calm", "angry"}, D: m.Dim, Layers: m.Layers, Seed: 2, BestLayer: 3,
		Norm: func(int) float64 { return 4 }})
	ids, err := sc.PromptIDs(m)
	if err != nil {
		t.Fatal(err)
	}
	if text := m.Tok.Decode(ids); !strings.Contains(text, "user: I have realised") || !strings.HasSuffix(text, "assistant:") {
		t.Errorf("rendered prompt %q: want the conversation in the template ending with the generation prompt", text)
	}
	sc.Rollouts, sc.MaxTokens = 2, 5
	sc.Sweep.Emotions, sc.Sweep.Strengths = []string{"calm"}, []float64{0, 0.5}
	res, err := Run(context.Background(), env, sc, filepath.Join(t.TempDir(), "s.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Generated, 4; got != want {
		t.Errorf("generated %d, want %d", got, want)
	}
	for _, c := range res.Cells {
		if c.Total != 2 {
			t.Errorf("cell %+v: %d graded rollouts, want 2", c.Cell, c.Total)
		}
	}
}

// TestJudgeInSweep: a judge-graded scenario asks the endpoint once per
// rollout, and a resumed sweep keeps the stored labels without asking
// again.
func TestJudgeInSweep(t *testing.T) {
	env := testEnv(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		ans := "ate"
		if n%2 == 0 {
			ans = "left"
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"message": chatMsg{"assistant", ans}}}})
	}))
	defer srv.Close()
	src := strings.Replace(goodScenario, "target: shared", "target: ate", 1)
	i := strings.Index(src, "grader:")
	j := strings.Index(src, "sweep:")
	src = src[:i] + "grader:\n  type: judge\n  judge:\n    model: j\n    rubric: Did he eat the cookie?\n    labels: [ate, left]\n" + src[j:]
	sc, err := Parse("judge.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	sc.Sweep.Strengths = []float64{0}
	env.JudgeURL = srv.URL
	env.Pack = (*vecpack.Pack)(nil)
	path := filepath.Join(t.TempDir(), "j.jsonl")
	res, err := Run(context.Background(), env, sc, path)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Cells[0]
	if calls.Load() != 4 || c.Total != 4 || c.TargetCount != 2 || c.N != 4 {
		t.Errorf("judge calls %d, cell %+v; want 4 calls, 2 of 4 ate", calls.Load(), c)
	}
	again, err := Run(context.Background(), env, sc, path)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 4 || again.Cells[0].TargetCount != 2 {
		t.Errorf("resumed: judge calls %d, ate %d; want 4 calls (none new), 2 ate", calls.Load(), again.Cells[0].TargetCount)
	}
}
