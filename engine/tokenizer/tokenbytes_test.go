package tokenizer

import (
	"bytes"
	"testing"
)

// TestTokenBytes: the bytes of each token of an encoded text, joined, are
// the text with the dummy-prefix space Encode adds (SentencePiece) or the
// text itself (byte-level); a byte token is its one byte.
func TestTokenBytes(t *testing.T) {
	const text = "Once upon a time, a café 🙂 said \"hi\".\nThe end"
	tests := []struct {
		name string
		tk   *Tokenizer
		want string
	}{
		{"spm", stories(t), " " + text},
		{"gpt2", hfFamily(t, "gpt2"), text},
	}
	for _, tt := range tests {
		var got []byte
		for _, id := range tt.tk.Encode(text, false) {
			got = append(got, tt.tk.TokenBytes(id)...)
		}
		if string(got) != tt.want {
			t.Errorf("%s: joined token bytes %q, want %q", tt.name, got, tt.want)
		}
	}
	tk := stories(t)
	if got, want := tk.TokenBytes(243), []byte{0xf0}; !bytes.Equal(got, want) { // <0xF0>
		t.Errorf("byte token: %q, want %q", got, want)
	}
	for _, id := range []int{-1, tk.VocabSize()} {
		if got := tk.TokenBytes(id); got != nil {
			t.Errorf("id %d: %q, want nil", id, got)
		}
	}
}
