package tokenizer

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// The pre-tokenizer split patterns of the byte-level families, as their
// tokenizer.json files write them. Go's regexp lacks the lookahead (?!\S),
// so these are matched by hand (patternSplitter), which is exact and fast;
// other patterns go through regexp2.
const (
	patternGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	patternLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patternQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

func isSpaceRune(r rune) bool { return unicode.IsSpace(r) } // = Unicode White_Space, as \s in Oniguruma
func isLetter(r rune) bool    { return unicode.IsLetter(r) }
func isNumber(r rune) bool    { return unicode.IsNumber(r) }
func isOther(r rune) bool     { return !unicode.IsSpace(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r) }

// patternSplitter matches one of the known patterns by hand. Regex
// alternation is ordered: at each position the first alternative that
// matches wins, with the backtracking of the original pattern.
type patternSplitter struct {
	name      string
	llama3    bool // Llama 3 / Qwen2 shape (else GPT-2)
	maxDigits int  // \p{N}{1,maxDigits}; 0 = unlimited (GPT-2's ` ?\p{N}+`)
}

var (
	gpt2Pattern   = patternSplitter{name: "gpt2"}
	llama3Pattern = patternSplitter{name: "llama3", llama3: true, maxDigits: 3}
	qwen2Pattern  = patternSplitter{name: "qwen2", llama3: true, maxDigits: 1}
)

// gpt2Splitter is the ByteLevel pre-tokenizer's own regex split.
type gpt2Splitter struct{}

func (gpt2Splitter) split(s string, emit func(string)) { gpt2Pattern.split(s, emit) }

func (p patternSplitter) split(s string, emit func(string)) {
	for i := 0; i < len(s); {
		n := p.match(s, i)
		if n <= 0 { // no alternative matches (cannot happen: every character is \s, \p{L}, \p{N} or other)
			_, n = utf8.DecodeRuneInString(s[i:])
		}
		emit(s[i : i+n])
		i += n
	}
}

// run returns the byte length of the run of runes satisfying f at s[i:],
// at most max runes (max 0 = unlimited).
func run(s string, i int, f func(rune) bool, max int) int {
	j, k := i, 0
	for j < len(s) && (max == 0 || k < max) {
		r, n := utf8.DecodeRuneInString(s[j:])
		if !f(r) {
			break
		}
		j += n
		k++
	}
	return j - i
}

// contraction matches 's 't 're 've 'm 'll 'd after the apostrophe at s[i].
func contraction(s string, i int, fold bool) int {
	rest := s[i+1:]
	low := func(k int) (rune, int) { // k-th rune of rest, lowered when fold
		off := 0
		for ; k > 0; k-- {
			_, n := utf8.DecodeRuneInString(rest[off:])
			if n == 0 {
				return -1, 0
			}
			off += n
		}
		r, n := utf8.DecodeRuneInString(rest[off:])
		if n == 0 {
			return -1, 0
		}
		if fold {
			if r == 'ſ' { // U+017F case-folds to s
				r = 's'
			}
			if r < utf8.RuneSelf {
				r = unicode.ToLower(r)
			}
		}
		return r, n
	}
	r1, n1 := low(0)
	switch r1 {
	case 's', 't', 'm', 'd':
		return 1 + n1
	case 'r', 'v', 'l':
		r2, n2 := low(1)
		if r1 == 'r' && r2 == 'e' || r1 == 'v' && r2 == 'e' || r1 == 'l' && r2 == 'l' {
			return 1 + n1 + n2
		}
	}
	return 0
}

// match returns the byte length of the match at s[i:], 0 for none.
func (p patternSplitter) match(s string, i int) int {
	r, rn := utf8.DecodeRuneInString(s[i:])
	if r == '\'' {
		if n := contraction(s, i, p.llama3); n > 0 {
			return n
		}
	}
	if !p.llama3 {
		// ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
		j := i
		if r == ' ' {
			j++
		}
		for _, f := range []func(rune) bool{isLetter, isNumber, isOther} {
			if n := run(s, j, f, 0); n > 0 {
				return j + n - i
			}
		}
	} else {
		// `[^\r\n\p{L}\p{N}]?\p{L}+`
		if isLetter(r) {
			return run(s, i, isLetter, 0)
		}
		if r != '\r' && r != '\n' && !isNumber(r) {
			if n := run(s, i+rn, isLetter, 0); n > 0 {
				return rn + n
			}
		}
		// `\p{N}{1,3}` (Qwen2: `\p{N}`)
		if isNumber(r) {
			return run(s, i, isNumber, p.maxDigits)
		}
		// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
		j := i
		if r == ' ' {
			j++
		}
		if n := run(s, j, isOther, 0); n > 0 {
			j += n
			for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
				j++
			}
			return j - i
		}
	}
	if !isSpaceRune(r) {
		return 0
	}
	// the whitespace run s[i:end]; last = start of its last rune
	end, last, lastNL := i, i, -1
	for end < len(s) {
		r, n := utf8.DecodeRuneInString(s[end:])
		if !isSpaceRune(r) {
			break
		}
		if r == '\r' || r == '\n' {
			lastNL = end
		}
		last = end
		end += n
	}
	if p.llama3 && lastNL >= 0 {
		return lastNL + 1 - i // `\s*[\r\n]+`
	}
	if end == len(s) || last == i {
		return end - i // `\s+(?!\S)` at the end, or `\s+`
	}
	return last - i // `\s+(?!\S)`: leave the last space to the next word
}

