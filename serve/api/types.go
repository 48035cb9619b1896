package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/limbic-dev/limbic/science/steer"
)

// ChatMessage is one message of a chat request. Content may be a string or
// an array of {"type": "text", "text": ...} parts, as OpenAI allows.
type ChatMessage struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
	Name    string  `json:"name,omitempty"`
}

// UnmarshalJSON rejects fields the server would drop: tool calls and
// other fields are accepted only empty.
func (m *ChatMessage) UnmarshalJSON(b []byte) error {
	type plain ChatMessage
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return jsonError("messages", err)
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(b, &keys) == nil {
		for k, v := range keys {
			switch k {
			case "role", "content", "name":
			case "tool_calls", "refusal", "function_call", "audio", "tool_call_id":
				if v := string(bytes.TrimSpace(v)); v != "null" && v != "[]" && v != `""` {
					return badParam("messages."+k, "messages.%s is not supported by this server (no tools or audio)", k)
				}
			default:
				return badParam("messages."+k, "unknown field %q", "messages."+k)
			}
		}
	}
	*m = ChatMessage(p)
	return nil
}

// Content is message text that unmarshals from a string or text parts.
type Content string

// UnmarshalJSON accepts a string, null or an array of text parts.
func (c *Content) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*c = Content(s)
		return nil
	}
	if string(b) == "null" {
		*c = ""
		return nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return fmt.Errorf("content must be a string or an array of text parts")
	}
	var sb strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return fmt.Errorf("content part of type %q is not supported (text only)", p.Type)
		}
		sb.WriteString(p.Text)
	}
	*c = Content(sb.String())
	return nil
}

// Stop is the stop parameter: a string or an array of strings.
type Stop []string

// UnmarshalJSON accepts a string, null or an array.
func (s *Stop) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = Stop{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil && string(b) != "null" {
		return fmt.Errorf("stop must be a string or an array of strings")
	}
	*s = many
	return nil
}

// SteerSpec is a steering instruction in a request: a CLI-style string or
// an object (steer.Spec's JSON).
type SteerSpec struct{ steer.Spec }

// UnmarshalJSON accepts "calm=0.1@8:generated" or {"emotion": ..., "strength": ...}.
func (s *SteerSpec) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		sp, err := steer.Parse(str)
		if err != nil {
			return badParam("limbic.steer", "limbic.steer %q: %v", str, err)
		}
		s.Spec = sp
		return nil
	}
	var sp steer.Spec
	sp.Span = steer.Span{Kind: steer.All}
	if err := decodeStrict(b, &sp, "limbic.steer"); err != nil {
		return err
	}
	if sp.Emotion == "" {
		return badParam("limbic.steer", "limbic.steer: missing emotion")
	}
	s.Spec = sp
	return nil
}

// ReadoutOptions choose what the response reports.
type ReadoutOptions struct {
	Emotions []string `json:"emotions,omitempty"` // report these (default: the top_k per token)
	Layer    *int     `json:"layer,omitempty"`    // default: the pack's best layer
	TopK     int      `json:"top_k,omitempty"`    // default 5
	Every    int      `json:"every,omitempty"`    // report every n-th token (default 1)
	Stat     string   `json:"stat,omitempty"`     // z (default with a baseline), proj or cos
	Off      bool     `json:"off,omitempty"`      // no per-token readout in the response
}

// UnmarshalJSON rejects unknown fields.
func (o *ReadoutOptions) UnmarshalJSON(b []byte) error {
	type plain ReadoutOptions
	var p plain
	if err := decodeStrict(b, &p, "limbic.readout"); err != nil {
		return err
	}
	*o = ReadoutOptions(p)
	return nil
}

// Extension is the "limbic" object of a request.
type Extension struct {
	Steer          []SteerSpec     `json:"steer,omitempty"`
	Readout        *ReadoutOptions `json:"readout,omitempty"`
	ConversationID string          `json:"conversation_id,omitempty"`
}

