// Package api is limbic's HTTP server: an OpenAI-compatible API
// (/v1/chat/completions, /v1/completions, /v1/models) whose responses carry
// per-token emotion readouts under the key "limbic", with per-request
// steering, alert rules evaluated as tokens stream, a store of conversations
// and alerts, Prometheus metrics and the dashboard.
//
// Readout convention: each generated token carries the readout of the
// position it was sampled from, i.e. the model's state just before it wrote
// the token; the first generated token therefore carries the readout at the
// last prompt position (the paper's "Assistant colon").
//
// Telemetry (readout, rules, their actions) is serve/telemetry's; this
// package adds HTTP and the store. Nothing a client has seen is missing from
// the store: every token, with its text and the readout it carries, is
// committed before the chunk that carries it is sent (TestKillMidStreamLosesNothing
// kills the server process mid-stream and checks).
//
// Log-probs (OpenAI's logprobs and top_logprobs in chat, logprobs in
// completions, streamed and not) are of the model's own distribution at each
// generated position: the log-softmax of its logits at temperature 1,
// before the sampler's temperature, top-k and top-p (with steering, of the
// steered model). They cost nothing unless asked for, and the most likely
// alternatives are selected only when top_logprobs asks for some.
// Completions' logprobs with echo (log-probs of the prompt) are refused.
//
// The extension object in a request:
//
//	"limbic": {
//	  "steer":   ["calm=0.1@8:generated", {"emotion": "desperate", "strength": -0.05}],
//	  "readout": {"emotions": ["calm", "desperate"], "layer": 8, "top_k": 5, "every": 1, "stat": "z"}
//	}
//
// Request checking: unknown fields of the extension are rejected, and so
// are OpenAI fields the server does not implement unless they carry their
// neutral value ("frequency_penalty": 0); steering strengths must be finite
// and at most MaxSteerStrength in magnitude. Every error is OpenAI-shaped,
// {"error": {"message", "type", "param", "code"}}, param naming the field.
//
// The HTTP edge (edge.go) logs one line per request, answers only
// loopback Host headers when bound to loopback (DNS rebinding), answers 429
// with Retry-After when more than Config.MaxQueue requests wait, and
// bounds the time to read headers and bodies (HTTPServer, BodyTimeout).
package api
