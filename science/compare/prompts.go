package compare

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"strings"
)

// The prompt groups.
const (
	Neutral     = "neutral"
	Challenging = "challenging"
)

// Prompt is one user message put to both models.
type Prompt struct {
	Group    string `json:"group"`    // Neutral or Challenging
	Category string `json:"category"` // e.g. isolation, praise; free-form
	Text     string `json:"text"`
}

//go:embed prompts.tsv
var defaultPrompts string

// DefaultPrompts returns the shipped prompt set: challenging prompts
// (isolation, excessive praise, deprecation, accusation, high stakes) and
// neutral controls, written after the paper's description.
func DefaultPrompts() []Prompt {
	ps, err := ParsePrompts(strings.NewReader(defaultPrompts), "prompts.tsv")
	if err != nil {
		panic("compare: shipped prompt set: " + err.Error()) // a programmer error, caught by the tests
	}
	return ps
}

// ReadPrompts reads a prompt file (see ParsePrompts).
func ReadPrompts(path string) ([]Prompt, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParsePrompts(f, path)
}

// ParsePrompts reads prompts, one a line: GROUP<TAB>TEXT or
// GROUP<TAB>CATEGORY<TAB>TEXT, GROUP neutral or challenging; blank lines and
// lines starting with '#' are skipped. Both groups must be present. name is
// used in errors.
func ParsePrompts(r io.Reader, name string) ([]Prompt, error) {
	var out []Prompt
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		var p Prompt
		switch len(f) {
		case 2:
			p = Prompt{Group: f[0], Text: f[1]}
		case 3:
			p = Prompt{Group: f[0], Category: f[1], Text: f[2]}
		default:
			return nil, fmt.Errorf("%s:%d: want GROUP<TAB>[CATEGORY<TAB>]PROMPT, got %d tab-separated fields", name, n, len(f))
		}
		p.Group = strings.ToLower(strings.TrimSpace(p.Group))
		p.Category = strings.TrimSpace(p.Category)
		p.Text = strings.TrimSpace(p.Text)
		if p.Group != Neutral && p.Group != Challenging {
			return nil, fmt.Errorf("%s:%d: group %q: want neutral or challenging", name, n, p.Group)
		}
		if p.Text == "" {
			return nil, fmt.Errorf("%s:%d: empty prompt", name, n)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var nn, nc int
	for _, p := range out {
		if p.Group == Neutral {
			nn++
		} else {
			nc++
		}
	}
	if nn == 0 || nc == 0 {
		return nil, fmt.Errorf("%s: %d neutral and %d challenging prompts: want both groups", name, nn, nc)
	}
	return out, nil
}
