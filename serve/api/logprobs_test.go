package api

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/respjson"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
)

// lpAlt is one reported alternative: its text and log-prob.
type lpAlt struct {
	text string
	lp   float64
}

// lpRun is what a response reported: the generated ids (from the limbic
// readout), each token's text and log-prob and its alternatives.
type lpRun struct {
	ids   []int
	texts []string
	lps   []float64
	tops  [][]lpAlt
}

// readoutIDs appends the generated ids of a limbic extension's readout.
func readoutIDs(t *testing.T, f respjson.Field, ids []int) []int {
	t.Helper()
	if f.Raw() == "" || f.Raw() == "null" {
		return ids
	}
	var ext ResponseExtension
	if err := json.Unmarshal([]byte(f.Raw()), &ext); err != nil {
		t.Fatalf("limbic extension %s: %v", f.Raw(), err)
	}
	for _, tr := range ext.Tokens {
		if tr.Index != len(ids) {
			t.Fatalf("readout of token %d after %d tokens", tr.Index, len(ids))
		}
		ids = append(ids, tr.Token)
	}
	return ids
}

func (r *lpRun) addChat(c []openai.ChatCompletionTokenLogprob) {
	for _, e := range c {
		r.texts = append(r.texts, e.Token)
		r.lps = append(r.lps, e.Logprob)
		var alts []lpAlt
		for _, a := range e.TopLogprobs {
			alts = append(alts, lpAlt{a.Token, a.Logprob})
		}
		r.tops = append(r.tops, alts)
	}
}