// UnmarshalJSON rejects unknown fields (a misspelt "steer" would otherwise
// give unsteered output).
func (e *Extension) UnmarshalJSON(b []byte) error {
	type plain Extension
	var p plain
	if err := decodeStrict(b, &p, "limbic"); err != nil {
		return err
	}
	*e = Extension(p)
	return nil
}

// StreamOptions is OpenAI's stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ChatRequest is POST /v1/chat/completions.
type ChatRequest struct {
	Model               string         `json:"model"`
	Messages            []ChatMessage  `json:"messages"`
	MaxTokens           *int           `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int           `json:"max_completion_tokens,omitempty"`
	Temperature         *float64       `json:"temperature,omitempty"`
	TopP                *float64       `json:"top_p,omitempty"`
	TopK                *int           `json:"top_k,omitempty"`
	Seed                *int64         `json:"seed,omitempty"`
	Stop                Stop           `json:"stop,omitempty"`
	Stream              bool           `json:"stream,omitempty"`
	StreamOptions       *StreamOptions `json:"stream_options,omitempty"`
	N                   *int           `json:"n,omitempty"`
	Logprobs            *bool          `json:"logprobs,omitempty"`     // report each generated token's log-prob
	TopLogprobs         *int           `json:"top_logprobs,omitempty"` // and its 0 to 20 most likely alternatives (needs logprobs)
	User                string         `json:"user,omitempty"`
	Limbic              *Extension     `json:"limbic,omitempty"`
}

// CompletionRequest is POST /v1/completions.
type CompletionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	MaxTokens     *int            `json:"max_tokens,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int            `json:"top_k,omitempty"`
	Seed          *int64          `json:"seed,omitempty"`
	Stop          Stop            `json:"stop,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	StreamOptions *StreamOptions  `json:"stream_options,omitempty"`
	N             *int            `json:"n,omitempty"`
	Echo          bool            `json:"echo,omitempty"`
	Logprobs      *int            `json:"logprobs,omitempty"` // 0 to 5: each token's log-prob and its most likely alternatives
	User          string          `json:"user,omitempty"`
	Limbic        *Extension      `json:"limbic,omitempty"`
}

// Usage is the token accounting of a response.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// TokenReadout is one generated token's telemetry.
type TokenReadout struct {
	Index  int                `json:"index"` // 0-based among generated tokens
	Pos    int                `json:"pos"`   // the position read (the one the token was sampled from)
	Token  int                `json:"token"`
	Text   string             `json:"text"`
	Scores map[string]float32 `json:"scores"`
}

// EmotionSummary aggregates an emotion over the generated tokens.
type EmotionSummary struct {
	Mean float64  `json:"mean"`
	Max  float64  `json:"max"`
	ZMax *float64 `json:"z_max,omitempty"`
}

// Alert is an alert event as responses report it.
type Alert struct {
	ID        int64   `json:"id,omitempty"`
	Rule      string  `json:"rule"`
	State     string  `json:"state"`
	Pos       int     `json:"pos"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Action    string  `json:"action,omitempty"`
}

// ResponseExtension is the "limbic" object of a response.
type ResponseExtension struct {
	ConversationID string                    `json:"conversation_id,omitempty"`
	Layer          int                       `json:"layer,omitempty"`
	Stat           string                    `json:"stat,omitempty"`
	Tokens         []TokenReadout            `json:"tokens,omitempty"`
	Summary        map[string]EmotionSummary `json:"summary,omitempty"`
	Alerts         []Alert                   `json:"alerts,omitempty"`
	Steer          []string                  `json:"steer,omitempty"`
	StoppedBy      string                    `json:"stopped_by,omitempty"` // the rule that stopped generation
	Note           string                    `json:"note,omitempty"`
}

// ChatChoice is a non-streamed choice.
type ChatChoice struct {
	Index        int           `json:"index"`
	Message      ResponseMsg   `json:"message"`
	FinishReason string        `json:"finish_reason"`
	Logprobs     *ChatLogprobs `json:"logprobs"`
}

