package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// symbol is a span of the word being merged, in a doubly linked list.
type symbol struct {
	start, end int32 // byte span in the word; start < 0: merged away
	prev, next int32 // neighbours, -1 = none
	id         int32 // token id, -1 = not a token (falls back to bytes/unk)
}

// candidate is a possible merge of symbol left with the symbol after it.
type candidate struct {
	prio  int32 // lower merges first
	left  int32
	right int32
	size  int32 // byte length of the merged span when queued (stale check)
	id    int32 // resulting token
}

// work is the reusable scratch space of one BPE call.
type work struct {
	syms []symbol
	heap []candidate
	ids  []int32
}

var workPool = sync.Pool{New: func() any { return new(work) }}

func (h *work) less(a, b candidate) bool {
	if a.prio != b.prio {
		return a.prio < b.prio
	}
	return a.left < b.left
}

func (h *work) push(c candidate) {
	h.heap = append(h.heap, c)
	i := len(h.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.heap[i], h.heap[p]) {
			break
		}
		h.heap[i], h.heap[p] = h.heap[p], h.heap[i]
		i = p
	}
}

func (h *work) pop() candidate {
	top := h.heap[0]
	n := len(h.heap) - 1
	h.heap[0] = h.heap[n]
	h.heap = h.heap[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.less(h.heap[r], h.heap[l]) {
			m = r
		}
		if !h.less(h.heap[m], h.heap[i]) {
			break
		}
		h.heap[i], h.heap[m] = h.heap[m], h.heap[i]
		i = m
	}
	return top
}

// tryPair queues the merge of symbols l and r if there is one.
func (t *Tokenizer) tryPair(w *work, word string, l, r int32) {
	if l < 0 || r < 0 {
		return
	}
	sl, sr := &w.syms[l], &w.syms[r]
	var c candidate
	switch t.mode {
	case byScore:
		id, ok := t.vocab[word[sl.start:sr.end]]
		if !ok || t.scoreRank[id] < 0 {
			return
		}
		c = candidate{prio: t.scoreRank[id], id: int32(id)}
	default:
		if sl.id < 0 || sr.id < 0 {
			return
		}
		m, ok := t.merges[uint64(sl.id)<<32|uint64(uint32(sr.id))]
		if !ok {
			return
		}
		c = candidate{prio: m.rank, id: m.id}
	}
	c.left, c.right, c.size = l, r, sr.end-sl.start
	w.push(c)
}

// merge runs BPE over the symbols in w and appends the resulting token ids
// (before fallback) to w.ids, with -1 - symbolIndex for symbols that are
// no token.
func (t *Tokenizer) merge(w *work, word string) {
	for i := 0; i+1 < len(w.syms); i++ {
		t.tryPair(w, word, int32(i), int32(i+1))
	}
	for len(w.heap) > 0 {
		c := w.pop()
		l, r := &w.syms[c.left], &w.syms[c.right]
		if l.start < 0 || r.start < 0 || l.next != c.right || r.end-l.start != c.size {
			continue // stale
		}
		l.end = r.end
		l.id = c.id
		l.next = r.next
		if r.next >= 0 {
			w.syms[r.next].prev = c.left
		}
		r.start, r.end = -1, -1
		t.tryPair(w, word, l.prev, c.left)
		t.tryPair(w, word, c.left, l.next)
	}
}

// bpeSPM appends the ids of a SentencePiece-escaped fragment.
func (t *Tokenizer) bpeSPM(out []int, s string) []int {
	if !t.chunkMeta {
		return t.bpeWordCached(out, s, false)
	}
	// words: '▁'* followed by non-'▁' characters; with splitMeta every '▁'
	// starts a word (HF Metaspace split).
	start := 0
	prevMeta := true
	for i, r := range s {
		isMeta := r == '▁'
		if i > start && isMeta && (t.splitMeta || !prevMeta) {
			out = t.bpeWordCached(out, s[start:i], false)
			start = i
		}
		prevMeta = isMeta
	}
	return t.bpeWordCached(out, s[start:], false)
}

