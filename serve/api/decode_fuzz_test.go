package api

import (
	"encoding/json"
	"errors"
	"math"
	"net/http/httptest"
	"testing"
)

// FuzzDecodeRequest: request decoding and validation never panic, and
// every rejection is a 4xx OpenAI-shaped error without Go internals.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"temperature":0.7,"top_p":0.9,"stop":["."]}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"limbic":{"steer":["calm=0.1@3:generated",{"emotion":"sad","strength":-0.05,"span":"prompt"}],"readout":{"emotions":["calm"],"layer":3,"top_k":2,"every":1,"stat":"z"}}}`,
		`{"prompt":"Once","echo":true,"suffix":null,"best_of":1,"stream":true,"stream_options":{"include_usage":true}}`,
		`{"prompt":[1,2,3],"limbic":{"steer":["calm=NaN"]}}`,
		`{"messages":"hi","frequency_penalty":0.5,"tools":[]}`,
		`{"limbic":{"steer":[{"emotion":"calm","strength":1e400,"span":{"kind":"ranges","ranges":[{"from":1,"to":2}]}}]}}`,
		`[1,2]`, `null`, `{"limbic":null}`, `{"limbic":{"stear":1}}`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	s := &Server{cfg: Config{MaxTokens: 64, DefaultMax: 16}}
	check := func(t *testing.T, what string, err error) {
		if err == nil {
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			t.Fatalf("%s: error %T %q is no apiError", what, err, err)
		}
		if ae.status < 400 || ae.status > 499 || ae.msg == "" || ae.typ == "" {
			t.Fatalf("%s: error %+v, want a 4xx with a message and type", what, ae)
		}
		if leaksGo(ae.msg) {
			t.Fatalf("%s: message leaks Go internals: %q", what, ae.msg)
		}
		rec := httptest.NewRecorder()
		writeErr(rec, err)
		var eb ErrorBody
		if rec.Code != ae.status || json.Unmarshal(rec.Body.Bytes(), &eb) != nil || eb.Error.Message != ae.msg {
			t.Fatalf("%s: written as %d %q", what, rec.Code, rec.Body.String())
		}
	}
	checkExt := func(t *testing.T, ext *Extension) {
		if ext == nil {
			return
		}
		for i, sp := range ext.Steer {
			if !(math.Abs(sp.Strength) <= MaxSteerStrength) {
				t.Fatalf("accepted limbic.steer[%d] strength %v", i, sp.Strength)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var c ChatRequest
		err := decodeBody(body, &c)
		if err == nil {
			_, err = s.params(c.MaxTokens, c.Temperature, c.TopP, c.TopK, c.Seed, c.N, c.Stop, c.Limbic)
			if err == nil {
				checkExt(t, c.Limbic)
				if _, err := json.Marshal(c); err != nil {
					t.Fatalf("accepted chat request does not re-encode: %v", err)
				}
			}
		}
		check(t, "chat", err)
		var p CompletionRequest
		err = decodeBody(body, &p)
		if err == nil {
			_, err = s.params(p.MaxTokens, p.Temperature, p.TopP, p.TopK, p.Seed, p.N, p.Stop, p.Limbic)
			if err == nil {
				checkExt(t, p.Limbic)
			}
		}
		check(t, "completions", err)
	})
}
