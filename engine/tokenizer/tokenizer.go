package tokenizer

import (
	"fmt"
	"sort"
	"strings"
)

// TokenType is a vocabulary entry's kind; the values are GGUF's
// (tokenizer.ggml.token_type).
type TokenType int32

// Token types, numbered as in GGUF.
const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// Kind is the tokenization algorithm family.
type Kind uint8

const (
	// SentencePiece is BPE over text whose spaces are written as '▁'
	// (U+2581), with byte-fallback tokens <0x00>..<0xFF> for characters
	// outside the vocabulary (Llama 2, Mistral, Gemma, stories15M).
	SentencePiece Kind = iota
	// ByteLevel is GPT-2's byte-level BPE: the text is split by a
	// pre-tokenizer regex and each byte is written as a printable character
	// (GPT-2, Llama 3, Qwen2/2.5/3).
	ByteLevel
)

func (k Kind) String() string {
	switch k {
	case SentencePiece:
		return "sentencepiece"
	case ByteLevel:
		return "byte-level"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// prefixMode says when the dummy prefix (a space, '▁' in SentencePiece
// terms) is put before a text fragment.
type prefixMode uint8

const (
	prefixNever  prefixMode = iota
	prefixAlways            // before every text fragment (llama.cpp, HF Prepend normalizer)
	prefixFirst             // only before a fragment that starts the input (HF Metaspace "first")
)

// mergeMode says how BPE picks the next merge.
type mergeMode uint8

const (
	// byScore: a pair merges when the concatenated text is a vocabulary
	// token; the highest-scoring token merges first (SentencePiece BPE as in
	// llama.cpp and llama2.c).
	byScore mergeMode = iota
	// byRank: a pair merges when it is in the merges list; the earliest
	// merge first (Hugging Face tokenizers).
	byRank
)

// addedToken is a token that is split out of the text before the model sees
// it: special/control tokens and user-defined added tokens.
type addedToken struct {
	id         int
	content    string
	special    bool // parsed only when EncodeOptions.ParseSpecial
	lstrip     bool // swallow whitespace on its left
	rstrip     bool // swallow whitespace on its right
	singleWord bool // only when not inside a word
	normalized bool
}

type mergeInfo struct {
	rank int32
	id   int32
}

// Tokenizer encodes text to token ids and decodes ids to text. It is safe for
// concurrent use.
type Tokenizer struct {
	kind   Kind
	pieces []string // token id -> vocabulary piece ("▁Hello", "<0x0A>", "Ġworld")
	types  []TokenType
	scores []float32 // SentencePiece scores (nil when unknown)
	vocab  map[string]int

	mode      mergeMode
	scoreRank []int32              // byScore: merge priority of each token (lower first), -1 = never a merge result
	merges    map[uint64]mergeInfo // byRank: (left<<32 | right) -> merge

	byteTok      [256]int32 // SentencePiece: <0xXX> token of each byte; ByteLevel: token of each byte's character; -1 = none
	byteFallback bool       // SentencePiece: unknown characters become byte tokens
	unk          int        // unknown token id, -1 = none
	fuseUnk      bool
	ignoreMerges bool // ByteLevel (Llama 3): a word that is a vocabulary token is not split

	// text pipeline
	normalizer     normalizer
	normalizerName string // GGUF: the HF normalizer type it stands for ("NFC"), for MarshalHFJSON
	prefix         prefixMode
	prefixSkip     bool       // no prefix when the fragment already starts with one (HF Metaspace, ByteLevel add_prefix_space)
	escapeSpaces   bool       // SentencePiece: ' ' -> '▁'
	splitMeta      bool       // SentencePiece: BPE each '▁'-led word separately (HF Metaspace split=true)
	chunkMeta      bool       // SentencePiece: BPE words separately because no token spans "x▁" (exact, enables the cache)
	pretok         []splitter // ByteLevel pre-tokenizer chain
	hfSource       *hfSource  // how a tokenizer.json described the pipeline (for MarshalHFJSON)

	added   []addedToken
	special *trie
	addedOf map[int]int // token id -> index in added

	bos, eos, pad  int
	addBOS, addEOS bool
	eog            []int
	chatTemplate   string

	cache *wordCache
}

// EncodeOptions controls EncodeOpts.
type EncodeOptions struct {
	// AddBOS puts the BOS token first (when the tokenizer has one).
	AddBOS bool
	// AddEOS puts the EOS token last (when the tokenizer has one).
	AddEOS bool
	// ParseSpecial makes special-token text in the input ("<s>",
	// "<|im_start|>") encode as the special token, as Hugging Face tokenizers
	// do by default. Non-special added tokens are always split out.
	ParseSpecial bool
}

// Kind returns the tokenization algorithm family.
func (t *Tokenizer) Kind() Kind { return t.kind }

// VocabSize returns the number of token ids (the vocabulary plus added tokens).
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// Token returns the vocabulary piece of id as the model's vocabulary writes
// it ("▁Hello", "<0x0A>", "Ġworld", "<|im_end|>"), or "" when id is out of
// range. Use Decode for text.
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// TokenType returns the kind of vocabulary entry id.
func (t *Tokenizer) TokenType(id int) TokenType {
	if id < 0 || id >= len(t.types) {
		return TypeUndefined
	}
	return t.types[id]
}

// Score returns the SentencePiece score of id (0 when the tokenizer has none).
func (t *Tokenizer) Score(id int) float32 {
	if id < 0 || id >= len(t.scores) {
		return 0
	}
	return t.scores[id]
}

// ID returns the id of a vocabulary piece.
func (t *Tokenizer) ID(piece string) (int, bool) {
	id, ok := t.vocab[piece]
	return id, ok
}

// BOS returns the beginning-of-sequence token id, -1 when there is none.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence token id, -1 when there is none.
func (t *Tokenizer) EOS() int { return t.eos }

// Unknown returns the unknown token id, -1 when there is none.
func (t *Tokenizer) Unknown() int { return t.unk }

// DefaultAddBOS reports whether the model expects BOS before a prompt (its
// tokenizer config's add_bos_token, or its post-processor template).
func (t *Tokenizer) DefaultAddBOS() bool { return t.addBOS && t.bos >= 0 }

// EOG returns the end-of-generation ids: EOS and the end-of-turn tokens the
// vocabulary has (<|eot_id|>, <|im_end|>, <end_of_turn>, ...), sorted.
func (t *Tokenizer) EOG() []int { return append([]int(nil), t.eog...) }

// IsEOG reports whether id ends generation.
func (t *Tokenizer) IsEOG(id int) bool {
	i := sort.SearchInts(t.eog, id)
	return i < len(t.eog) && t.eog[i] == id
}

// IsSpecial reports whether id is a special (control) token: BOS, EOS, or an
// added token marked special.
func (t *Tokenizer) IsSpecial(id int) bool {
	if id < 0 || id >= len(t.types) {
		return false
	}
	if id == t.bos || id == t.eos {
		return true
	}
	if i, ok := t.addedOf[id]; ok {
		return t.added[i].special
	}
	return t.types[id] == TypeControl
}

// ChatTemplate returns the model's Jinja chat template ("" when none).
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }

// SetChatTemplate replaces the chat template.
func (t *Tokenizer) SetChatTemplate(s string) { t.chatTemplate = s }

// Encode encodes text, parsing special-token text as the special token (as
// Hugging Face tokenizers do by default), with BOS first when addBOS is set.
func (t *Tokenizer) Encode(text string, addBOS bool) []int {
	return t.EncodeOpts(text, EncodeOptions{AddBOS: addBOS, ParseSpecial: true})
}

// EncodeOpts encodes text as o says.
func (t *Tokenizer) EncodeOpts(text string, o EncodeOptions) []int {
	out := make([]int, 0, len(text)/3+2)
	if o.AddBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	start := true // the next text fragment begins the input
	afterAdded := true
	t.splitAdded(text, o.ParseSpecial, func(frag string, id int) {
		if id >= 0 {
			out = append(out, id)
			start = false
			afterAdded = true
			return
		}
		out = t.encodeText(out, frag, start, afterAdded)
		start = false
		afterAdded = false
	})
	if o.AddEOS && t.eos >= 0 {
		out = append(out, t.eos)
	}
	return out
}

// encodeText appends the ids of a text fragment (one without added tokens).
// first: the fragment starts the input; afterAdded: it starts the input or
// follows an added token.
func (t *Tokenizer) encodeText(out []int, s string, first, afterAdded bool) []int {
	if s == "" {
		return out
	}
	if t.normalizer != nil {
		s = t.normalizer(s)
		if s == "" {
			return out
		}
	}
	switch t.kind {
	case SentencePiece:
		s = t.spmPrepare(s, first, afterAdded)
		return t.bpeSPM(out, s)
	default:
		s = t.bytePrepare(s, first, afterAdded)
		return t.bpeByteLevel(out, s)
	}
}

// spmPrepare escapes spaces and adds the dummy prefix.
func (t *Tokenizer) spmPrepare(s string, first, afterAdded bool) string {
	if t.escapeSpaces {
		s = strings.ReplaceAll(s, " ", "▁")
	}
	if t.wantPrefix(first, afterAdded) && !(t.prefixSkip && strings.HasPrefix(s, "▁")) {
		s = "▁" + s
	}
	return s
}

func (t *Tokenizer) wantPrefix(first, afterAdded bool) bool {
	switch t.prefix {
	case prefixAlways:
		return true
	case prefixFirst:
		return first
	}
	return false
}

// prefixAfterAdded reports whether Encode puts a dummy prefix after an added
// token (so Decode removes one there).
func (t *Tokenizer) prefixAfterAdded() bool { return t.prefix == prefixAlways && !t.prefixSkip }

// finish derives the tables that depend on the vocabulary, merges and added
// tokens. Every constructor calls it last.
func (t *Tokenizer) finish() error {
	n := len(t.pieces)
	if n == 0 {
		return fmt.Errorf("tokenizer: empty vocabulary")
	}
	if len(t.types) != n {
		return fmt.Errorf("tokenizer: %d token types for %d tokens", len(t.types), n)
	}
	if t.vocab == nil {
		t.vocab = make(map[string]int, n)
		for id, p := range t.pieces {
			if _, dup := t.vocab[p]; !dup {
				t.vocab[p] = id
			}
		}
	}
	for _, id := range []int{t.bos, t.eos, t.unk, t.pad} {
		if id >= n {
			return fmt.Errorf("tokenizer: special token id %d outside the vocabulary (%d tokens)", id, n)
		}
	}
	for i := range t.byteTok {
		t.byteTok[i] = -1
	}
	switch t.kind {
	case SentencePiece:
		for id, p := range t.pieces {
			if b, ok := parseByteToken(p); ok && (t.types[id] == TypeByte || t.types[id] == TypeUndefined || t.types[id] == TypeNormal) {
				if t.byteTok[b] < 0 {
					t.byteTok[b] = int32(id)
				}
				t.types[id] = TypeByte
			}
		}
		if t.mode == byScore {
			t.buildScoreRank()
		}
		t.chunkMeta = t.splitMeta || t.noTokenSpansMeta()
	case ByteLevel:
		for b := 0; b < 256; b++ {
			if id, ok := t.vocab[byteChar[b]]; ok {
				t.byteTok[b] = int32(id)
			}
		}
	}
	// Added tokens: BOS/EOS/UNK and control tokens are special even when the
	// source did not list them.
	t.addedOf = make(map[int]int, len(t.added))
	for i, a := range t.added {
		if a.id < 0 || a.id >= n {
			return fmt.Errorf("tokenizer: added token %q has id %d outside the vocabulary (%d tokens)", a.content, a.id, n)
		}
		t.addedOf[a.id] = i
	}
	for id, ty := range t.types {
		if _, ok := t.addedOf[id]; ok {
			continue
		}
		if ty == TypeControl || ty == TypeUnknown || ty == TypeUserDefined {
			p := t.pieces[id]
			if p == "" {
				continue
			}
			t.addedOf[id] = len(t.added)
			t.added = append(t.added, addedToken{id: id, content: p, special: ty != TypeUserDefined})
		}
	}
	t.special = newTrie()
	for i, a := range t.added {
		if a.content != "" {
			t.special.add(a.content, i)
		}
	}
	t.buildEOG()
	t.cache = newWordCache(1 << 16)
	return nil
}

// eogNames are end-of-generation tokens besides EOS.
var eogNames = []string{
	"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>",
	"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|return|>", "<|call|>",
	"<EOT>", "<|EOT|>", "<｜end▁of▁sentence｜>",
}

func (t *Tokenizer) buildEOG() {
	set := map[int]bool{}
	if t.eos >= 0 {
		set[t.eos] = true
	}
	for _, name := range eogNames {
		// by name only among special (control) tokens: Gemma's vocabulary
		// has "</s>" as a plain added token
		if id, ok := t.vocab[name]; ok && id != t.bos && t.types[id] == TypeControl {
			set[id] = true
		}
	}
	t.eog = t.eog[:0]
	for id := range set {
		t.eog = append(t.eog, id)
	}
	sort.Ints(t.eog)
}

// parseByteToken recognises "<0xAB>".
func parseByteToken(p string) (byte, bool) {
	if len(p) != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(p[3])
	lo, ok2 := hexVal(p[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// buildScoreRank orders the tokens that merges may produce by descending
// score; equal scores share a rank (then the leftmost pair merges first, as
// in llama.cpp).
func (t *Tokenizer) buildScoreRank() {
	t.scoreRank = make([]int32, len(t.pieces))
	var ids []int
	for id := range t.pieces {
		t.scoreRank[id] = -1
		if t.mergeable(id) {
			ids = append(ids, id)
		}
	}
	sort.SliceStable(ids, func(i, j int) bool { return t.Score(ids[i]) > t.Score(ids[j]) })
	rank := int32(-1)
	for i, id := range ids {
		if i == 0 || t.Score(id) != t.Score(ids[i-1]) {
			rank++
		}
		t.scoreRank[id] = rank
	}
}

// mergeable reports whether BPE may produce id by merging two symbols:
// normal and user-defined tokens of more than one character.
func (t *Tokenizer) mergeable(id int) bool {
	ty := t.types[id]
	if ty != TypeNormal && ty != TypeUserDefined && ty != TypeUndefined {
		return false
	}
	p := t.pieces[id]
	for i := range p {
		if i > 0 {
			return true
		}
	}
	return false
}

// noTokenSpansMeta reports whether BPE can never merge across the start of
// a '▁'-led word (a '▁' after another character): then words can be encoded,
// and cached, one at a time with the same result.
func (t *Tokenizer) noTokenSpansMeta() bool {
	if t.mode == byRank {
		for k := range t.merges {
			l, r := t.pieces[int(k>>32)], t.pieces[int(uint32(k))]
			if strings.HasPrefix(r, "▁") && !strings.HasSuffix(l, "▁") {
				return false
			}
		}
		return true
	}
	for id, p := range t.pieces {
		if t.scoreRank[id] >= 0 && strings.Contains(strings.TrimLeft(p, "▁"), "▁") {
			return false
		}
	}
	return true
}
