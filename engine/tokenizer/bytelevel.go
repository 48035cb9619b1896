package tokenizer

import "strings"

// byteChar is GPT-2's byte -> printable character table: the printable
// Latin-1 bytes stand for themselves, the other 68 bytes for U+0100 onwards
// in byte order. ("Ġ" is the space, "Ċ" the newline.)
var byteChar [256]string

// charByte inverts byteChar (index: rune, valid below 0x144).
var charByte [0x144]int16

func init() {
	for i := range charByte {
		charByte[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			r = rune(256 + n)
			n++
		}
		byteChar[b] = string(r)
		charByte[r] = int16(b)
	}
}

// unicodeByte maps a byte-level character back to its byte.
func unicodeByte(r rune) (byte, bool) {
	if r >= 0 && int(r) < len(charByte) && charByte[r] >= 0 {
		return byte(charByte[r]), true
	}
	return 0, false
}

// byteLevelString writes s in GPT-2's byte-level characters.
func byteLevelString(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		sb.WriteString(byteChar[s[i]])
	}
	return sb.String()
}

// bytePrepare adds the ByteLevel add_prefix_space space.
func (t *Tokenizer) bytePrepare(s string, first, afterAdded bool) string {
	if t.wantPrefix(first, afterAdded) && !(t.prefixSkip && strings.HasPrefix(s, " ")) {
		s = " " + s
	}
	return s
}

// bpeByteLevel pre-tokenizes a fragment and appends the BPE of each word.
func (t *Tokenizer) bpeByteLevel(out []int, s string) []int {
	if len(t.pretok) == 0 {
		return t.bpeWordCached(out, s, true)
	}
	t.pretokenize(s, func(word string) {
		out = t.bpeWordCached(out, word, true)
	})
	return out
}

// pretokenize runs the splitter chain over s.
func (t *Tokenizer) pretokenize(s string, emit func(string)) {
	var rec func(level int, s string)
	rec = func(level int, s string) {
		if level == len(t.pretok) {
			if s != "" {
				emit(s)
			}
			return
		}
		t.pretok[level].split(s, func(piece string) { rec(level+1, piece) })
	}
	rec(0, s)
}

// bpeByteWord tokenizes one pre-tokenized word (raw bytes) into w.ids.
func (t *Tokenizer) bpeByteWord(w *work, word string) {
	if t.ignoreMerges {
		if id, ok := t.vocab[byteLevelString(word)]; ok {
			w.ids = append(w.ids, int32(id))
			return
		}
	}
	for i := 0; i < len(word); i++ {
		w.syms = appendSym(w.syms, int32(i), int32(i+1), t.byteTok[word[i]])
	}
	t.merge(w, word)
	for i := int32(0); i >= 0 && int(i) < len(w.syms); i = w.syms[i].next {
		s := w.syms[i]
		if s.id >= 0 {
			w.ids = append(w.ids, s.id)
		} else if t.unk >= 0 {
			w.ids = append(w.ids, int32(t.unk))
		}
	}
}

// splitter is one pre-tokenizer step: it cuts s into pieces.
type splitter interface {
	split(s string, emit func(string))
}
