package catalog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLineBytes bounds one entry of a user list.
const MaxLineBytes = 4096

// ParseList reads a user list: one entry per line, surrounding space trimmed,
// blank lines skipped, and "#" starting a comment when it begins the line or
// follows a space or tab. It rejects invalid UTF-8, control characters, lines
// over MaxLineBytes and duplicate entries, naming the line.
func ParseList(r io.Reader) ([]string, error) {
	br := bufio.NewReader(r)
	var out []string
	seen := map[string]int{}
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(line) > MaxLineBytes {
			return nil, fmt.Errorf("line %d: longer than %d bytes", lineNo, MaxLineBytes)
		}
		if entry, perr := parseLine(line); perr != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, perr)
		} else if entry != "" {
			if prev, dup := seen[entry]; dup {
				return nil, fmt.Errorf("line %d: %q repeats line %d", lineNo, entry, prev)
			}
			seen[entry] = lineNo
			out = append(out, entry)
		}
		if err == io.EOF {
			return out, nil
		}
	}
}

func parseLine(line string) (string, error) {
	if !utf8.ValidString(line) {
		return "", errors.New("not valid UTF-8")
	}
	line = strings.TrimRight(line, "\r\n")
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			line = line[:i]
			break
		}
	}
	line = strings.TrimSpace(line)
	for _, r := range line {
		if unicode.IsControl(r) && r != '\t' {
			return "", fmt.Errorf("control character %U", r)
		}
	}
	return line, nil
}

// LoadList reads a user list file with ParseList; an empty list is an error.
func LoadList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, err := ParseList(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(l) == 0 {
		return nil, fmt.Errorf("%s: the list is empty", path)
	}
	return l, nil
}

// LoadEmotions resolves an emotion argument: a set name ("core", "paper") or
// the path of a list file. Names are normalised and checked with
// CheckEmotions unless allowCustom is set, in which case only empty and
// duplicate names are errors.
func LoadEmotions(arg string, allowCustom bool) ([]string, error) {
	if s, err := Set(arg); err == nil {
		return s, nil
	}
	if _, err := os.Stat(arg); err != nil {
		return nil, fmt.Errorf("emotions %q: neither a set (core, paper) nor a readable file: %w", arg, err)
	}
	l, err := LoadList(arg)
	if err != nil {
		return nil, err
	}
	for i := range l {
		l[i] = NormalizeEmotion(l[i])
	}
	if allowCustom {
		return l, checkDuplicates(l)
	}
	return l, CheckEmotions(l)
}

// LoadTopics resolves a topic argument: "paper" (the paper's 100 topics),
// "children" (limbic's children's-story situations), "children-neutral"
// (plain activities for neutral narration) or the path of a list file.
func LoadTopics(arg string) ([]string, error) {
	switch strings.ToLower(strings.TrimSpace(arg)) {
	case "paper", "100":
		return Topics(), nil
	case "children", "child", "kids":
		return ChildTopics(), nil
	case "children-neutral", "neutral":
		return ChildNeutralTopics(), nil
	}
	if _, err := os.Stat(arg); err != nil {
		return nil, fmt.Errorf("topics %q: neither a set (paper, children, children-neutral) nor a readable file: %w", arg, err)
	}
	return LoadList(arg)
}

// NormalizeEmotion lower-cases a name, trims it, turns underscores into
// spaces and collapses runs of space ("Worn_Out" → "worn out").
func NormalizeEmotion(s string) string {
	s = strings.ReplaceAll(strings.ToLower(s), "_", " ")
	return strings.Join(strings.Fields(s), " ")
}

// UnknownError lists names that are not in a vocabulary, with close matches.
type UnknownError struct {
	What        string              // "emotion"
	Unknown     []string            // in input order
	Suggestions map[string][]string // per unknown name, up to 3 close known names
}

func (e *UnknownError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d unknown %s name(s): ", len(e.Unknown), e.What)
	for i, u := range e.Unknown {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%q", u)
		if s := e.Suggestions[u]; len(s) > 0 {
			fmt.Fprintf(&b, " (did you mean %s?)", strings.Join(s, ", "))
		}
	}
	return b.String()
}

// CheckEmotions checks that every name is one of the paper's 171 emotions
// (which include the core set), that none is empty and none repeats. Names
// must already be normalised. All unknown names are reported in one
// *UnknownError, each with up to three close matches.
func CheckEmotions(names []string) error {
	if len(names) == 0 {
		return errors.New("no emotions given")
	}
	if err := checkDuplicates(names); err != nil {
		return err
	}
	return CheckNames("emotion", names, load().emotions)
}

// CheckNames reports the names that are not in known as an *UnknownError
// (nil when all are known).
func CheckNames(what string, names, known []string) error {
	set := make(map[string]bool, len(known))
	for _, k := range known {
		set[k] = true
	}
	var ue *UnknownError
	for _, n := range names {
		if set[n] {
			continue
		}
		if ue == nil {
			ue = &UnknownError{What: what, Suggestions: map[string][]string{}}
		}
		ue.Unknown = append(ue.Unknown, n)
		ue.Suggestions[n] = Suggest(n, known, 3)
	}
	if ue != nil {
		return ue
	}
	return nil
}

func checkDuplicates(names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" {
			return errors.New("empty emotion name")
		}
		if seen[n] {
			return fmt.Errorf("emotion %q listed twice", n)
		}
		seen[n] = true
	}
	return nil
}

// Suggest returns up to max known names close to name: edit distance at most
// max(2, len/3), or sharing a prefix of at least 4 letters; closest first.
func Suggest(name string, known []string, max int) []string {
	type cand struct {
		s string
		d int
	}
	var cs []cand
	limit := len(name) / 3
	if limit < 2 {
		limit = 2
	}
	for _, k := range known {
		d := levenshtein(name, k)
		if d <= limit || (len(name) >= 4 && len(k) >= 4 && name[:4] == k[:4]) {
			cs = append(cs, cand{k, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	var out []string
	for i := 0; i < len(cs) && i < max; i++ {
		out = append(out, cs[i].s)
	}
	return out
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			c := prev[j-1]
			if ra[i-1] != rb[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