func (r *lpRun) addCompletion(l openai.CompletionChoiceLogprobs) {
	r.texts = append(r.texts, l.Tokens...)
	r.lps = append(r.lps, l.TokenLogprobs...)
	for _, m := range l.TopLogprobs {
		var alts []lpAlt
		for k, v := range m {
			alts = append(alts, lpAlt{k, v})
		}
		slices.SortFunc(alts, func(a, b lpAlt) int { return -cmpFloat(a.lp, b.lp) })
		r.tops = append(r.tops, alts)
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkLogprobs runs prompt+generated ids through the model in one forward
// pass with every position's logits, takes the log-softmax in float64 and
// compares it with what the server reported: each token's log-prob, and the
// k most likely tokens (withSampled: completions' map, which holds the
// sampled token as well).
func checkLogprobs(t *testing.T, s *Server, name string, prompt []int, r lpRun, k int, withSampled bool) {
	t.Helper()
	const tol = 1e-3
	n := len(r.ids)
	if n == 0 || len(r.lps) != n || len(r.texts) != n || len(r.tops) != n {
		t.Fatalf("%s: %d ids, %d log-probs, %d texts, %d top lists: want as many, at least one", name, n, len(r.lps), len(r.texts), len(r.tops))
	}
	m := s.m
	all := append(slices.Clone(prompt), r.ids...)
	seq := &arch.Seq{Cache: m.NewCache(), Tokens: all, Logits: arch.AllLogits}
	if err := m.Forward([]*arch.Seq{seq}); err != nil {
		t.Fatal(err)
	}
	text := func(id int) string { return strings.ToValidUTF8(string(m.Tok.TokenBytes(id)), "\uFFFD") }
	for j, id := range r.ids {
		row := seq.Out[(len(prompt)-1+j)*m.Vocab : (len(prompt)+j)*m.Vocab]
		mx := math.Inf(-1)
		for _, l := range row {
			mx = math.Max(mx, float64(l))
		}
		var sum float64
		for _, l := range row {
			sum += math.Exp(float64(l) - mx)
		}
		ref := make([]float64, len(row))
		for i, l := range row {
			ref[i] = float64(l) - mx - math.Log(sum)
		}
		if d := math.Abs(r.lps[j] - ref[id]); !(d <= tol) {
			t.Errorf("%s: token %d (%q): log-prob %v, the model's softmax gives %v", name, j, text(id), r.lps[j], ref[id])
		}
		if got, want := r.texts[j], text(id); got != want {
			t.Errorf("%s: token %d text %q, want %q", name, j, got, want)
		}
		sorted := slices.Clone(ref)
		slices.SortFunc(sorted, func(a, b float64) int { return -cmpFloat(a, b) })
		alts := r.tops[j]
		if withSampled {
			if !slices.ContainsFunc(alts, func(a lpAlt) bool { return a.text == text(id) }) {
				t.Errorf("%s: token %d: sampled %q missing from top_logprobs %v", name, j, text(id), alts)
			}
			if len(alts) < k || len(alts) > k+1 {
				t.Errorf("%s: token %d: %d alternatives, want %d or %d", name, j, len(alts), k, k+1)
			}
		} else if len(alts) != k {
			t.Errorf("%s: token %d: %d alternatives, want %d", name, j, len(alts), k)
		}
		for a, alt := range alts {
			if a < k {
				if d := math.Abs(alt.lp - sorted[a]); !(d <= tol) {
					t.Errorf("%s: token %d rank %d: log-prob %v, the model's rank %d is %v", name, j, a, alt.lp, a, sorted[a])
				}
			}
			// Some token with that text has that log-prob.
			found := false
			for i, v := range ref {
				if math.Abs(v-alt.lp) <= tol && text(i) == alt.text {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: token %d: alternative %q at %v: no such token in the model's softmax", name, j, alt.text, alt.lp)
			}
		}
	}
}

// TestLogprobsOpenAIClient: the official OpenAI Go client asks for
// logprobs in chat and completions, streamed and not, while sampling at
// temperature 0.9 with top-p; the reported log-probs are those of the
// model's own softmax (temperature 1) at each generated position, checked
// against an independent forward pass over prompt and generated tokens.
func TestLogprobsOpenAIClient(t *testing.T) {
	ts, s := newTestServer(t, true, nil)
	client := openai.NewClient(option.WithBaseURL(ts.URL+"/v1"), option.WithMaxRetries(0))
	ctx := context.Background()
	const k = 4
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me about the dog.")}
	chatPrompt, err := s.chatPrompt([]chat.Message{{Role: "user", Content: "Tell me about the dog."}})
	if err != nil {
		t.Fatal(err)
	}
	chatParams := openai.ChatCompletionNewParams{Model: "stories15m", Messages: msgs, MaxTokens: openai.Int(12),
		Temperature: openai.Float(0.9), TopP: openai.Float(0.9), Seed: openai.Int(7),
		Logprobs: openai.Bool(true), TopLogprobs: openai.Int(k)}

	// Chat, not streamed.
	cc, err := client.Chat.Completions.New(ctx, chatParams)
	if err != nil {
		t.Fatal(err)
	}
	var r lpRun
	r.ids = readoutIDs(t, cc.JSON.ExtraFields["limbic"], nil)
	r.addChat(cc.Choices[0].Logprobs.Content)
	if got, want := strings.Join(r.texts, ""), cc.Choices[0].Message.Content; !strings.HasSuffix(" "+want, got) && got != want {
		t.Errorf("chat: token texts join to %q, content %q", got, want)
	}
	checkLogprobs(t, s, "chat", chatPrompt, r, k, false)

	// Chat, streamed: each chunk carries its token's log-probs.
	stream := client.Chat.Completions.NewStreaming(ctx, chatParams)
	var rs lpRun
	for stream.Next() {
		c := stream.Current()
		rs.ids = readoutIDs(t, c.JSON.ExtraFields["limbic"], rs.ids)
		if len(c.Choices) == 1 {
			rs.addChat(c.Choices[0].Logprobs.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	checkLogprobs(t, s, "chat stream", chatPrompt, rs, k, false)
	if !slices.Equal(rs.ids, r.ids) {
		t.Errorf("streamed ids %v, not streamed %v (same seed)", rs.ids, r.ids)
	}

	// Completions, from token ids, streamed and not.
	prompt := s.m.Tok.Encode("Once upon a time", true)
	p64 := make([]int64, len(prompt))
	for i, id := range prompt {
		p64[i] = int64(id)
	}
	compParams := openai.CompletionNewParams{Model: "stories15m", Prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: p64},
		MaxTokens: openai.Int(12), Temperature: openai.Float(0.9), TopP: openai.Float(0.9), Seed: openai.Int(3), Logprobs: openai.Int(k)}
	comp, err := client.Completions.New(ctx, compParams)
	if err != nil {
		t.Fatal(err)
	}
	var rc lpRun
	rc.ids = readoutIDs(t, comp.JSON.ExtraFields["limbic"], nil)
	lp := comp.Choices[0].Logprobs
	rc.addCompletion(lp)
	checkLogprobs(t, s, "completions", prompt, rc, k, true)
	// text_offset: each token starts where the text of those before it ends.
	text := comp.Choices[0].Text
	if got := strings.Join(lp.Tokens, ""); got != text {
		t.Errorf("completions: tokens join to %q, text %q", got, text)
	}
	off := 0
	for i, tok := range lp.Tokens {
		if i >= len(lp.TextOffset) || lp.TextOffset[i] != int64(off) {
			t.Errorf("completions: text_offset %v, token %d want %d", lp.TextOffset, i, off)
			break
		}
		off += len([]rune(tok))
	}

	cs := client.Completions.NewStreaming(ctx, compParams)
	var rcs lpRun
	for cs.Next() {
		c := cs.Current()
		rcs.ids = readoutIDs(t, c.JSON.ExtraFields["limbic"], rcs.ids)
		if len(c.Choices) == 1 {
			rcs.addCompletion(c.Choices[0].Logprobs)
		}
	}
	if err := cs.Err(); err != nil {
		t.Fatal(err)
	}
	checkLogprobs(t, s, "completions stream", prompt, rcs, k, true)
}

// TestLogprobsOff: without logprobs (or with logprobs false), choices carry
// "logprobs": null; logprobs without top_logprobs lists no alternatives.
func TestLogprobsOff(t *testing.T) {
	ts, _ := newTestServer(t, false, nil)
	tests := []struct {
		name, url, body string
		want            string // the choice's logprobs, as JSON; "" = an object with content
	}{
		{"chat absent", "/v1/chat/completions", `{` + userMsg + `,"max_tokens":3}`, "null"},
		{"chat false", "/v1/chat/completions", `{` + userMsg + `,"max_tokens":3,"logprobs":false,"top_logprobs":0}`, "null"},
		{"completions absent", "/v1/completions", `{"prompt":"Hi","max_tokens":3}`, "null"},
		// greedy: a sampled reply can end at once (a stop token first) and
		// then has no tokens to list
		{"chat no alternatives", "/v1/chat/completions", `{` + userMsg + `,"max_tokens":3,"temperature":0,"logprobs":true}`, ""},
	}
	for _, tt := range tests {
		resp, b := post(t, ts.URL+tt.url, tt.body)
		var got struct {
			Choices []struct {
				Logprobs json.RawMessage `json:"logprobs"`
			} `json:"choices"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil || len(got.Choices) != 1 {
			t.Fatalf("%s: %d %s", tt.name, resp.StatusCode, b)
		}
		lp := string(got.Choices[0].Logprobs)
		if tt.want != "" {
			if lp != tt.want {
				t.Errorf("%s: logprobs %s, want %s", tt.name, lp, tt.want)
			}
			continue
		}
		var c ChatLogprobs
		if err := json.Unmarshal([]byte(lp), &c); err != nil || len(c.Content) == 0 {
			t.Fatalf("%s: logprobs %s, want content", tt.name, lp)
		}
		for i, e := range c.Content {
			if len(e.TopLogprobs) != 0 || !(e.Logprob <= 0) || len(e.Bytes) == 0 {
				t.Errorf("%s: entry %d = %+v, want a log-prob ≤ 0, bytes, no alternatives", tt.name, i, e)
			}
		}
	}
}

// TestLogprobsValidation: out-of-range or inconsistent logprobs settings are
// 400s naming the field.
func TestLogprobsValidation(t *testing.T) {
	ts, _ := newTestServer(t, false, nil)
	chatURL, comp := ts.URL+"/v1/chat/completions", ts.URL+"/v1/completions"
	tests := []struct {
		name, url, body, param string
	}{
		{"top_logprobs over 20", chatURL, `{` + userMsg + `,"logprobs":true,"top_logprobs":21}`, "top_logprobs"},
		{"top_logprobs negative", chatURL, `{` + userMsg + `,"logprobs":true,"top_logprobs":-1}`, "top_logprobs"},
		{"top_logprobs without logprobs", chatURL, `{` + userMsg + `,"top_logprobs":3}`, "top_logprobs"},
		{"top_logprobs with logprobs false", chatURL, `{` + userMsg + `,"logprobs":false,"top_logprobs":3}`, "top_logprobs"},
		{"chat logprobs a number", chatURL, `{` + userMsg + `,"logprobs":3}`, "logprobs"},
		{"top_logprobs a string", chatURL, `{` + userMsg + `,"logprobs":true,"top_logprobs":"3"}`, "top_logprobs"},
		{"completions logprobs over 5", comp, `{"prompt":"Hi","logprobs":6}`, "logprobs"},
		{"completions logprobs negative", comp, `{"prompt":"Hi","logprobs":-1}`, "logprobs"},
		{"completions logprobs a boolean", comp, `{"prompt":"Hi","logprobs":true}`, "logprobs"},
		{"completions logprobs with echo", comp, `{"prompt":"Hi","logprobs":2,"echo":true}`, "logprobs"},
		{"completions top_logprobs", comp, `{"prompt":"Hi","top_logprobs":2}`, "top_logprobs"},
	}
	for _, tt := range tests {
		resp, b := post(t, tt.url, tt.body)
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d body %s, want 400", tt.name, resp.StatusCode, b)
			continue
		}
		d := apiErr(t, tt.name, resp, b)
		if got := param(d); got != tt.param || !strings.Contains(d.Message, tt.param) {
			t.Errorf("%s: param %q message %q, want param %q named in the message", tt.name, got, d.Message, tt.param)
		}
	}
}