// newSplitSplitter builds an HF Split pre-tokenizer.
func newSplitSplitter(pat *hfPattern, behavior string, invert bool) (splitter, error) {
	switch behavior {
	case "Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous":
	default:
		return nil, fmt.Errorf("unknown Split behavior %q", behavior)
	}
	if pat.Regex != nil && behavior == "Isolated" && !invert {
		switch *pat.Regex {
		case patternGPT2:
			return gpt2Pattern, nil
		case patternLlama3:
			return llama3Pattern, nil
		case patternQwen2:
			return qwen2Pattern, nil
		}
	}
	ms := &matchSplitter{behavior: behavior, invert: invert}
	if pat.String != nil {
		if *pat.String == "" {
			return nil, fmt.Errorf("Split with an empty String pattern")
		}
		lit := *pat.String
		ms.find = func(s string) [][2]int {
			var out [][2]int
			for off := 0; ; {
				k := strings.Index(s[off:], lit)
				if k < 0 {
					return out
				}
				out = append(out, [2]int{off + k, off + k + len(lit)})
				off += k + len(lit)
			}
		}
		return ms, nil
	}
	re, err := regexp2.Compile(*pat.Regex, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("Split regex %q: %w", *pat.Regex, err)
	}
	re.MatchTimeout = 10 * time.Second
	ms.find = regexFinder(re)
	return ms, nil
}

// regexFinder returns the byte spans of re's matches in s.
func regexFinder(re *regexp2.Regexp) func(s string) [][2]int {
	return func(s string) [][2]int {
		runes := []rune(s)
		offs := make([]int, 0, len(runes)+1)
		for i := range s {
			offs = append(offs, i)
		}
		offs = append(offs, len(s))
		var out [][2]int
		m, err := re.FindRunesMatch(runes)
		for err == nil && m != nil {
			if m.Length > 0 {
				out = append(out, [2]int{offs[m.Index], offs[m.Index+m.Length]})
			}
			m, err = re.FindNextMatch(m)
		}
		return out
	}
}

// matchSplitter applies HF's split behaviors to the matches of a pattern.
type matchSplitter struct {
	find     func(s string) [][2]int
	behavior string
	invert   bool
}

func (m *matchSplitter) split(s string, emit func(string)) {
	type span struct {
		a, b  int
		match bool
	}
	var spans []span
	prev := 0
	for _, mt := range m.find(s) {
		if mt[0] > prev {
			spans = append(spans, span{prev, mt[0], false})
		}
		spans = append(spans, span{mt[0], mt[1], true})
		prev = mt[1]
	}
	if prev < len(s) {
		spans = append(spans, span{prev, len(s), false})
	}
	if m.invert {
		for i := range spans {
			spans[i].match = !spans[i].match
		}
	}
	switch m.behavior {
	case "Isolated":
		for _, sp := range spans {
			emit(s[sp.a:sp.b])
		}
	case "Removed":
		for _, sp := range spans {
			if !sp.match {
				emit(s[sp.a:sp.b])
			}
		}
	case "MergedWithPrevious": // a match joins the non-match before it
		var out []span
		prevMatch := false
		for _, sp := range spans {
			if sp.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].b = sp.b
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
		for _, sp := range out {
			emit(s[sp.a:sp.b])
		}
	case "MergedWithNext": // a match joins the non-match after it
		var out []span
		nextMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !nextMatch && len(out) > 0 {
				out[len(out)-1].a = sp.a
			} else {
				out = append(out, sp)
			}
			nextMatch = sp.match
		}
		for i := len(out) - 1; i >= 0; i-- {
			emit(s[out[i].a:out[i].b])
		}
	case "Contiguous":
		start := 0
		for i := range spans {
			if i+1 == len(spans) || spans[i+1].match != spans[i].match {
				emit(s[start:spans[i].b])
				start = spans[i].b
			}
		}
	}
}

// digitsSplitter is HF's Digits pre-tokenizer.
type digitsSplitter struct{ individual bool }

func (d digitsSplitter) split(s string, emit func(string)) {
	start := 0
	prevDigit := false
	for i, r := range s {
		dig := unicode.IsNumber(r)
		if i > start && (dig != prevDigit || dig && d.individual) {
			emit(s[start:i])
			start = i
		}
		prevDigit = dig
	}
	if start < len(s) {
		emit(s[start:])
	}
}
