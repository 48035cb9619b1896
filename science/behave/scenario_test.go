package behave

import (
	"strings"
	"testing"
)

const goodScenario = `name: t
prompt: "Tom looked at the cookie. He"
rollouts: 4
max_tokens: 8
sampling: {temperature: 1}
seed: 3
target: shared
grader:
  type: rules
  rules:
    - label: shared
      any: ['\bshared\b']
    - label: ate
      match: keyword
      any: [ate]
sweep:
  emotions: [happy]
  strengths: [-0.5, 0, 0.5]
`

// TestParseErrors: bad scenario files give errors naming the file and the
// field.
func TestParseErrors(t *testing.T) {
	if _, err := Parse("good.yaml", []byte(goodScenario)); err != nil {
		t.Fatalf("good scenario: %v", err)
	}
	cases := []struct {
		name, old, new string
		want           []string // substrings of the error
	}{
		{"unknown grader", "type: rules", "type: oracle", []string{"f.yaml", "grader.type", `"oracle"`, "unknown grader"}},
		{"bad regex", `'\bshared\b'`, `'(shared'`, []string{"f.yaml", "grader.rules[0].any[0]", "bad regex"}},
		{"bad none regex", `any: ['\bshared\b']`, `any: ['\bshared\b']` + "\n      none: ['[a-']", []string{"grader.rules[0].none[0]", "bad regex"}},
		{"missing rollouts", "rollouts: 4\n", "", []string{"f.yaml", "rollouts: missing"}},
		{"missing prompt", `prompt: "Tom looked at the cookie. He"` + "\n", "", []string{"f.yaml", "prompt or messages: missing"}},
		{"missing temperature", "sampling: {temperature: 1}", "sampling: {top_p: 0.9}", []string{"sampling.temperature: missing"}},
		{"missing grader", "  type: rules\n", "", []string{"grader.type: missing"}},
		{"missing target", "target: shared\n", "", []string{"target: missing"}},
		{"target not a label", "target: shared", "target: kept", []string{`target "kept"`, "not a grader label"}},
		{"missing emotions", "  emotions: [happy]\n", "", []string{"sweep.emotions: missing"}},
		{"missing strengths", "  strengths: [-0.5, 0, 0.5]\n", "", []string{"sweep.strengths: missing"}},
		{"unknown field", "seed: 3", "seed: 3\nseeds: 4", []string{"f.yaml", "seeds"}},
		{"bad match", "match: keyword", "match: glob", []string{"grader.rules[1].match", "glob"}},
		{"bad layer", "  strengths:", "  layers: [x]\n  strengths:", []string{"sweep.layers[0]"}},
		{"bad span", "  strengths:", "  spans: [later]\n  strengths:", []string{"sweep.spans[0]"}},
		{"judge without model", "  type: rules\n  rules:\n    - label: shared\n      any: ['\\bshared\\b']\n    - label: ate\n      match: keyword\n      any: [ate]\n",
			"  type: judge\n  judge:\n    rubric: r\n    labels: [shared, ate]\n", []string{"grader.judge.model: missing"}},
	}
	for _, c := range cases {
		src := strings.Replace(goodScenario, c.old, c.new, 1)
		if src == goodScenario {
			t.Fatalf("%s: the edit did not apply", c.name)
		}
		_, err := Parse("f.yaml", []byte(src))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
}

// TestShippedScenariosParse: every shipped scenario is valid, and there
// are chat scenarios and at least three story analogues.
func TestShippedScenariosParse(t *testing.T) {
	all, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	chats, stories := len(Fitting(all, true)), len(Fitting(all, false))
	if chats < 3 || stories < 3 {
		t.Errorf("got %d chat and %d story scenarios, want at least 3 of each", chats, stories)
	}
}
