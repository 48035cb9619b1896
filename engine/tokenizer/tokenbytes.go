package tokenizer

import "strings"

// TokenBytes returns the bytes token id stands for on its own, out of
// context: a SentencePiece "▁" is a space (the dummy-prefix space that
// Decode drops at the start of a text is kept), a byte token is its one
// byte (possibly part of a UTF-8 character), an added token is its text.
// An id outside the vocabulary gives nil. This is the text a per-token
// listing shows (log-probs of alternatives, for example); Decode is the
// text of a sequence.
func (t *Tokenizer) TokenBytes(id int) []byte {
	if id < 0 || id >= len(t.pieces) {
		return nil
	}
	if k, ok := t.addedOf[id]; ok {
		content := t.added[k].content
		if t.kind == SentencePiece && !t.added[k].special {
			content = strings.ReplaceAll(content, "▁", " ")
		}
		return []byte(content)
	}
	return t.appendTokenBytes(nil, id)
}
