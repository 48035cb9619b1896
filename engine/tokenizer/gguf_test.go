package tokenizer

import (
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/internal/testref"
)

// ggufFrom writes a tokenizer's vocabulary as a GGUF converter would.
func ggufFrom(tk *Tokenizer, model, pre string) GGUFVocab {
	v := GGUFVocab{Model: model, Pre: pre, ChatTemplate: tk.ChatTemplate()}
	for id := 0; id < tk.VocabSize(); id++ {
		v.Tokens = append(v.Tokens, tk.Token(id))
		v.TokenTypes = append(v.TokenTypes, int32(tk.TokenType(id)))
		if model == "llama" {
			v.Scores = append(v.Scores, tk.Score(id))
		}
	}
	if model == "gpt2" {
		for _, m := range tk.mergeList() {
			v.Merges = append(v.Merges, tk.Token(m[0])+" "+tk.Token(m[1]))
		}
	}
	ip := func(id int) *int {
		if id < 0 {
			return nil
		}
		return &id
	}
	v.BOSTokenID, v.EOSTokenID, v.UnknownID = ip(tk.BOS()), ip(tk.EOS()), ip(tk.Unknown())
	add := tk.DefaultAddBOS()
	v.AddBOSToken = &add
	return v
}

func TestFromGGUFLlama(t *testing.T) {
	bin := stories(t)
	g, err := FromGGUF(ggufFrom(bin, "llama", ""))
	if err != nil {
		t.Fatal(err)
	}
	checkRef(t, g, readRef(t, testref.Path("stories15m", "tokenize.jsonl")), EncodeOptions{AddBOS: true, ParseSpecial: true})
	checkRef(t, g, readRef(t, testref.Path("tokenizers", "llama2.jsonl")), EncodeOptions{ParseSpecial: true})
	for _, s := range randomTexts(5, 200) {
		if a, b := bin.Encode(s, true), g.Encode(s, true); !slices.Equal(a, b) {
			t.Errorf("%q: %v vs %v", s, a, b)
		}
	}
	// add_space_prefix=false: no dummy prefix
	v := ggufFrom(bin, "llama", "")
	no := false
	v.AddSpacePrfx = &no
	g2, err := FromGGUF(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := g2.Encode("Hello", false); g2.Token(got[0]) != "H" && !strings.HasPrefix(g2.Token(got[0]), "H") {
		t.Errorf("no prefix: %s", pieces(g2, got))
	}
}

func TestFromGGUFErrors(t *testing.T) {
	bin := stories(t)
	for name, f := range map[string]func(*GGUFVocab){
		"no tokens":     func(v *GGUFVocab) { v.Tokens = nil },
		"no model":      func(v *GGUFVocab) { v.Model = "" },
		"unknown model": func(v *GGUFVocab) { v.Model = "bert" },
		"scores":        func(v *GGUFVocab) { v.Scores = v.Scores[:10] },
		"types":         func(v *GGUFVocab) { v.TokenTypes = v.TokenTypes[:10] },
		"bad type":      func(v *GGUFVocab) { v.TokenTypes[5] = 42 },
		"bos range":     func(v *GGUFVocab) { x := 1 << 20; v.BOSTokenID = &x },
		"gpt2 no pre":   func(v *GGUFVocab) { v.Model = "gpt2" },
		"gpt2 bad pre":  func(v *GGUFVocab) { v.Model, v.Pre = "gpt2", "nonesuch" },
		"gpt2 merge":    func(v *GGUFVocab) { v.Model, v.Pre, v.Merges = "gpt2", "gpt-2", []string{"zzzq qqqz"} },
	} {
		v := ggufFrom(bin, "llama", "")
		f(&v)
		if _, err := FromGGUF(v); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
