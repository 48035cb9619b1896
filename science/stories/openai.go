package stories

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/limbic-dev/limbic/internal/retry"
)

// APIKeyEnv lists the environment variables the OpenAI generator takes its
// API key from, in order.
var APIKeyEnv = []string{"LIMBIC_GENERATOR_API_KEY", "OPENAI_API_KEY"}

// OpenAI is a Generator backed by an OpenAI-compatible chat endpoint
// (POST {base}/v1/chat/completions): OpenAI itself, vLLM, llama.cpp's server,
// Ollama and the like. Raw-prompt requests are sent as a single user message.
type OpenAI struct {
	Endpoint    string // full URL of .../v1/chat/completions
	Model       string
	APIKey      string // sent as a Bearer token when non-empty
	Client      *http.Client
	MaxRetries  int           // retries per request after the first try (default 5)
	Backoff     time.Duration // first retry delay, doubled each time, with ±25% jitter (default 1s)
	MaxBackoff  time.Duration // cap on one delay and on a Retry-After (default 60s)
	Concurrency int           // requests in flight (default 4)

	sleep func(ctx context.Context, d time.Duration) error
}

// NewOpenAI returns a generator for the endpoint at baseURL ("http://host:8000",
// "https://api.openai.com/v1" or the full .../chat/completions URL) and model,
// with the API key taken from the first set variable of APIKeyEnv (none is
// fine for local servers).
func NewOpenAI(baseURL, model string) (*OpenAI, error) {
	if model == "" {
		return nil, errors.New("generator: a model name is required (--generator-model)")
	}
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("generator: %q is not an http(s) URL", baseURL)
	}
	p := strings.TrimRight(u.Path, "/")
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
	case strings.HasSuffix(p, "/v1"):
		p += "/chat/completions"
	default:
		p += "/v1/chat/completions"
	}
	u.Path = p
	g := &OpenAI{Endpoint: u.String(), Model: model, Client: &http.Client{Timeout: 10 * time.Minute}}
	for _, env := range APIKeyEnv {
		if k := os.Getenv(env); k != "" {
			g.APIKey = k
			break
		}
	}
	return g, nil
}

// Name returns "openai:MODEL@HOST".
func (g *OpenAI) Name() string {
	host := g.Endpoint
	if u, err := url.Parse(g.Endpoint); err == nil {
		host = u.Host
	}
	return "openai:" + g.Model + "@" + host
}

type chatBody struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Temperature float64   `json:"temperature"`
	TopP        float64   `json:"top_p,omitempty"`
	Seed        *int64    `json:"seed,omitempty"`
	N           int       `json:"n"`
}

type chatResponse struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Text string `json:"text"`
	} `json:"choices"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// Generate sends the requests, Concurrency at a time, retrying transient
// failures (network errors, 408, 409, 425, 429, 5xx) with exponential backoff
// and honouring Retry-After. Any request that still fails fails the call.
func (g *OpenAI) Generate(ctx context.Context, reqs []Request) ([]string, error) {
	out := make([]string, len(reqs))
	conc := g.Concurrency
	if conc <= 0 {
		conc = 4
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, conc)
	)
	for i := range reqs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			text, err := g.one(ctx, &reqs[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("generator %s, request %d: %w", g.Name(), i, err)
					cancel()
				}
				return
			}
			out[i] = text
		}(i)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (g *OpenAI) one(ctx context.Context, r *Request) (string, error) {
	msgs := r.Messages
	if len(msgs) == 0 {
		msgs = []Message{{Role: "user", Content: r.Prompt}}
	}
	seed := int64(r.Seed & (1<<53 - 1))
	body, err := json.Marshal(chatBody{Model: g.Model, Messages: msgs, MaxTokens: r.MaxTokens,
		Temperature: r.Temperature, TopP: r.TopP, Seed: &seed, N: 1})
	if err != nil {
		return "", err
	}
	retries := g.MaxRetries
	if retries == 0 {
		retries = 5
	}
	p := retry.Policy{Initial: g.Backoff, Max: g.MaxBackoff, Jitter: 0.25, Retries: max(retries, 0), Sleep: g.sleep}
	if p.Initial <= 0 {
		p.Initial = time.Second
	}
	if p.Max <= 0 {
		p.Max = time.Minute
	}
	var text string
	_, err = p.Do(ctx, func(int) error {
		var (
			retryAfter time.Duration
			err        error
		)
		text, retryAfter, err = g.post(ctx, body)
		var perm permanentError
		if errors.As(err, &perm) {
			return retry.Permanent(err)
		}
		return retry.After(err, retryAfter)
	})
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", err
	}
	return text, nil
}

type permanentError struct{ error }

func (g *OpenAI) post(ctx context.Context, body []byte) (text string, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.Endpoint, bytes.NewReader(body))
	if err != nil {
		return "", 0, permanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	if g.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+g.APIKey)
	}
	client := g.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, err // network errors are transient
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != http.StatusOK {
		retryAfter = retry.RetryAfter(resp.Header, time.Now())
		msg := strings.TrimSpace(string(raw))
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		err := fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
		switch c := resp.StatusCode; {
		case c == 408 || c == 409 || c == 425 || c == 429 || c >= 500:
			return "", retryAfter, err
		default:
			return "", 0, permanentError{err}
		}
	}
	var cr chatResponse
	if err := json.Unmarshal(raw, &cr); err != nil {
		return "", 0, fmt.Errorf("bad response body: %w", err)
	}
	if cr.Error != nil {
		return "", 0, fmt.Errorf("endpoint error: %s", cr.Error.Message)
	}
	if len(cr.Choices) == 0 {
		return "", 0, errors.New("response has no choices")
	}
	c := cr.Choices[0]
	if c.Message.Content != "" {
		return c.Message.Content, 0, nil
	}
	return c.Text, 0, nil
}
