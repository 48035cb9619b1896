package stories

import "context"

// Message is one chat message.
type Message struct {
	Role    string `json:"role"` // "system", "user" or "assistant"
	Content string `json:"content"`
}

// Request is one generation: chat messages (rendered with the model's chat
// template, or sent to a chat endpoint), or, when Messages is empty, a raw
// Prompt that a base model continues.
type Request struct {
	Messages    []Message
	Prompt      string
	Seed        uint64
	MaxTokens   int
	Temperature float64 // 0 = greedy
	TopP        float64 // 0 = the generator's default (no nucleus cut for the engine)
}

// Chat reports whether the request is a chat request.
func (r *Request) Chat() bool { return len(r.Messages) > 0 }

// Generator writes texts. Generate returns one text per request, in order: for
// a raw Prompt only the continuation (not the prompt), for chat messages the
// assistant's reply. It either succeeds for every request or returns an
// error; implementations should stop early and return ctx.Err() when ctx is
// done. Requests with the same seed and inputs should give the same text
// where the backend allows it (the engine does; remote endpoints may not).
type Generator interface {
	Generate(ctx context.Context, reqs []Request) ([]string, error)
	// Name identifies the generator in stored stories, e.g.
	// "limbic:stories15m" or "openai:gpt-4o-mini@api.example.com".
	Name() string
}
