package tokenizer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// tinyByteLevel is a byte-level tokenizer.json: the 256 byte characters,
// "Ġa"/"ab" merges, and added tokens with each flag.
func tinyByteLevel() string {
	vocab := map[string]int{}
	for b := 0; b < 256; b++ {
		vocab[byteChar[b]] = b
	}
	vocab["Ġa"], vocab["ab"], vocab["abc"] = 256, 257, 258
	v, _ := json.Marshal(vocab)
	return fmt.Sprintf(`{
  "added_tokens": [
    {"id": 259, "content": "<L>", "lstrip": true, "special": true},
    {"id": 260, "content": "<R>", "rstrip": true, "special": true},
    {"id": 261, "content": "word", "single_word": true, "special": false},
    {"id": 262, "content": "<S>", "special": true},
    {"id": 263, "content": "<SS>", "special": true}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "post_processor": null,
  "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE", "vocab": %s, "merges": ["Ġ a", "a b", ["ab", "c"]]}
}`, v)
}

func mustParse(t testing.TB, js string) *Tokenizer {
	t.Helper()
	tk, err := ParseHF([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestAddedTokenFlags(t *testing.T) {
	tk := mustParse(t, tinyByteLevel())
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"x  <L>y", []string{"x", "<L>", "y"}},             // lstrip takes the spaces before
		{"x<R>  y", []string{"x", "<R>", "y"}},             // rstrip the spaces after
		{"a word b", []string{"a", "Ġ", "word", "Ġ", "b"}}, // single word: split out
		{"swords", []string{"s", "w", "o", "r", "d", "s"}}, // inside a word: not
		{"<SS><S>", []string{"<SS>", "<S>"}},               // longest first
		{"abc ab", []string{"abc", "Ġa", "b"}},
	} {
		got := tk.Encode(c.in, false)
		var ps []string
		for _, id := range got {
			ps = append(ps, tk.Token(id))
		}
		if !slices.Equal(ps, c.want) {
			t.Errorf("%q: got %q, want %q", c.in, ps, c.want)
		}
	}
	if got := tk.Decode(tk.Encode("x<R>y", false)); got != "x<R>y" {
		t.Errorf("decode %q", got)
	}
}

// tinySPM is a SentencePiece-style tokenizer.json with the given
// normalizer and pre-tokenizer.
func tinySPM(normalizer, pre string) string {
	return fmt.Sprintf(`{
  "added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true}],
  "normalizer": %s, "pre_tokenizer": %s,
  "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": false,
    "vocab": {"<unk>": 0, "<s>": 1, "▁": 2, "H": 3, "i": 4, "▁H": 5, "▁Hi": 6, "▁▁": 7},
    "merges": ["▁ ▁", "▁ H", "▁H i"]}
}`, normalizer, pre)
}

func TestSentencePiecePipelines(t *testing.T) {
	llama := `{"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}`
	for _, c := range []struct {
		name, norm, pre string
		in              string
		want            []string
	}{
		{"prepend", llama, "null", "Hi", []string{"▁Hi"}},
		{"prepend space", llama, "null", " Hi", []string{"▁▁", "H", "i"}},
		{"prepend after special", llama, "null", "<s>Hi", []string{"<s>", "▁Hi"}},
		{"metaspace always", "null", `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}`, " Hi<s>Hi", []string{"▁Hi", "<s>", "▁Hi"}},
		{"metaspace first", "null", `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}`, "Hi<s>Hi", []string{"▁Hi", "<s>", "H", "i"}},
		{"metaspace split", "null", `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": true}`, "  Hi", []string{"▁", "▁Hi"}},
		{"metaspace no split", "null", `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": false}`, "  Hi", []string{"▁▁", "H", "i"}},
		{"legacy add_prefix_space", "null", `{"type": "Metaspace", "replacement": "▁", "add_prefix_space": true}`, "Hi", []string{"▁Hi"}},
		{"gemma style", `{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}`, `{"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious"}`, "Hi Hi", []string{"H", "i", "▁Hi"}},
		{"unk fused", llama, "null", "Hixyz", []string{"▁Hi", "<unk>"}},
	} {
		tk := mustParse(t, tinySPM(c.norm, c.pre))
		var ps []string
		for _, id := range tk.Encode(c.in, false) {
			ps = append(ps, tk.Token(id))
		}
		if !slices.Equal(ps, c.want) {
			t.Errorf("%s: %q: got %q, want %q", c.name, c.in, ps, c.want)
		}
	}
}

func TestParseHFErrors(t *testing.T) {
	good := tinyByteLevel()
	for _, c := range []struct{ name, js, want string }{
		{"not json", `{`, "tokenizer.json"},
		{"no model", `{"added_tokens": []}`, "no model"},
		{"unknown model type", `{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}`, `unsupported model type "Unigram"`},
		{"no vocab", `{"model": {"type": "BPE", "merges": []}}`, "no vocab"},
		{"vocab not object", `{"model": {"type": "BPE", "vocab": [1,2], "merges": []}}`, "model.vocab"},
		{"negative id", `{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}`, "out of range"},
		{"duplicate id", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}}`, "used by both"},
		{"sparse ids", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 9000000}, "merges": []}}`, "ids run to"},
		{"merge unknown token", strings.Replace(good, `"a b"`, `"a zz"`, 1), `references unknown token "zz"`},
		{"merge result unknown", strings.Replace(good, `"a b"`, `"b a"`, 1), `merged token "ba" is not in the vocabulary`},
		{"merge malformed", strings.Replace(good, `"a b"`, `"ab"`, 1), "not two tokens"},
		{"merge wrong arity", strings.Replace(good, `["ab", "c"]`, `["ab", "c", "d"]`, 1), "3 parts"},
		{"unknown normalizer", tinySPM(`{"type": "Precompiled", "precompiled_charsmap": ""}`, "null"), `unsupported normalizer "Precompiled"`},
		{"unknown pre-tokenizer", tinySPM("null", `{"type": "BertPreTokenizer"}`), `unsupported pre-tokenizer "BertPreTokenizer"`},
		{"no space convention", tinySPM("null", "null"), "neither byte-level nor SentencePiece"},
		{"bad regex", strings.Replace(good, `{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}`, `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(("}, "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false}]}`, 1), "Split regex"},
		{"bad behavior", strings.Replace(good, `{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}`, `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": "x"}, "behavior": "Sideways"}, {"type": "ByteLevel"}]}`, 1), "Split behavior"},
		{"unk token missing", strings.Replace(good, `"type": "BPE",`, `"type": "BPE", "unk_token": "<nope>",`, 1), `unk_token "<nope>"`},
		{"added without id", strings.Replace(good, `"id": 262, `, ``, 1), "has no id"},
		{"added empty", strings.Replace(good, `"content": "<S>"`, `"content": ""`, 1), "empty content"},
		{"subword prefix", strings.Replace(good, `"type": "BPE",`, `"type": "BPE", "continuing_subword_prefix": "##",`, 1), "continuing_subword_prefix"},
	} {
		_, err := ParseHF([]byte(c.js))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if _, err := ParseHFWithConfig([]byte(good), []byte(`{"bos_token": 5}`)); err == nil || !strings.Contains(err.Error(), "bos_token") {
		t.Errorf("config: %v", err)
	}
	if _, err := ParseHFWithConfig([]byte(good), []byte(`{"eos_token": "<none>"}`)); err == nil || !strings.Contains(err.Error(), `eos token "<none>"`) {
		t.Errorf("config: %v", err)
	}
}

