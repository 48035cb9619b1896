package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/serve/store"
)

// params validates the sampling parameters shared by both endpoints and
// the numbers of the limbic extension.
func (s *Server) params(maxTokens *int, temp, topP *float64, topK *int, seed *int64, n *int, stop Stop, ext *Extension) (genParams, error) {
	p := genParams{max: s.cfg.DefaultMax, ext: ext, stops: stop}
	if maxTokens != nil {
		if *maxTokens < 1 || *maxTokens > s.cfg.MaxTokens {
			return p, badParam("max_tokens", "max_tokens %d: must be between 1 and %d", *maxTokens, s.cfg.MaxTokens)
		}
		p.max = *maxTokens
	}
	p.sampling.Temp = 1 // OpenAI's default
	if temp != nil {
		if !(*temp >= 0 && *temp <= 2) {
			return p, badParam("temperature", "temperature %v: must be between 0 and 2", *temp)
		}
		p.sampling.Temp = *temp
	}
	if topP != nil {
		if !(*topP > 0 && *topP <= 1) {
			return p, badParam("top_p", "top_p %v: must be in (0, 1]", *topP)
		}
		p.sampling.TopP = *topP
	}
	if topK != nil {
		if *topK < 0 {
			return p, badParam("top_k", "top_k %d: must be ≥ 0", *topK)
		}
		p.sampling.TopK = *topK
	}
	if seed != nil {
		p.sampling.Seed = uint64(*seed)
	} else {
		p.sampling.Seed = uint64(time.Now().UnixNano())
	}
	if n != nil && *n != 1 {
		return p, badParam("n", "n %d: only n = 1 is supported", *n)
	}
	if len(stop) > 4 {
		return p, badParam("stop", "stop: at most 4 sequences")
	}
	for _, st := range stop {
		if st == "" {
			return p, badParam("stop", "stop: empty stop sequence")
		}
	}
	if ext != nil {
		for i, sp := range ext.Steer {
			if err := checkStrength(sp.Strength); err != nil {
				return p, badParam(fmt.Sprintf("limbic.steer[%d].strength", i), "limbic.steer[%d] %s", i, err)
			}
		}
		if ro := ext.Readout; ro != nil {
			if ro.TopK < 0 {
				return p, badParam("limbic.readout.top_k", "limbic.readout.top_k %d: must be ≥ 0", ro.TopK)
			}
			if ro.Every < 0 {
				return p, badParam("limbic.readout.every", "limbic.readout.every %d: must be ≥ 0", ro.Every)
			}
		}
	}
	return p, nil
}

// chatPrompt renders messages with the chat template and encodes them,
// with BOS when the tokenizer wants one.
func (s *Server) chatPrompt(msgs []chat.Message) ([]int, error) {
	o := s.tmplOpts
	o.AddGenerationPrompt = true
	text, err := s.tmpl.Render(msgs, o)
	if err != nil {
		return nil, badRequest("chat template: %v", err)
	}
	ids := s.m.Tok.Encode(text, false)
	if s.m.Tok.DefaultAddBOS() && (len(ids) == 0 || ids[0] != s.m.Tok.BOS()) {
		ids = append([]int{s.m.Tok.BOS()}, ids...)
	}
	return ids, nil
}

// maxCompletionLogprobs is the most alternatives completions' logprobs
// asks for (OpenAI's limit).
const maxCompletionLogprobs = 5

