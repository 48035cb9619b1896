package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
	"unicode/utf8"
)

// LoadLlama2C reads a llama2.c tokenizer.bin. vocabSize is the number of
// entries to read (the model's vocab_size); 0 reads to the end of the file.
func LoadLlama2C(path string, vocabSize int) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseLlama2C(data, vocabSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseLlama2C parses the bytes of a llama2.c tokenizer.bin: int32
// max_token_length, then per token float32 score, int32 length, bytes.
//
// llama2.c's exporter writes SentencePiece's '▁' as ' ', BOS as "\n<s>\n",
// EOS as "\n</s>\n", and the byte-fallback tokens 3..258 as the byte itself
// (or, for bytes >= 0x80, as that code point's UTF-8); the vocabulary is
// rebuilt here in SentencePiece's own spelling ("▁the", "<0x0A>", "<s>"), so
// Token and MarshalHFJSON give what Hugging Face and GGUF files hold.
// Merges follow the scores, as in llama2.c and llama.cpp: ids 0, 1, 2 are
// <unk>, <s>, </s>, and BOS is added by default.
func ParseLlama2C(data []byte, vocabSize int) (*Tokenizer, error) {
	if vocabSize < 0 {
		return nil, fmt.Errorf("llama2.c tokenizer: negative vocab size %d", vocabSize)
	}
	if len(data) < 4 {
		return nil, fmt.Errorf("llama2.c tokenizer: %d bytes, too short for the header", len(data))
	}
	maxLen := int32(binary.LittleEndian.Uint32(data))
	if maxLen <= 0 || maxLen > 1<<16 {
		return nil, fmt.Errorf("llama2.c tokenizer: implausible max_token_length %d", maxLen)
	}
	t := &Tokenizer{kind: SentencePiece, mode: byScore, byteFallback: true, unk: -1, bos: -1, eos: -1, pad: -1,
		prefix: prefixAlways, escapeSpaces: true, addBOS: true}
	off := 4
	for vocabSize == 0 || len(t.pieces) < vocabSize {
		if off == len(data) && vocabSize == 0 {
			break
		}
		if off+8 > len(data) {
			return nil, fmt.Errorf("llama2.c tokenizer: truncated at token %d (offset %d)", len(t.pieces), off)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		n := int(int32(binary.LittleEndian.Uint32(data[off+4:])))
		off += 8
		if n < 0 || n > int(maxLen) && n > 64 || off+n > len(data) {
			return nil, fmt.Errorf("llama2.c tokenizer: token %d has bad length %d at offset %d", len(t.pieces), n, off-4)
		}
		raw := string(data[off : off+n])
		off += n
		t.pieces = append(t.pieces, raw)
		t.scores = append(t.scores, score)
	}
	if len(t.pieces) < 3 {
		return nil, fmt.Errorf("llama2.c tokenizer: only %d tokens", len(t.pieces))
	}
	t.types = make([]TokenType, len(t.pieces))
	for id, raw := range t.pieces {
		piece, ty := llama2cPiece(id, raw)
		t.pieces[id], t.types[id] = piece, ty
	}
	t.unk, t.bos, t.eos = 0, 1, 2
	t.types[0], t.types[1], t.types[2] = TypeUnknown, TypeControl, TypeControl
	if err := t.finish(); err != nil {
		return nil, err
	}
	return t, nil
}

// llama2cPiece restores the SentencePiece spelling of a llama2.c token.
func llama2cPiece(id int, raw string) (string, TokenType) {
	switch {
	case id == 0 && raw == "<unk>":
		return raw, TypeUnknown
	case id == 1 || id == 2:
		if s := strings.TrimSpace(raw); strings.HasPrefix(s, "<") {
			return s, TypeControl
		}
	case id >= 3 && id < 259:
		b := byte(id - 3)
		r, size := utf8.DecodeRuneInString(raw)
		if raw == string([]byte{b}) || size == len(raw) && r == rune(b) && r != utf8.RuneError || raw == fmt.Sprintf("<0x%02X>", b) {
			return fmt.Sprintf("<0x%02X>", b), TypeByte
		}
	}
	return strings.ReplaceAll(raw, " ", "▁"), TypeNormal
}
