package behave

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/limbic-dev/limbic/science/steer"
)

// Unclear is the label of a reply no rule (or judge) could place.
const Unclear = "unclear"

// Scenario is one behaviour evaluation, read from a YAML file.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Source says where the scenario comes from (e.g. a paper section).
	Source string `yaml:"source"`
	// Exactly one of Messages (chat models) and Prompt (a story prefix
	// for base models) is set.
	Messages []Message `yaml:"messages"`
	Prompt   string    `yaml:"prompt"`

	Rollouts  int      `yaml:"rollouts"`   // per cell
	MaxTokens int      `yaml:"max_tokens"` // per rollout
	Sampling  Sampling `yaml:"sampling"`
	Seed      uint64   `yaml:"seed"`
	// Target is the label whose rate each cell reports.
	Target string      `yaml:"target"`
	Grader GraderSpec  `yaml:"grader"`
	Sweep  Sweep       `yaml:"sweep"`
	File   string      `yaml:"-"` // where it was read from
	grader compiledRef `yaml:"-"`
}

// compiledRef holds the compiled rule grader (nil for a judge).
type compiledRef struct{ rules *Rules }

// Message is one chat message.
type Message struct {
	Role    string `yaml:"role"`
	Content string `yaml:"content"`
}

// Sampling are the sampling settings of every rollout.
type Sampling struct {
	Temperature *float64 `yaml:"temperature"` // required; 0 = greedy
	TopP        float64  `yaml:"top_p"`       // 0 or 1 = off
	TopK        int      `yaml:"top_k"`       // 0 = off
}

// GraderSpec says how replies are graded: Type "rules" (Rules, Default,
// Scope) or "judge" (Judge).
type GraderSpec struct {
	Type string `yaml:"type"`
	// Scope is the part of the reply the rules read: "reply" (default),
	// "sentence" (up to the first . ! or ?) or "line" (up to the first
	// newline).
	Scope string `yaml:"scope"`
	// Rules are tried in order; the first that matches gives the label.
	Rules []Rule `yaml:"rules"`
	// Default is the label when no rule matches ("unclear" when empty).
	Default string     `yaml:"default"`
	Judge   *JudgeSpec `yaml:"judge"`
}

// Rule labels a reply when it matches any of Any (or Any is empty), all of
// All and none of None. Patterns are case-insensitive regular expressions
// (Go RE2 syntax) or, with Match "keyword", words matched whole.
type Rule struct {
	Label string   `yaml:"label"`
	Match string   `yaml:"match"` // "regex" (default) or "keyword"
	Any   []string `yaml:"any"`
	All   []string `yaml:"all"`
	None  []string `yaml:"none"`
}

// JudgeSpec configures an LLM judge behind an OpenAI-compatible endpoint.
type JudgeSpec struct {
	// Endpoint is the API base URL (e.g. http://localhost:8080/v1); empty:
	// the one given on the command line.
	Endpoint string `yaml:"endpoint"`
	Model    string `yaml:"model"`
	// APIKeyEnv names the environment variable holding the API key
	// (default OPENAI_API_KEY; unset or empty sends none).
	APIKeyEnv string   `yaml:"api_key_env"`
	Rubric    string   `yaml:"rubric"`
	Labels    []string `yaml:"labels"`
}

// Sweep is the grid of steering cells: emotions × strengths × layers ×
// spans.
type Sweep struct {
	Emotions  []string  `yaml:"emotions"`
	Strengths []float64 `yaml:"strengths"`
	// Layers are steer layer selectors ("3", "-1", "2-4"); empty: the
	// pack's best layer.
	Layers []string `yaml:"layers"`
	// Spans are steer spans ("all", "prompt", "generated", "0-5");
	// empty: all.
	Spans []string `yaml:"spans"`
}

// Chat reports whether the scenario is a chat conversation (for models
// with a chat template) rather than a story prefix (for base models).
func (s *Scenario) Chat() bool { return len(s.Messages) > 0 }

// Labels returns the labels the grader can give, without "unclear".
func (s *Scenario) Labels() []string {
	var out []string
	add := func(l string) {
		if l != "" && l != Unclear && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	if s.Grader.Judge != nil {
		for _, l := range s.Grader.Judge.Labels {
			add(l)
		}
		return out
	}
	for _, r := range s.Grader.Rules {
		add(r.Label)
	}
	add(s.Grader.Default)
	return out
}

// Rules returns the compiled rule grader, or nil for a judge.
func (s *Scenario) Rules() *Rules { return s.grader.rules }

// ReadFile reads and validates a scenario file.
func ReadFile(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse reads and validates a scenario; name (a file name) prefixes every
// error.
func Parse(name string, data []byte) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("scenario %s: empty file", name)
		}
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	s.File = name
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	return &s, nil
}