func TestHFConfig(t *testing.T) {
	cfg := `{"bos_token": {"content": "<S>", "lstrip": false}, "eos_token": "<SS>", "add_bos_token": true,
		"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}`
	tk, err := ParseHFWithConfig([]byte(tinyByteLevel()), []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if tk.BOS() != 262 || tk.EOS() != 263 || !tk.DefaultAddBOS() || tk.ChatTemplate() != "D" {
		t.Errorf("bos %d eos %d add %v template %q", tk.BOS(), tk.EOS(), tk.DefaultAddBOS(), tk.ChatTemplate())
	}
	if got := tk.Encode("ab", true); !slices.Equal(got, []int{262, 257}) {
		t.Errorf("encode %v", got)
	}
}

// FuzzLoadHF: any bytes give a tokenizer or an error, never a panic, and a
// tokenizer that loads encodes and decodes without panicking.
func FuzzLoadHF(f *testing.F) {
	f.Add([]byte(tinyByteLevel()))
	f.Add([]byte(tinySPM(`{"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}`, "null")))
	f.Add([]byte(tinySPM("null", `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true}`)))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "MergedWithNext", "invert": true}, {"type": "ByteLevel"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := ParseHF(data)
		if err != nil {
			return
		}
		for _, s := range []string{"", "Hi ab abc", " <S>word <L> x<R> \n\t", "日本 🙂 12345", "\xff\xfe"} {
			ids := tk.Encode(s, true)
			_ = tk.Decode(ids)
			_ = tk.EncodeOpts(s, EncodeOptions{AddEOS: true})
		}
		_, _ = tk.MarshalHFJSON()
	})
}