func (s *Server) checkPrompt(p *genParams) error {
	if len(p.prompt) == 0 {
		return badRequest("empty prompt")
	}
	if len(p.prompt)+1 > s.m.MaxSeq {
		return &apiError{status: http.StatusBadRequest, typ: "context_length_exceeded",
			msg: fmt.Sprintf("prompt of %d tokens does not fit the context length of %d", len(p.prompt), s.m.MaxSeq)}
	}
	p.max = min(p.max, s.m.MaxSeq-len(p.prompt))
	return nil
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	var req ChatRequest
	if err := s.decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len(req.Messages) == 0 {
		writeErr(w, badRequest("messages: at least one message is required"))
		return
	}
	msgs := make([]chat.Message, len(req.Messages))
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant", "developer":
		default:
			writeErr(w, badRequest("messages[%d].role %q: want system, user or assistant", i, m.Role))
			return
		}
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		msgs[i] = chat.Message{Role: role, Content: string(m.Content)}
	}
	mt := req.MaxTokens
	if req.MaxCompletionTokens != nil {
		mt = req.MaxCompletionTokens
	}
	p, err := s.params(mt, req.Temperature, req.TopP, req.TopK, req.Seed, req.N, req.Stop, req.Limbic)
	if err != nil {
		writeErr(w, err)
		return
	}
	p.logprobs = req.Logprobs != nil && *req.Logprobs
	if k := req.TopLogprobs; k != nil {
		switch {
		case *k < 0 || *k > model.MaxTopLogProbs:
			writeErr(w, badParam("top_logprobs", "top_logprobs %d: must be between 0 and %d", *k, model.MaxTopLogProbs))
			return
		case *k > 0 && !p.logprobs:
			writeErr(w, badParam("top_logprobs", "top_logprobs %d needs logprobs: true", *k))
			return
		}
		p.topLogprobs = *k
	}
	if p.prompt, err = s.chatPrompt(msgs); err != nil {
		writeErr(w, err)
		return
	}
	if err := s.checkPrompt(&p); err != nil {
		writeErr(w, err)
		return
	}
	p.request, _ = json.Marshal(req)
	s.generate(w, r, p, req.Stream, req.StreamOptions, true, "")
}

func (s *Server) handleCompletion(w http.ResponseWriter, r *http.Request) {
	var req CompletionRequest
	if err := s.decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	p, err := s.params(req.MaxTokens, req.Temperature, req.TopP, req.TopK, req.Seed, req.N, req.Stop, req.Limbic)
	if err != nil {
		writeErr(w, err)
		return
	}
	if k := req.Logprobs; k != nil {
		switch {
		case *k < 0 || *k > maxCompletionLogprobs:
			writeErr(w, badParam("logprobs", "logprobs %d: must be between 0 and %d", *k, maxCompletionLogprobs))
			return
		case req.Echo:
			writeErr(w, badParam("logprobs", "logprobs with echo: the log-probs of prompt tokens are not supported by this server"))
			return
		}
		p.logprobs, p.topLogprobs = true, *k
	}
	// prompt: a string, an array of one string, or an array of token ids.
	var str string
	var strs []string
	var ids []int
	switch {
	case json.Unmarshal(req.Prompt, &str) == nil:
	case json.Unmarshal(req.Prompt, &strs) == nil && len(strs) == 1:
		str = strs[0]
	case json.Unmarshal(req.Prompt, &ids) == nil && len(ids) > 0:
		for i, id := range ids {
			if id < 0 || id >= s.m.Vocab {
				writeErr(w, badRequest("prompt[%d]: token %d outside the vocabulary [0, %d)", i, id, s.m.Vocab))
				return
			}
		}
		p.prompt = ids
	default:
		writeErr(w, badRequest("prompt: want a string, an array of one string, or an array of token ids"))
		return
	}
	if p.prompt == nil {
		p.prompt = s.m.Tok.Encode(str, s.m.Tok.DefaultAddBOS())
	}
	if err := s.checkPrompt(&p); err != nil {
		writeErr(w, err)
		return
	}
	p.request, _ = json.Marshal(req)
	echo := ""
	if req.Echo {
		echo = str
		if ids != nil {
			echo = s.m.Tok.Decode(ids)
		}
	}
	s.generate(w, r, p, req.Stream, req.StreamOptions, false, echo)
}

