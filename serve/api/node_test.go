package api

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/internal/testref"
)

// TestOpenAINodeSDK drives the server with the official OpenAI Node.js SDK
// (npm "openai", pinned in testdata/npm): the limbic extension goes as an
// extra body field, and the streamed chunks carry the per-token readouts.
func TestOpenAINodeSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed (the test set-up installs it): %v", err)
	}
	testref.NPM(t, "openai", "package.json")
	ts, _ := newTestServer(t, true, func(c *Config) { c.APIKey = "sekrit" })
	script, err := filepath.Abs(filepath.Join("testdata", "openai-node.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script)
	cmd.Env = append(os.Environ(), "LIMBIC_URL="+ts.URL, "LIMBIC_KEY=sekrit",
		"NODE_PATH="+filepath.Join(testref.NPMRoot(), "node_modules"))
	// ES modules resolve packages from the script's folder upwards, not
	// NODE_PATH: run a copy beside the npm packages.
	tmp := filepath.Join(testref.NPMRoot(), "node_modules", ".limbic-openai-node-test.mjs")
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(tmp)
	cmd.Args[1] = tmp
	var stderr strings.Builder
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var out struct {
		Content string `json:"content"`
		Limbic  struct {
			Steer  []string       `json:"steer"`
			Tokens []TokenReadout `json:"tokens"`
		} `json:"limbic"`
		Usage              Usage              `json:"usage"`
		StreamText         string             `json:"streamText"`
		StreamReadouts     []TokenReadout     `json:"streamReadouts"`
		Completion         string             `json:"completion"`
		Logprobs           []TokenLogprob     `json:"logprobs"`
		StreamLogprobs     []TokenLogprob     `json:"streamLogprobs"`
		CompletionLogprobs CompletionLogprobs `json:"completionLogprobs"`
		CompletionLPText   string             `json:"completionLogprobsText"`
		BadSteer           struct {
			Status  int    `json:"status"`
			Message string `json:"message"`
		} `json:"badSteer"`
	}
	if err := json.Unmarshal(outb, &out); err != nil {
		t.Fatalf("%v: %s", err, outb)
	}
	if out.Content == "" || out.Usage.CompletionTokens == 0 {
		t.Errorf("chat completion: content %q, usage %+v", out.Content, out.Usage)
	}
	if len(out.Limbic.Steer) != 1 || !strings.HasPrefix(out.Limbic.Steer[0], "happy") {
		t.Errorf("the extension's steering was not applied: %+v", out.Limbic.Steer)
	}
	if len(out.Limbic.Tokens) != out.Usage.CompletionTokens {
		t.Errorf("%d readouts for %d tokens", len(out.Limbic.Tokens), out.Usage.CompletionTokens)
	}
	for _, r := range out.Limbic.Tokens {
		if _, ok := r.Scores["happy"]; !ok || len(r.Scores) != 2 {
			t.Errorf("readout %+v: want scores for happy and sad only", r)
			break
		}
	}
	if out.StreamText != out.Content {
		t.Errorf("streamed %q, non-streamed %q (same seed)", out.StreamText, out.Content)
	}
	if len(out.StreamReadouts) != len(out.Limbic.Tokens) {
		t.Errorf("streamed %d readouts, non-streamed %d", len(out.StreamReadouts), len(out.Limbic.Tokens))
	}
	if out.Completion == "" {
		t.Error("empty text completion")
	}
	if len(out.Logprobs) == 0 || len(out.StreamLogprobs) != len(out.Logprobs) {
		t.Errorf("chat logprobs: %d entries, streamed %d: want as many, at least one", len(out.Logprobs), len(out.StreamLogprobs))
	}
	for i, e := range out.Logprobs {
		if i >= len(out.StreamLogprobs) {
			break
		}
		se := out.StreamLogprobs[i]
		if d := math.Abs(e.Logprob - se.Logprob); e.Token != se.Token || !(d <= 1e-6) || len(e.TopLogprobs) != 2 || len(se.TopLogprobs) != 2 {
			t.Errorf("chat logprobs %d: %+v, streamed %+v: want the same, with 2 alternatives", i, e, se)
		}
		if !(e.Logprob <= 0) || !(e.TopLogprobs[0].Logprob >= e.TopLogprobs[1].Logprob) {
			t.Errorf("chat logprobs %d: %+v: want a log-prob ≤ 0 and alternatives most likely first", i, e)
		}
	}
	cl := out.CompletionLogprobs
	if n := len(cl.Tokens); n == 0 || len(cl.TokenLogprobs) != n || len(cl.TopLogprobs) != n || len(cl.TextOffset) != n || strings.Join(cl.Tokens, "") != out.CompletionLPText {
		t.Errorf("completion logprobs %+v for text %q: want parallel lists over its tokens", cl, out.CompletionLPText)
	}
	if out.BadSteer.Status != 400 || !strings.Contains(out.BadSteer.Message, "nosuch") {
		t.Errorf("unknown emotion: %+v, want a 400 naming it", out.BadSteer)
	}
}
