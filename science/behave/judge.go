package behave

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"
)

// Judge grades replies with a chat model behind an OpenAI-compatible
// endpoint (POST {endpoint}/chat/completions): the rubric and the label
// set as the system message, the transcript as the user message, greedy
// decoding, and the label read from the answer.
type Judge struct {
	Endpoint string // API base URL, e.g. http://localhost:8080/v1
	Model    string
	APIKey   string // sent as a bearer token when not empty
	Rubric   string
	Labels   []string
	Client   *http.Client // nil: a client with a 2-minute timeout
}

// NewJudge returns the judge of spec; endpoint is used when the spec has
// none.
func NewJudge(spec *JudgeSpec, endpoint string) (*Judge, error) {
	ep := spec.Endpoint
	if ep == "" {
		ep = endpoint
	}
	if ep == "" {
		return nil, fmt.Errorf("judge: no endpoint (set grader.judge.endpoint or give --judge-url)")
	}
	env := spec.APIKeyEnv
	if env == "" {
		env = "OPENAI_API_KEY"
	}
	return &Judge{Endpoint: ep, Model: spec.Model, APIKey: os.Getenv(env), Rubric: spec.Rubric, Labels: spec.Labels}, nil
}

type chatMsg struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Grade asks the judge for the label of reply, given the prompt it
// answers. An answer naming no label, or more than one, is "unclear";
// transport and HTTP errors are errors.
func (j *Judge) Grade(ctx context.Context, prompt, reply string) (string, error) {
	sys := strings.TrimSpace(j.Rubric) + "\n\nAnswer with exactly one of these labels and nothing else: " + strings.Join(j.Labels, ", ") + "."
	user := "Transcript to grade.\n\n<prompt>\n" + prompt + "\n</prompt>\n\n<reply>\n" + reply + "\n</reply>"
	body, err := json.Marshal(map[string]any{
		"model":       j.Model,
		"temperature": 0,
		"messages":    []chatMsg{{"system", sys}, {"user", user}},
	})
	if err != nil {
		return "", err
	}
	url := strings.TrimRight(j.Endpoint, "/") + "/chat/completions"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("judge: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if j.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+j.APIKey)
	}
	c := j.Client
	if c == nil {
		c = &http.Client{Timeout: 2 * time.Minute}
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("judge %s: %w", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fmt.Errorf("judge %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("judge %s: %s: %s", url, resp.Status, strings.TrimSpace(string(data[:min(len(data), 300)])))
	}
	var out struct {
		Choices []struct {
			Message chatMsg `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return "", fmt.Errorf("judge %s: bad response: %w", url, err)
	}
	if len(out.Choices) == 0 {
		return "", fmt.Errorf("judge %s: response has no choices", url)
	}
	return j.label(out.Choices[0].Message.Content), nil
}

// label reads a label from the judge's answer: the whole answer when it is
// a label (case and surrounding punctuation ignored), else the one label
// named in it as a whole word; otherwise unclear.
func (j *Judge) label(answer string) string {
	a := strings.ToLower(strings.Trim(strings.TrimSpace(answer), ".\"'`*"))
	for _, l := range j.Labels {
		if a == strings.ToLower(l) {
			return l
		}
	}
	found := ""
	for _, l := range j.Labels {
		re := regexp.MustCompile(`(?i)(^|[^\w-])` + regexp.QuoteMeta(l) + `($|[^\w-])`)
		if re.MatchString(answer) {
			if found != "" {
				return Unclear
			}
			found = l
		}
	}
	if found == "" {
		return Unclear
	}
	return found
}
