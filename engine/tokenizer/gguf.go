package tokenizer

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// GGUFVocab holds a GGUF file's tokenizer metadata (the tokenizer.ggml.*
// keys and tokenizer.chat_template). Optional scalars are pointers: nil
// when the key is absent. The GGUF reader fills it; this package does not
// read GGUF files itself.
type GGUFVocab struct {
	Model        string    // tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE)
	Pre          string    // tokenizer.ggml.pre: the pre-tokenizer ("llama-bpe", "qwen2", "gpt-2", "smollm", ...)
	Tokens       []string  // tokenizer.ggml.tokens
	Scores       []float32 // tokenizer.ggml.scores (SentencePiece)
	TokenTypes   []int32   // tokenizer.ggml.token_type (TokenType values)
	Merges       []string  // tokenizer.ggml.merges ("a b", byte-level BPE)
	BOSTokenID   *int      // tokenizer.ggml.bos_token_id
	EOSTokenID   *int      // tokenizer.ggml.eos_token_id
	EOTTokenID   *int      // tokenizer.ggml.eot_token_id
	UnknownID    *int      // tokenizer.ggml.unknown_token_id
	PaddingID    *int      // tokenizer.ggml.padding_token_id
	AddBOSToken  *bool     // tokenizer.ggml.add_bos_token
	AddEOSToken  *bool     // tokenizer.ggml.add_eos_token
	AddSpacePrfx *bool     // tokenizer.ggml.add_space_prefix (SentencePiece; default true)
	ChatTemplate string    // tokenizer.chat_template
}

