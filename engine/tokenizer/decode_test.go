package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Joining Decoder.Next over the ids (and Flush) equals Decode, and no piece
// it returns splits a UTF-8 character.
func checkStreaming(t *testing.T, tk *Tokenizer, texts []string) {
	t.Helper()
	for _, s := range texts {
		ids := tk.Encode(s, true)
		d := tk.NewDecoder()
		var sb strings.Builder
		for _, id := range ids {
			piece := d.Next(id)
			if utf8.ValidString(s) && !utf8.ValidString(piece) {
				t.Errorf("%q: Next(%d) returned a split character %q", s, id, piece)
			}
			sb.WriteString(piece)
		}
		sb.WriteString(d.Flush())
		if want := tk.Decode(ids); sb.String() != want {
			t.Errorf("%q: streamed %q, Decode %q", s, sb.String(), want)
		}
	}
}

func TestDecoderStreamingSPM(t *testing.T) {
	tk := stories(t)
	checkStreaming(t, tk, append(refTexts(t), randomTexts(4, 200)...))

	// byte-fallback pieces of one emoji are held back until complete
	d := tk.NewDecoder()
	var got []string
	for _, id := range tk.Encode("Hi 🙂!", true) {
		got = append(got, d.Next(id))
	}
	if strings.Join(got, "|") != "|Hi| ||||🙂|!" {
		t.Errorf("pieces %q", got)
	}
	// the leading-space rule applies at the start only; Skip primes a continuation
	d = tk.NewDecoder()
	d.Skip(tk.Encode("Once upon", true))
	if s := d.Next(263); s != " a" { // "▁a"
		t.Errorf("continuation: %q", s)
	}
	// an incomplete character at the end comes out of Flush as raw bytes
	d = tk.NewDecoder()
	if s := d.Next(243); s != "" { // <0xF0>
		t.Errorf("held: %q", s)
	}
	if s := d.Flush(); s != "\xf0" {
		t.Errorf("flush: %q", s)
	}
}

// FuzzEncodeDecode: Decode(Encode(s)) == s for valid UTF-8, with Llama 2's
// SentencePiece vocabulary (except text containing '▁', which decodes as a
// space) and GPT-2's byte-level one; the streamed decode agrees.
func FuzzEncodeDecode(f *testing.F) {
	for _, s := range append(refTexts(f), randomTexts(11, 20)...) {
		f.Add(s)
	}
	spm := stories(f)
	gpt2 := hfFamily(f, "gpt2")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		for _, tk := range []*Tokenizer{spm, gpt2} {
			if tk == spm && strings.Contains(s, "▁") {
				continue
			}
			ids := tk.Encode(s, true)
			if got := tk.Decode(ids); got != s {
				t.Fatalf("%v: Decode(Encode(%q)) = %q", tk.Kind(), s, got)
			}
			d := tk.NewDecoder()
			var sb strings.Builder
			for _, id := range ids {
				sb.WriteString(d.Next(id))
			}
			if sb.String()+d.Flush() != s {
				t.Fatalf("%v: streamed %q", tk.Kind(), sb.String())
			}
		}
	})
}
