package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/serve/store"
)

// TestStoredTraceKeepsText: the stored trace has a row for every prompt
// token and every generated token, with its text (the prompt's text and the
// completion's text read back from the rows), and readout values on the
// trace stride only.
func TestStoredTraceKeepsText(t *testing.T) {
	const prompt = "Once upon a time there was a cat"
	for _, stride := range []int{1, 3} {
		st := openStore(t)
		ts, _ := newTestServer(t, true, func(c *Config) { c.Store, c.TraceStride = st, stride })
		resp, b := post(t, ts.URL+"/v1/completions", `{"prompt":"`+prompt+`","max_tokens":12,"temperature":0,"limbic":{"conversation_id":"c1"}}`)
		var r CompletionResponse
		if resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		c, err := st.Conversation(context.Background(), "c1")
		if err != nil {
			t.Fatal(err)
		}
		n := c.PromptTokens + r.Usage.CompletionTokens
		if got, want := len(c.Trace), n; got != want {
			t.Fatalf("stride %d: %d rows, want %d (%d prompt + %d generated tokens)", stride, got, want, c.PromptTokens, r.Usage.CompletionTokens)
		}
		var ptext, gtext strings.Builder
		for i, p := range c.Trace {
			if p.Pos != i || p.Generated != (i >= c.PromptTokens) {
				t.Fatalf("stride %d: row %d: pos %d generated %v", stride, i, p.Pos, p.Generated)
			}
			if p.Generated {
				gtext.WriteString(p.Text)
			} else {
				ptext.WriteString(p.Text)
			}
			// The last token's readout is never computed (no forward pass
			// follows it); the others are read, and stored on the stride.
			wantVals := i%stride == 0 && i < n-1
			if got := len(p.Values) == len(c.Emotions); got != wantVals || (!wantVals && len(p.Values) != 0) {
				t.Errorf("stride %d: row %d has %d values, want them: %v", stride, i, len(p.Values), wantVals)
			}
		}
		if got, want := strings.TrimSpace(ptext.String()), prompt; got != want {
			t.Errorf("stride %d: stored prompt text %q, want %q", stride, got, want)
		}
		if got, want := gtext.String(), r.Choices[0].Text; got != want {
			t.Errorf("stride %d: stored completion text %q, want %q", stride, got, want)
		}
		if c.Status != store.StatusDone {
			t.Errorf("stride %d: status %q", stride, c.Status)
		}
	}
}