// ResponseMsg is the assistant's message.
type ResponseMsg struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatResponse is a non-streamed chat completion.
type ChatResponse struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	SystemFingerprint string             `json:"system_fingerprint"`
	Choices           []ChatChoice       `json:"choices"`
	Usage             Usage              `json:"usage"`
	Limbic            *ResponseExtension `json:"limbic,omitempty"`
}

// ChunkDelta is a streamed choice's delta.
type ChunkDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// ChunkChoice is a streamed choice.
type ChunkChoice struct {
	Index        int           `json:"index"`
	Delta        ChunkDelta    `json:"delta"`
	FinishReason *string       `json:"finish_reason"`
	Logprobs     *ChatLogprobs `json:"logprobs"`
}

// ChatChunk is one streamed chat event.
type ChatChunk struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	SystemFingerprint string             `json:"system_fingerprint"`
	Choices           []ChunkChoice      `json:"choices"`
	Usage             *Usage             `json:"usage,omitempty"`
	Limbic            *ResponseExtension `json:"limbic,omitempty"`
}

// CompletionChoice is a text completion choice (streamed or not).
type CompletionChoice struct {
	Index        int                 `json:"index"`
	Text         string              `json:"text"`
	FinishReason *string             `json:"finish_reason"`
	Logprobs     *CompletionLogprobs `json:"logprobs"`
}

// CompletionResponse is a text completion, or one streamed chunk of it.
type CompletionResponse struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	SystemFingerprint string             `json:"system_fingerprint"`
	Choices           []CompletionChoice `json:"choices"`
	Usage             *Usage             `json:"usage,omitempty"`
	Limbic            *ResponseExtension `json:"limbic,omitempty"`
}

// Log-probs are of the model's own distribution at each generated token:
// the log-softmax of its logits at temperature 1, before the sampler's
// temperature, top-k and top-p (with limbic.steer, of the steered model).
// A log-prob of -Inf is written as -9999 (JSON has no infinity). Token
// texts are the tokens' own bytes (a SentencePiece word start is a space);
// a token that is part of a UTF-8 character has U+FFFD in its text and its
// exact bytes in bytes.

// ChatLogprobs is a chat choice's logprobs: one entry per generated token
// (streamed, those of the chunk's tokens).
type ChatLogprobs struct {
	Content []TokenLogprob `json:"content"`
	Refusal []TokenLogprob `json:"refusal"` // always null: the model does not refuse
}

// TokenLogprob is a generated token's log-prob and its alternatives.
type TokenLogprob struct {
	Token       string       `json:"token"`
	Logprob     float64      `json:"logprob"`
	Bytes       []int        `json:"bytes"`
	TopLogprobs []TopLogprob `json:"top_logprobs"` // most likely first
}

// TopLogprob is one of the most likely tokens at a position.
type TopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// CompletionLogprobs is a text completion choice's logprobs (the legacy
// shape): parallel lists over the generated tokens. TopLogprobs maps the
// most likely tokens' texts, and always the sampled token's, to their
// log-probs (so up to logprobs+1 entries). TextOffset is each token's
// offset in the choice's text, in Unicode code points.
type CompletionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float64            `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// ModelInfo is one entry of GET /v1/models.
type ModelInfo struct {
	ID      string      `json:"id"`
	Object  string      `json:"object"`
	Created int64       `json:"created"`
	OwnedBy string      `json:"owned_by"`
	Limbic  ModelLimbic `json:"limbic"`
}

// ModelLimbic says what the server can do with the model.
type ModelLimbic struct {
	Vectors      string   `json:"vectors,omitempty"` // the vector pack's path
	Emotions     []string `json:"emotions,omitempty"`
	Layers       []int    `json:"layers,omitempty"`
	DefaultLayer int      `json:"default_layer,omitempty"`
	Readout      bool     `json:"readout"` // per-token emotions available
	Steering     bool     `json:"steering"`
	ChatTemplate string   `json:"chat_template"` // "model" or "plain"
	Note         string   `json:"note,omitempty"`
	ContextLen   int      `json:"context_length"`
}

// ErrorBody is the OpenAI error shape.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes an error.
type ErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}