// generate runs a session and writes the response, streamed or not; echo
// is text put before the completion (completions' echo).
func (s *Server) generate(w http.ResponseWriter, r *http.Request, p genParams, stream bool, so *StreamOptions, isChat bool, echo string) {
	if !s.admit() {
		w.Header().Set("Retry-After", "1")
		writeAPIError(w, &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error",
			msg: fmt.Sprintf("server busy: %d requests already wait for a sequence slot; retry later", s.cfg.MaxQueue)})
		return
	}
	defer s.release()
	ss, hs, err := s.newSession(p)
	if err != nil {
		writeErr(w, err)
		return
	}
	id := newID("chatcmpl-")
	obj, chunkObj := "chat.completion", "chat.completion.chunk"
	if !isChat {
		id = newID("cmpl-")
		obj, chunkObj = "text_completion", "text_completion"
	}
	created := time.Now().Unix()
	ctx := r.Context()
	if s.store != nil {
		c := store.Conversation{ID: ss.id, Model: s.m.Name, Request: p.request, Stride: s.cfg.TraceStride, PromptTokens: len(p.prompt)}
		if ss.reader != nil {
			c.Emotions, c.Layer, c.Metric = ss.reader.Emotions, ss.reader.Layer, string(ss.stat)
		}
		if err := s.store.CreateConversation(ctx, c); err != nil {
			if s.metrics != nil {
				s.metrics.ObserveStoreError("create_conversation")
			}
			writeErr(w, &apiError{status: http.StatusConflict, typ: "invalid_request_error", msg: err.Error()})
			return
		}
	}
	// Every token and the readouts that came with it are committed before
	// the chunk that carries it is sent (a batch of queued tokens at a
	// time); alerts are committed after the trace rows they point at.
	var tl *traceLog
	if s.store != nil {
		tl = newTraceLog(ss.id, s.cfg.TraceStride, p.prompt, s.m.Tok)
	}
	flushTrace := func() {
		if tl == nil {
			return
		}
		if err := s.store.AppendTrace(context.Background(), tl.rows()); err != nil {
			s.log.Error("storing a trace", "conversation", ss.id, "err", err)
			if s.metrics != nil {
				s.metrics.ObserveStoreError("append_trace")
			}
		}
	}
	var alerts []Alert
	ss.run(ctx, hs)

	sw := &sseWriter{w: w, log: s.log.With("conversation", ss.id)}
	if stream {
		var ok bool
		if sw.f, ok = w.(http.Flusher); !ok {
			ss.stop.Store(true)
			for ev := range ss.events {
				if ev.done {
					break
				}
			}
			writeError(w, http.StatusInternalServerError, "server_error", "streaming unsupported by the connection")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Connection", "keep-alive")
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
	}
	send := sw.send
	// chunk builds a streamed event; lp (may be nil) is the event of the
	// token it carries, whose log-probs go with it when asked for.
	chunk := func(content *string, role string, finish *string, ext *ResponseExtension, usage *Usage, lp *event) any {
		if isChat {
			c := ChunkChoice{Delta: ChunkDelta{Role: role, Content: content}, FinishReason: finish}
			if lp != nil && lp.lp != nil {
				c.Logprobs = &ChatLogprobs{Content: []TokenLogprob{s.chatLogprob(lp)}}
			}
			return ChatChunk{ID: id, Object: chunkObj, Created: created, Model: s.m.Name, SystemFingerprint: s.cfg.Fingerprint,
				Choices: []ChunkChoice{c}, Usage: usage, Limbic: ext}
		}
		text := ""
		if content != nil {
			text = *content
		}
		c := CompletionChoice{Text: text, FinishReason: finish}
		if lp != nil && lp.lp != nil {
			c.Logprobs = &CompletionLogprobs{}
			s.completionLogprob(c.Logprobs, lp)
		}
		return CompletionResponse{ID: id, Object: chunkObj, Created: created, Model: s.m.Name, SystemFingerprint: s.cfg.Fingerprint,
			Choices: []CompletionChoice{c}, Usage: usage, Limbic: ext}
	}
	if stream && isChat {
		empty := ""
		if !send(chunk(&empty, "assistant", nil, &ResponseExtension{ConversationID: ss.id, Steer: ss.steers, Layer: ss.layer(), Stat: string(ss.stat)}, nil, nil)) {
			ss.stop.Store(true)
		}
	}
	if stream && echo != "" && !send(chunk(&echo, "", nil, nil, nil, nil)) {
		ss.stop.Store(true)
	}

	dec := s.m.Tok.NewDecoder()
	dec.Skip(p.prompt)
	sm := &stopMatcher{stops: p.stops}
	var text strings.Builder
	text.WriteString(echo)
	var tokens []TokenReadout
	var chatLP []TokenLogprob              // chat logprobs, not streamed
	var compLP CompletionLogprobs          // completions logprobs, not streamed
	offset := utf8.RuneCountInString(echo) // code points before the next token
	stoppedByString := false
	var res model.Result
	var genErr error
loop:
	for {
		evs := ss.next()
		for i := range evs {
			ev := &evs[i]
			if ev.done {
				break
			}
			raw := ""
			if ev.emit = !ev.stop && !stoppedByString; ev.emit {
				raw = dec.Next(ev.id)
				ev.offset = offset
				offset += utf8.RuneCountInString(raw)
				piece, hit := sm.push(raw)
				if hit {
					stoppedByString = true
					ss.stop.Store(true)
				}
				ev.piece = piece
			}
			if tl != nil {
				tl.add(ev, raw)
			}
		}
		flushTrace()
		for _, ev := range evs {
			if ev.done {
				res, genErr = ev.result, ev.err
				break loop
			}
			stored := s.storeAlerts(context.Background(), ss, ev.alerts)
			alerts = append(alerts, stored...)
			if stream && len(stored) > 0 {
				if !send(chunk(nil, "", nil, &ResponseExtension{Alerts: stored}, nil, nil)) {
					ss.stop.Store(true)
				}
			}
			if !ev.emit {
				continue
			}
			piece := ev.piece
			text.WriteString(piece)
			if ev.readout != nil {
				ev.readout.Text = piece
				tokens = append(tokens, *ev.readout)
			}
			if ev.lp != nil && !stream {
				if isChat {
					chatLP = append(chatLP, s.chatLogprob(&ev))
				} else {
					s.completionLogprob(&compLP, &ev)
				}
			}
			if stream && (piece != "" || ev.readout != nil || ev.lp != nil) {
				var ext *ResponseExtension
				if ev.readout != nil {
					ext = &ResponseExtension{Tokens: []TokenReadout{*ev.readout}}
				}
				if !send(chunk(&piece, "", nil, ext, nil, &ev)) {
					ss.stop.Store(true) // the client is gone
				}
			}
		}
	}
	if !stoppedByString {
		rest, _ := sm.push(dec.Flush())
		rest += sm.flush()
		if rest != "" {
			text.WriteString(rest)
			if stream {
				send(chunk(&rest, "", nil, nil, nil, nil))
			}
		}
	}
	// The sequence is over: resolve what is still firing, then record the outcome.
	if end := s.storeAlerts(context.Background(), ss, ss.finish()); len(end) > 0 {
		alerts = append(alerts, end...)
		if stream {
			send(chunk(nil, "", nil, &ResponseExtension{Alerts: end}, nil, nil))
		}
	}
	if genErr == nil && ss.lpErr != nil {
		genErr = ss.lpErr
	}
	stoppedBy, _ := ss.stoppedBy.Load().(string)
	finish := finishReason(res, stoppedByString, stoppedBy != "")
	if s.store != nil {
		f := store.Finish{FinishReason: finish, PromptTokens: len(p.prompt), GeneratedTokens: len(res.IDs)}
		switch {
		case genErr != nil && ctx.Err() != nil:
			f.Status, f.FinishReason = store.StatusDone, "canceled"
		case genErr != nil:
			f.Status, f.FinishReason = store.StatusError, genErr.Error()
		}
		if err := s.store.FinishConversation(context.Background(), ss.id, f); err != nil {
			s.log.Error("finishing a conversation", "conversation", ss.id, "err", err)
		}
	}
	if genErr != nil && ctx.Err() != nil {
		return // client gone
	}
	if genErr != nil {
		if stream {
			send(ErrorBody{Error: ErrorDetail{Message: genErr.Error(), Type: "server_error"}})
			return
		}
		writeErr(w, genErr)
		return
	}
	usage := Usage{PromptTokens: len(p.prompt), CompletionTokens: len(res.IDs), TotalTokens: len(p.prompt) + len(res.IDs)}
	ext := &ResponseExtension{ConversationID: ss.id, Summary: ss.summary(), Steer: ss.steers, StoppedBy: stoppedBy}
	if ss.reader != nil {
		ext.Layer, ext.Stat = ss.layer(), string(ss.stat)
	} else if s.pack == nil {
		ext.Note = "no vector pack loaded: no emotion readout"
	}
	if stream {
		send(chunk(nil, "", &finish, ext, nil, nil))
		if so != nil && so.IncludeUsage {
			if isChat {
				send(ChatChunk{ID: id, Object: chunkObj, Created: created, Model: s.m.Name, SystemFingerprint: s.cfg.Fingerprint, Choices: []ChunkChoice{}, Usage: &usage})
			} else {
				send(CompletionResponse{ID: id, Object: chunkObj, Created: created, Model: s.m.Name, SystemFingerprint: s.cfg.Fingerprint, Choices: []CompletionChoice{}, Usage: &usage})
			}
		}
		sw.done()
		return
	}
	ext.Tokens = tokens
	ext.Alerts = alerts
	if isChat {
		c := ChatChoice{Message: ResponseMsg{Role: "assistant", Content: text.String()}, FinishReason: finish}
		if p.logprobs {
			c.Logprobs = &ChatLogprobs{Content: nonNilSlice(chatLP)}
		}
		s.reply(w, http.StatusOK, ChatResponse{ID: id, Object: obj, Created: created, Model: s.m.Name, SystemFingerprint: s.cfg.Fingerprint,
			Choices: []ChatChoice{c}, Usage: usage, Limbic: ext})
		return
	}
	c := CompletionChoice{Text: text.String(), FinishReason: &finish}
	if p.logprobs {
		compLP.Tokens = nonNilSlice(compLP.Tokens)
		compLP.TokenLogprobs = nonNilSlice(compLP.TokenLogprobs)
		compLP.TopLogprobs = nonNilSlice(compLP.TopLogprobs)
		compLP.TextOffset = nonNilSlice(compLP.TextOffset)
		c.Logprobs = &compLP
	}
	s.reply(w, http.StatusOK, CompletionResponse{ID: id, Object: obj, Created: created, Model: s.m.Name, SystemFingerprint: s.cfg.Fingerprint,
		Choices: []CompletionChoice{c}, Usage: &usage, Limbic: ext})
}

