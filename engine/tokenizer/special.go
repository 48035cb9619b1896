package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// trie finds added tokens in text.
type trie struct {
	first [256]bool // some token starts with this byte
	root  trieNode
}

type trieNode struct {
	next  map[byte]*trieNode
	token int // index into Tokenizer.added, -1 = none ends here
}

func newTrie() *trie { return &trie{root: trieNode{token: -1}} }

func (tr *trie) add(s string, token int) {
	tr.first[s[0]] = true
	n := &tr.root
	for i := 0; i < len(s); i++ {
		if n.next == nil {
			n.next = make(map[byte]*trieNode)
		}
		c := n.next[s[i]]
		if c == nil {
			c = &trieNode{token: -1}
			n.next[s[i]] = c
		}
		n = c
	}
	n.token = token
}

// longest returns the longest eligible added token at the start of s
// (index into added, and its length), or -1.
func (tr *trie) longest(s string, ok func(token int) bool) (int, int) {
	best, bestLen := -1, 0
	n := &tr.root
	for i := 0; i < len(s); i++ {
		n = n.next[s[i]]
		if n == nil {
			break
		}
		if n.token >= 0 && ok(n.token) {
			best, bestLen = n.token, i+1
		}
	}
	return best, bestLen
}

// splitAdded cuts text into plain-text fragments (id -1) and added tokens,
// leftmost-longest, with the tokens' lstrip/rstrip/single_word rules, as
// Hugging Face's AddedVocabulary does. Special tokens are recognised only
// when parseSpecial is set.
func (t *Tokenizer) splitAdded(text string, parseSpecial bool, emit func(frag string, id int)) {
	if t.special == nil {
		emit(text, -1)
		return
	}
	eligible := func(k int) bool { return parseSpecial || !t.added[k].special }
	last := 0 // text[last:] is not emitted yet
	for i := 0; i < len(text); i++ {
		if !t.special.first[text[i]] {
			continue
		}
		k, n := t.special.longest(text[i:], eligible)
		if k < 0 {
			continue
		}
		a := &t.added[k]
		start, end := i, i+n
		if a.singleWord && (wordCharBefore(text[last:start]) || wordCharAfter(text[end:])) {
			continue
		}
		if a.lstrip {
			for start > last {
				r, size := utf8.DecodeLastRuneInString(text[last:start])
				if !unicode.IsSpace(r) {
					break
				}
				start -= size
			}
		}
		if a.rstrip {
			for end < len(text) {
				r, size := utf8.DecodeRuneInString(text[end:])
				if !unicode.IsSpace(r) {
					break
				}
				end += size
			}
		}
		if start > last {
			emit(text[last:start], -1)
		}
		emit("", a.id)
		last = end
		i = end - 1
	}
	if last < len(text) {
		emit(text[last:], -1)
	}
}

func isWordChar(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }

func wordCharBefore(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return n > 0 && isWordChar(r)
}

func wordCharAfter(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && isWordChar(r)
}