// bpeWordCached encodes one word through the cache.
func (t *Tokenizer) bpeWordCached(out []int, word string, byteLevel bool) []int {
	if word == "" {
		return out
	}
	cacheable := len(word) <= maxCachedWord
	if cacheable {
		if ids, ok := t.cache.get(word); ok {
			for _, id := range ids {
				out = append(out, int(id))
			}
			return out
		}
	}
	w := workPool.Get().(*work)
	w.syms, w.heap, w.ids = w.syms[:0], w.heap[:0], w.ids[:0]
	if byteLevel {
		t.bpeByteWord(w, word)
	} else {
		t.bpeSPMWord(w, word)
	}
	if cacheable {
		t.cache.put(word, w.ids)
	}
	for _, id := range w.ids {
		out = append(out, int(id))
	}
	workPool.Put(w)
	return out
}

// bpeSPMWord tokenizes a SentencePiece word into w.ids.
func (t *Tokenizer) bpeSPMWord(w *work, word string) {
	if t.mode == byRank && t.ignoreMerges {
		if id, ok := t.vocab[word]; ok {
			w.ids = append(w.ids, int32(id))
			return
		}
	}
	for i, r := range word {
		n := utf8.RuneLen(r)
		if r == utf8.RuneError {
			_, n = utf8.DecodeRuneInString(word[i:])
		}
		ch := word[i : i+n]
		id, ok := t.vocab[ch]
		if ok && t.types[id] != TypeControl && t.types[id] != TypeByte {
			w.syms = appendSym(w.syms, int32(i), int32(i+n), int32(id))
			continue
		}
		if t.mode == byRank {
			// Hugging Face: byte fallback before merging, else unk (fused).
			if t.byteFallback && t.hasBytes(ch) {
				for j := 0; j < n; j++ {
					w.syms = appendSym(w.syms, int32(i+j), int32(i+j+1), t.byteTok[ch[j]])
				}
				continue
			}
			if t.fuseUnk && len(w.syms) > 0 && w.syms[len(w.syms)-1].id == int32(t.unk) && t.unk >= 0 {
				w.syms[len(w.syms)-1].end = int32(i + n)
				continue
			}
			w.syms = appendSym(w.syms, int32(i), int32(i+n), int32(t.unk))
			continue
		}
		w.syms = appendSym(w.syms, int32(i), int32(i+n), -1)
	}
	t.merge(w, word)
	for i := int32(0); i >= 0 && int(i) < len(w.syms); i = w.syms[i].next {
		s := w.syms[i]
		if s.id >= 0 {
			w.ids = append(w.ids, s.id)
			continue
		}
		t.fallback(w, word[s.start:s.end])
	}
}

// fallback appends the ids of text that is no token: byte tokens, else unk.
func (t *Tokenizer) fallback(w *work, text string) {
	if t.byteFallback && t.hasBytes(text) {
		for j := 0; j < len(text); j++ {
			w.ids = append(w.ids, t.byteTok[text[j]])
		}
		return
	}
	if t.unk < 0 {
		return
	}
	if t.fuseUnk && len(w.ids) > 0 && w.ids[len(w.ids)-1] == int32(t.unk) {
		return
	}
	w.ids = append(w.ids, int32(t.unk))
}

func (t *Tokenizer) hasBytes(s string) bool {
	for j := 0; j < len(s); j++ {
		if t.byteTok[s[j]] < 0 {
			return false
		}
	}
	return true
}

func appendSym(syms []symbol, start, end, id int32) []symbol {
	i := int32(len(syms))
	if i > 0 {
		syms[i-1].next = i
	}
	return append(syms, symbol{start: start, end: end, prev: i - 1, next: -1, id: id})
}

// maxCachedWord is the longest word (bytes) kept in the cache.
const maxCachedWord = 256

// wordCache memoises the BPE of words. It is bounded: when full it is
// cleared (cheap, and the hot words come back at once).
type wordCache struct {
	mu  sync.RWMutex
	m   map[string][]int32
	max int
}

func newWordCache(max int) *wordCache {
	return &wordCache{m: make(map[string][]int32), max: max}
}

func (c *wordCache) get(w string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[w]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int32) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[strings.Clone(w)] = append([]int32(nil), ids...)
	c.mu.Unlock()
}