// nonNilSlice returns v, or an empty slice for nil (JSON [] rather than null).
func nonNilSlice[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// finiteLogprob writes a log-prob of -Inf as -9999, as OpenAI does (JSON
// has no infinity); LogProbs gives no NaN or +Inf.
func finiteLogprob(x float64) float64 { return max(x, -9999) }

// tokenText returns a token's text and bytes as logprobs report them.
func (s *Server) tokenText(id int) (string, []int) {
	b := s.m.Tok.TokenBytes(id)
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), out
}

// chatLogprob is the chat logprobs entry of an emitted token.
func (s *Server) chatLogprob(ev *event) TokenLogprob {
	tok, b := s.tokenText(ev.id)
	out := TokenLogprob{Token: tok, Logprob: finiteLogprob(ev.lp.logprob), Bytes: b, TopLogprobs: make([]TopLogprob, len(ev.lp.top))}
	for i, a := range ev.lp.top {
		t, ab := s.tokenText(a.ID)
		out.TopLogprobs[i] = TopLogprob{Token: t, Logprob: finiteLogprob(a.LogProb), Bytes: ab}
	}
	return out
}

// completionLogprob appends an emitted token to completions' logprobs: its
// top map holds the alternatives and the sampled token (the first token of
// a text wins when several share it).
func (s *Server) completionLogprob(into *CompletionLogprobs, ev *event) {
	tok, _ := s.tokenText(ev.id)
	top := make(map[string]float64, len(ev.lp.top)+1)
	for _, a := range ev.lp.top {
		t, _ := s.tokenText(a.ID)
		if _, dup := top[t]; !dup {
			top[t] = finiteLogprob(a.LogProb)
		}
	}
	if _, in := top[tok]; !in {
		top[tok] = finiteLogprob(ev.lp.logprob)
	}
	into.Tokens = append(into.Tokens, tok)
	into.TokenLogprobs = append(into.TokenLogprobs, finiteLogprob(ev.lp.logprob))
	into.TopLogprobs = append(into.TopLogprobs, top)
	into.TextOffset = append(into.TextOffset, ev.offset)
}

func (ss *session) layer() int {
	if ss.reader == nil {
		return 0
	}
	return ss.reader.Layer
}
