package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/limbic-dev/limbic/internal/testref"
)

// marshalRoundTrip writes tk as tokenizer.json + tokenizer_config.json in a
// temporary directory and reads them back with LoadHF.
func marshalRoundTrip(t testing.TB, tk *Tokenizer) *Tokenizer {
	t.Helper()
	js, err := tk.MarshalHFJSON()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tk.MarshalHFConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := LoadHF(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatalf("reading MarshalHFJSON back: %v", err)
	}
	return back
}

// tokenizer.bin (score-driven merges) and its tokenizer.json (ranked merges
// derived from the scores) give the same ids on every reference text and on
// random text, and the HF form matches llama2.jsonl on its own.
func TestMarshalHFJSONLlama2C(t *testing.T) {
	bin := stories(t)
	hf := marshalRoundTrip(t, bin)
	if hf.VocabSize() != bin.VocabSize() || hf.BOS() != 1 || hf.EOS() != 2 || hf.Unknown() != 0 || !hf.DefaultAddBOS() || hf.Kind() != SentencePiece {
		t.Fatalf("read back: vocab %d bos %d eos %d unk %d addBOS %v", hf.VocabSize(), hf.BOS(), hf.EOS(), hf.Unknown(), hf.DefaultAddBOS())
	}
	for id := 0; id < bin.VocabSize(); id++ {
		if bin.Token(id) != hf.Token(id) || bin.TokenType(id) != hf.TokenType(id) {
			t.Fatalf("token %d: %q/%v vs %q/%v", id, bin.Token(id), bin.TokenType(id), hf.Token(id), hf.TokenType(id))
		}
	}
	checkRef(t, hf, readRef(t, testref.Path("tokenizers", "llama2.jsonl")), EncodeOptions{ParseSpecial: true})
	checkRef(t, hf, readRef(t, testref.Path("stories15m", "tokenize.jsonl")), EncodeOptions{AddBOS: true, ParseSpecial: true})
	texts := append(refTexts(t), randomTexts(3, 2000)...)
	bad := 0
	for _, s := range texts {
		a, b := bin.Encode(s, true), hf.Encode(s, true)
		if !slices.Equal(a, b) {
			if bad++; bad < 10 {
				t.Errorf("%q:\n bin %s\n  hf %s", s, pieces(bin, a), pieces(hf, b))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d/%d texts differ", bad, len(texts))
	}
	// and the HF form writes itself back unchanged
	js1, _ := hf.MarshalHFJSON()
	js2, _ := marshalRoundTrip(t, hf).MarshalHFJSON()
	if string(js1) != string(js2) {
		t.Error("MarshalHFJSON of the read-back tokenizer differs")
	}
}