// FromGGUF builds a tokenizer from GGUF metadata, following llama.cpp's
// reading of it: "llama" vocabularies merge by score with byte fallback and
// a dummy prefix (unless add_space_prefix is false) and add BOS by default;
// "gpt2" vocabularies merge by rank with the pre-tokenizer that
// tokenizer.ggml.pre names.
func FromGGUF(v GGUFVocab) (*Tokenizer, error) {
	n := len(v.Tokens)
	if n == 0 {
		return nil, fmt.Errorf("gguf tokenizer: no tokens")
	}
	if v.TokenTypes != nil && len(v.TokenTypes) != n {
		return nil, fmt.Errorf("gguf tokenizer: %d token types for %d tokens", len(v.TokenTypes), n)
	}
	t := &Tokenizer{pieces: slices.Clone(v.Tokens), types: make([]TokenType, n), unk: -1, bos: -1, eos: -1, pad: -1,
		chatTemplate: v.ChatTemplate}
	for i := range t.types {
		t.types[i] = TypeNormal
		if v.TokenTypes != nil {
			ty := TokenType(v.TokenTypes[i])
			if ty < TypeUndefined || ty > TypeByte {
				return nil, fmt.Errorf("gguf tokenizer: token %d (%q) has unknown type %d", i, v.Tokens[i], ty)
			}
			t.types[i] = ty
		}
	}
	opt := func(p *int, def int, what string) (int, error) {
		if p == nil {
			return def, nil
		}
		if *p < 0 || *p >= n {
			return 0, fmt.Errorf("gguf tokenizer: %s %d outside the vocabulary (%d tokens)", what, *p, n)
		}
		return *p, nil
	}
	var err error
	switch v.Model {
	case "llama":
		if len(v.Scores) != n {
			return nil, fmt.Errorf("gguf tokenizer: %d scores for %d tokens (a \"llama\" vocabulary needs one per token)", len(v.Scores), n)
		}
		t.kind, t.mode, t.byteFallback, t.escapeSpaces = SentencePiece, byScore, true, true
		t.scores = slices.Clone(v.Scores)
		t.prefix = prefixAlways
		if v.AddSpacePrfx != nil && !*v.AddSpacePrfx {
			t.prefix = prefixNever
		}
		if t.unk, err = opt(v.UnknownID, min(0, n-1), "unknown_token_id"); err != nil {
			return nil, err
		}
		if t.bos, err = opt(v.BOSTokenID, min(1, n-1), "bos_token_id"); err != nil {
			return nil, err
		}
		if t.eos, err = opt(v.EOSTokenID, min(2, n-1), "eos_token_id"); err != nil {
			return nil, err
		}
		t.addBOS = true
	case "gpt2":
		t.kind, t.mode = ByteLevel, byRank
		if err := t.ggufPre(v.Pre); err != nil {
			return nil, err
		}
		t.vocab = make(map[string]int, n)
		for id, p := range t.pieces {
			if _, dup := t.vocab[p]; !dup {
				t.vocab[p] = id
			}
		}
		t.merges = make(map[uint64]mergeInfo, len(v.Merges))
		for i, m := range v.Merges {
			a, b, ok := strings.Cut(m, " ")
			if !ok {
				return nil, fmt.Errorf("gguf tokenizer: merge %d %q is not two tokens separated by a space", i, m)
			}
			l, ok1 := t.vocab[a]
			r, ok2 := t.vocab[b]
			res, ok3 := t.vocab[a+b]
			if !ok1 || !ok2 || !ok3 {
				return nil, fmt.Errorf("gguf tokenizer: merge %d %q references a token that is not in the vocabulary", i, m)
			}
			k := uint64(l)<<32 | uint64(uint32(r))
			if _, dup := t.merges[k]; !dup {
				t.merges[k] = mergeInfo{rank: int32(i), id: int32(res)}
			}
		}
		if t.unk, err = opt(v.UnknownID, -1, "unknown_token_id"); err != nil {
			return nil, err
		}
		if t.bos, err = opt(v.BOSTokenID, -1, "bos_token_id"); err != nil {
			return nil, err
		}
		if t.eos, err = opt(v.EOSTokenID, -1, "eos_token_id"); err != nil {
			return nil, err
		}
	case "":
		return nil, fmt.Errorf("gguf tokenizer: tokenizer.ggml.model is missing")
	default:
		return nil, fmt.Errorf("gguf tokenizer: unsupported tokenizer.ggml.model %q (only \"llama\" and \"gpt2\")", v.Model)
	}
	if t.pad, err = opt(v.PaddingID, -1, "padding_token_id"); err != nil {
		return nil, err
	}
	if v.AddBOSToken != nil {
		t.addBOS = *v.AddBOSToken
	}
	if v.AddEOSToken != nil {
		t.addEOS = *v.AddEOSToken
	}
	if v.TokenTypes == nil { // infer: the special ids are control tokens
		for _, id := range []int{t.bos, t.eos} {
			if id >= 0 {
				t.types[id] = TypeControl
			}
		}
		if t.unk >= 0 {
			t.types[t.unk] = TypeUnknown
		}
	}
	if err := t.finish(); err != nil {
		return nil, err
	}
	if v.EOTTokenID != nil {
		id, err := opt(v.EOTTokenID, -1, "eot_token_id")
		if err != nil {
			return nil, err
		}
		if !t.IsEOG(id) {
			t.eog = append(t.eog, id)
			slices.Sort(t.eog)
		}
	}
	return t, nil
}

// ggufPre sets the byte-level pre-tokenizer that tokenizer.ggml.pre names
// (the names llama.cpp's converter writes; only those whose split is one
// of the patterns implemented here).
func (t *Tokenizer) ggufPre(pre string) error {
	switch pre {
	case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral":
		t.pretok = []splitter{llama3Pattern}
		t.ignoreMerges = true
		t.addBOS = true
	case "qwen2", "deepseek-r1-qwen", "megrez":
		t.pretok = []splitter{qwen2Pattern}
		t.normalizer, t.normalizerName = norm.NFC.String, "NFC" // as Qwen2's tokenizer.json
	case "gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4":
		t.pretok = []splitter{gpt2Pattern}
	case "smollm":
		t.pretok = []splitter{digitsSplitter{individual: true}, gpt2Pattern}
	case "":
		return fmt.Errorf("gguf tokenizer: tokenizer.ggml.pre is missing (the byte-level pre-tokenizer is unknown)")
	default:
		return fmt.Errorf("gguf tokenizer: unsupported pre-tokenizer %q", pre)
	}
	return nil
}