func (s *Scenario) validate() error {
	if strings.TrimSpace(s.Name) == "" {
		return errors.New("name: missing")
	}
	if strings.ContainsAny(s.Name, `/\ `) || strings.HasPrefix(s.Name, ".") {
		return fmt.Errorf("name %q: use letters, digits, - and _ (it names output files)", s.Name)
	}
	switch {
	case len(s.Messages) > 0 && s.Prompt != "":
		return errors.New("messages and prompt: give one, not both (messages for chat models, prompt for a story prefix)")
	case len(s.Messages) == 0 && strings.TrimSpace(s.Prompt) == "":
		return errors.New("prompt or messages: missing (messages for chat models, prompt for a story prefix)")
	}
	for i, m := range s.Messages {
		switch m.Role {
		case "system", "user", "assistant":
		case "":
			return fmt.Errorf("messages[%d].role: missing (system, user or assistant)", i)
		default:
			return fmt.Errorf("messages[%d].role %q: want system, user or assistant", i, m.Role)
		}
		if strings.TrimSpace(m.Content) == "" {
			return fmt.Errorf("messages[%d].content: missing", i)
		}
	}
	if n := len(s.Messages); n > 0 && s.Messages[n-1].Role == "assistant" {
		return fmt.Errorf("messages[%d]: the last message must be the user's (the reply is graded)", n-1)
	}
	if s.Rollouts < 1 {
		return fmt.Errorf("rollouts: %s", missingOr(s.Rollouts, "must be at least 1"))
	}
	if s.MaxTokens < 1 {
		return fmt.Errorf("max_tokens: %s", missingOr(s.MaxTokens, "must be at least 1"))
	}
	if s.Sampling.Temperature == nil {
		return errors.New("sampling.temperature: missing (0 is greedy)")
	}
	if t := *s.Sampling.Temperature; !(t >= 0 && t <= 10) {
		return fmt.Errorf("sampling.temperature %g: want 0 … 10", t)
	}
	if p := s.Sampling.TopP; !(p >= 0 && p <= 1) {
		return fmt.Errorf("sampling.top_p %g: want 0 … 1", p)
	}
	if s.Sampling.TopK < 0 {
		return fmt.Errorf("sampling.top_k %d: must not be negative", s.Sampling.TopK)
	}
	if err := s.validateGrader(); err != nil {
		return err
	}
	if s.Target == "" {
		return fmt.Errorf("target: missing (one of the grader's labels: %s)", strings.Join(s.Labels(), ", "))
	}
	if !slices.Contains(s.Labels(), s.Target) {
		return fmt.Errorf("target %q: not a grader label (have %s)", s.Target, strings.Join(s.Labels(), ", "))
	}
	return s.Sweep.validate()
}

func missingOr(v int, msg string) string {
	if v == 0 {
		return "missing"
	}
	return fmt.Sprintf("%d %s", v, msg)
}

func (s *Scenario) validateGrader() error {
	g := &s.Grader
	switch g.Type {
	case "":
		return errors.New("grader.type: missing (rules or judge)")
	case "rules":
		if g.Judge != nil {
			return errors.New("grader.judge: set for a rules grader (type: judge?)")
		}
		r, err := CompileRules(*g)
		if err != nil {
			return err
		}
		s.grader.rules = r
	case "judge":
		j := g.Judge
		if j == nil {
			return errors.New("grader.judge: missing (model, rubric, labels)")
		}
		if len(g.Rules) > 0 {
			return errors.New("grader.rules: set for a judge grader (type: rules?)")
		}
		if j.Model == "" {
			return errors.New("grader.judge.model: missing")
		}
		if strings.TrimSpace(j.Rubric) == "" {
			return errors.New("grader.judge.rubric: missing")
		}
		if len(j.Labels) < 2 {
			return errors.New("grader.judge.labels: want at least two labels")
		}
		for i, l := range j.Labels {
			if l == "" || l == Unclear || slices.Index(j.Labels, l) != i {
				return fmt.Errorf("grader.judge.labels[%d] %q: labels must be distinct, non-empty and not %q", i, l, Unclear)
			}
		}
	default:
		return fmt.Errorf("grader.type %q: unknown grader (want rules or judge)", g.Type)
	}
	return nil
}

func (w *Sweep) validate() error {
	if len(w.Emotions) == 0 {
		return errors.New("sweep.emotions: missing")
	}
	for i, e := range w.Emotions {
		if strings.TrimSpace(e) == "" || strings.ContainsAny(e, "=@:") {
			return fmt.Errorf("sweep.emotions[%d] %q: not an emotion name", i, e)
		}
	}
	if len(w.Strengths) == 0 {
		return errors.New("sweep.strengths: missing")
	}
	for i, v := range w.Strengths {
		if !(v >= -10 && v <= 10) {
			return fmt.Errorf("sweep.strengths[%d] %g: want a fraction of the residual norm in -10 … 10", i, v)
		}
		if slices.Index(w.Strengths, v) != i {
			return fmt.Errorf("sweep.strengths[%d] %g: repeated", i, v)
		}
	}
	for i, l := range w.Layers {
		if _, err := steer.Parse("x=0@" + l); err != nil {
			return fmt.Errorf("sweep.layers[%d] %q: want L, -L or A-B", i, l)
		}
	}
	for i, sp := range w.Spans {
		if _, err := steer.ParseSpan(sp); err != nil {
			return fmt.Errorf("sweep.spans[%d]: %w", i, err)
		}
	}
	return nil
}
