package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Decode turns ids into text. It inverts Encode for valid UTF-8 text: a BOS
// at the start is dropped, added and special tokens are written as their
// text, byte-fallback and byte-level tokens are joined into bytes, and for
// SentencePiece the dummy-prefix space that Encode puts at the start (and,
// with llama.cpp's and HF Llama's rule, after each added token) is removed.
// Invalid UTF-8 (from ids that split a character) is kept as raw bytes.
func (t *Tokenizer) Decode(ids []int) string {
	d := t.NewDecoder()
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(d.Next(id))
	}
	sb.WriteString(d.Flush())
	return sb.String()
}

// Decoder decodes a stream of ids piece by piece: Next returns the text that
// became complete with each id. It holds back the bytes of a UTF-8 character
// that is split across byte tokens, and applies the same rules as Decode
// (so joining every Next and the final Flush equals Decode of all ids). To
// decode a continuation of a prompt, first feed the prompt's ids (and drop
// what Next returns), or use Skip.
type Decoder struct {
	t       *Tokenizer
	pending []byte
	strip   bool // drop one ' ' at the start of the next text
	started bool
	buf     []byte
}

// NewDecoder returns a streaming decoder positioned at the start of a text.
func (t *Tokenizer) NewDecoder() *Decoder {
	return &Decoder{t: t, strip: t.kind == SentencePiece && t.prefix != prefixNever}
}

// Skip feeds ids without returning their text (for a prompt whose
// continuation is decoded next).
func (d *Decoder) Skip(ids []int) {
	for _, id := range ids {
		d.Next(id)
	}
	d.pending = d.pending[:0]
}

// Next adds one id and returns the text that is now complete.
func (d *Decoder) Next(id int) string {
	t := d.t
	first := !d.started
	d.started = true
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	if first && id == t.bos {
		return ""
	}
	if k, ok := t.addedOf[id]; ok {
		content := t.added[k].content
		if t.kind == SentencePiece && !t.added[k].special {
			content = strings.ReplaceAll(content, "▁", " ") // as HF's decoder does (Gemma's "▁▁" tokens)
		}
		d.pending = append(d.pending, content...)
		d.strip = t.kind == SentencePiece && t.prefixAfterAdded()
		return d.emit()
	}
	d.buf = t.appendTokenBytes(d.buf[:0], id)
	b := d.buf
	if d.strip && len(b) > 0 {
		if b[0] == ' ' {
			b = b[1:]
		}
		d.strip = false
	}
	d.pending = append(d.pending, b...)
	return d.emit()
}

// Flush returns what is held back (an incomplete UTF-8 sequence, as raw
// bytes) and resets the decoder to the start of a text.
func (d *Decoder) Flush() string {
	s := string(d.pending)
	d.pending = d.pending[:0]
	d.started = false
	d.strip = d.t.kind == SentencePiece && d.t.prefix != prefixNever
	return s
}

// emit returns the pending bytes up to an incomplete UTF-8 tail.
func (d *Decoder) emit() string {
	p := d.pending
	cut := len(p)
	for k := 1; k <= 3 && k <= len(p); k++ {
		if utf8.RuneStart(p[len(p)-k]) {
			if !utf8.FullRune(p[len(p)-k:]) {
				cut = len(p) - k
			}
			break
		}
	}
	s := string(p[:cut])
	d.pending = append(d.pending[:0], p[cut:]...)
	return s
}

// appendTokenBytes appends the bytes that a (non-added) token stands for.
func (t *Tokenizer) appendTokenBytes(b []byte, id int) []byte {
	p := t.pieces[id]
	switch t.kind {
	case SentencePiece:
		if t.types[id] == TypeByte {
			if c, ok := parseByteToken(p); ok {
				return append(b, c)
			}
		}
		for len(p) > 0 {
			i := strings.Index(p, "▁")
			if i < 0 {
				return append(b, p...)
			}
			b = append(b, p[:i]...)
			b = append(b, ' ')
			p = p[i+len("▁"):]
		}
		return b
	default:
		for _, r := range p {
			if c, ok := unicodeByte(r); ok {
				b = append(b, c)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
		return b
	}
}
