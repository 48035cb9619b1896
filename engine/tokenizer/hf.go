package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a text fragment before tokenization (NFC, ...).
type normalizer func(string) string

// LoadHF reads a Hugging Face tokenizer.json. A tokenizer_config.json in the
// same directory, when present, supplies bos_token, eos_token,
// add_bos_token, add_eos_token and chat_template.
func LoadHF(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := os.ReadFile(filepath.Join(filepath.Dir(path), "tokenizer_config.json"))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		cfg = nil
	}
	t, err := ParseHFWithConfig(data, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseHF parses the bytes of a tokenizer.json (without a
// tokenizer_config.json: BOS and EOS come from the post-processor template
// and well-known token names).
func ParseHF(data []byte) (*Tokenizer, error) { return ParseHFWithConfig(data, nil) }

// hfFile is the part of tokenizer.json that is read.
type hfFile struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         *hfModel        `json:"model"`
}

type hfAddedToken struct {
	ID         *int   `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfModel struct {
	Type                    string      `json:"type"`
	Vocab                   hfVocabMap  `json:"vocab"`
	Merges                  hfMergeList `json:"merges"`
	UnkToken                *string     `json:"unk_token"`
	ByteFallback            bool        `json:"byte_fallback"`
	FuseUnk                 bool        `json:"fuse_unk"`
	IgnoreMerges            bool        `json:"ignore_merges"`
	ContinuingSubwordPrefix *string     `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string     `json:"end_of_word_suffix"`
	Dropout                 *float64    `json:"dropout"`
}

// hfPattern is a Split/Replace pattern: {"String": ...} or {"Regex": ...}.
type hfPattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// hfNode is any normalizer, pre-tokenizer, post-processor or decoder.
type hfNode struct {
	Type           string            `json:"type"`
	Normalizers    []json.RawMessage `json:"normalizers"`
	Pretokenizers  []json.RawMessage `json:"pretokenizers"`
	Processors     []json.RawMessage `json:"processors"`
	Prepend        *string           `json:"prepend"`
	Pattern        *hfPattern        `json:"pattern"`
	Content        *string           `json:"content"`
	Replacement    *string           `json:"replacement"`
	PrependScheme  *string           `json:"prepend_scheme"`
	AddPrefixSpace *bool             `json:"add_prefix_space"`
	Split          *bool             `json:"split"`
	UseRegex       *bool             `json:"use_regex"`
	Behavior       string            `json:"behavior"`
	Invert         bool              `json:"invert"`
	Individual     bool              `json:"individual_digits"`
	Left           *bool             `json:"left"`
	Right          *bool             `json:"right"`
	Single         []hfTemplatePiece `json:"single"`
}

type hfTemplatePiece struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
}

// hfSource keeps the parts of a tokenizer.json that MarshalHFJSON writes
// back unchanged.
type hfSource struct {
	normalizer, preTokenizer, postProcessor, decoder json.RawMessage
	modelVocab                                       []bool // id is in model.vocab
}

func isNull(m json.RawMessage) bool {
	m = bytes.TrimSpace(m)
	return len(m) == 0 || string(m) == "null"
}

// ParseHFWithConfig parses a tokenizer.json and, when cfg is not nil, the
// tokenizer_config.json that goes with it.
func ParseHFWithConfig(data, cfg []byte) (*Tokenizer, error) {
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if f.Model == nil {
		return nil, errors.New("tokenizer.json: no model")
	}
	m := *f.Model
	switch m.Type {
	case "BPE":
	case "":
		// older files omit the type; BPE is recognised by its merges
		if !m.Merges.present {
			return nil, errors.New("tokenizer.json: model has no type and no merges")
		}
	default:
		return nil, fmt.Errorf("tokenizer.json: unsupported model type %q (only BPE is implemented)", m.Type)
	}
	if p := m.ContinuingSubwordPrefix; p != nil && *p != "" {
		return nil, fmt.Errorf("tokenizer.json: unsupported continuing_subword_prefix %q", *p)
	}
	if p := m.EndOfWordSuffix; p != nil && *p != "" {
		return nil, fmt.Errorf("tokenizer.json: unsupported end_of_word_suffix %q", *p)
	}
	t := &Tokenizer{mode: byRank, unk: -1, bos: -1, eos: -1, pad: -1,
		byteFallback: m.ByteFallback, fuseUnk: m.FuseUnk, ignoreMerges: m.IgnoreMerges}
	t.hfSource = &hfSource{normalizer: f.Normalizer, preTokenizer: f.PreTokenizer,
		postProcessor: f.PostProcessor, decoder: f.Decoder}

	if err := t.hfVocab(&m, f.AddedTokens); err != nil {
		return nil, err
	}
	// The pipeline: which conventions (byte-level or '▁') the text follows.
	byteLevel, err := hasNodeType(f.PreTokenizer, "ByteLevel")
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: pre_tokenizer: %w", err)
	}
	if !byteLevel {
		if byteLevel, err = hasNodeType(f.Decoder, "ByteLevel"); err != nil {
			return nil, fmt.Errorf("tokenizer.json: decoder: %w", err)
		}
	}
	if byteLevel {
		t.kind = ByteLevel
	} else {
		t.kind = SentencePiece
	}
	if err := t.hfNormalizer(f.Normalizer); err != nil {
		return nil, fmt.Errorf("tokenizer.json: normalizer: %w", err)
	}
	if err := t.hfPreTokenizer(f.PreTokenizer, 0); err != nil {
		return nil, fmt.Errorf("tokenizer.json: pre_tokenizer: %w", err)
	}
	if t.kind == SentencePiece && !t.escapeSpaces {
		return nil, errors.New("tokenizer.json: unsupported pipeline: neither byte-level nor SentencePiece-style ('▁' for spaces)")
	}
	if err := t.hfMerges(m.Merges.pairs); err != nil {
		return nil, err
	}
	if m.UnkToken != nil {
		if id, ok := t.vocab[*m.UnkToken]; ok {
			t.unk = id
		} else {
			return nil, fmt.Errorf("tokenizer.json: unk_token %q is not in the vocabulary", *m.UnkToken)
		}
	}
	bosName, eosName, addBOS, addEOS, err := hfTemplate(f.PostProcessor)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: post_processor: %w", err)
	}
	t.addBOS, t.addEOS = addBOS, addEOS
	if cfg != nil {
		c, err := parseHFConfig(cfg)
		if err != nil {
			return nil, err
		}
		if c.bos != nil {
			bosName = *c.bos
		}
		if c.eos != nil {
			eosName = *c.eos
		}
		if c.addBOS != nil {
			t.addBOS = *c.addBOS
		}
		if c.addEOS != nil {
			t.addEOS = *c.addEOS
		}
		t.chatTemplate = c.chatTemplate
		if c.pad != nil {
			if id, ok := t.vocab[*c.pad]; ok {
				t.pad = id
			}
		}
	} else if eosName == "" {
		for _, name := range []string{"</s>", "<|endoftext|>", "<eos>", "<|end_of_text|>"} {
			if _, ok := t.vocab[name]; ok {
				eosName = name
				break
			}
		}
	}
	if bosName != "" {
		id, ok := t.vocab[bosName]
		if !ok {
			return nil, fmt.Errorf("tokenizer.json: bos token %q is not in the vocabulary", bosName)
		}
		t.bos = id
	}
	if eosName != "" {
		id, ok := t.vocab[eosName]
		if !ok {
			return nil, fmt.Errorf("tokenizer.json: eos token %q is not in the vocabulary", eosName)
		}
		t.eos = id
	}
	if err := t.finish(); err != nil {
		return nil, err
	}
	return t, nil
}

// maxVocab bounds the ids a tokenizer.json may use (the largest real
// vocabularies have about 262k tokens).
const maxVocab = 1 << 24

// hfVocab reads model.vocab and added_tokens.
func (t *Tokenizer) hfVocab(m *hfModel, added []hfAddedToken) error {
	if m.Vocab.list {
		return errors.New("tokenizer.json: model.vocab: want an object of token -> id, not a list")
	}
	vocab := m.Vocab.m
	if vocab == nil {
		return errors.New("tokenizer.json: model has no vocab")
	}
	if len(vocab) == 0 {
		return errors.New("tokenizer.json: model.vocab is empty")
	}
	n := 0
	for p, id := range vocab {
		if id < 0 || id >= maxVocab {
			return fmt.Errorf("tokenizer.json: model.vocab: token %q has id %d out of range", p, id)
		}
		n = max(n, id+1)
	}
	for i, a := range added {
		if a.ID == nil {
			return fmt.Errorf("tokenizer.json: added_tokens[%d] (%q) has no id", i, a.Content)
		}
		if *a.ID < 0 || *a.ID >= maxVocab {
			return fmt.Errorf("tokenizer.json: added_tokens[%d] (%q) has id %d out of range", i, a.Content, *a.ID)
		}
		if a.Content == "" {
			return fmt.Errorf("tokenizer.json: added_tokens[%d] (id %d) has empty content", i, *a.ID)
		}
		n = max(n, *a.ID+1)
	}
	if n > 4*(len(vocab)+len(added))+1024 {
		return fmt.Errorf("tokenizer.json: ids run to %d for %d tokens", n-1, len(vocab)+len(added))
	}
	t.pieces = make([]string, n)
	t.types = make([]TokenType, n)
	set := make([]bool, n)
	t.vocab = make(map[string]int, len(vocab)+len(added))
	if t.hfSource != nil {
		t.hfSource.modelVocab = make([]bool, n)
	}
	for p, id := range vocab {
		if set[id] {
			return fmt.Errorf("tokenizer.json: model.vocab: id %d is used by both %q and %q", id, t.pieces[id], p)
		}
		set[id] = true
		if t.hfSource != nil {
			t.hfSource.modelVocab[id] = true
		}
		t.pieces[id], t.types[id] = p, TypeNormal
		t.vocab[p] = id
	}
	for _, a := range added {
		id := *a.ID
		if !set[id] {
			set[id] = true
			t.pieces[id] = a.Content
		}
		t.vocab[a.Content] = id
		if a.Special {
			t.types[id] = TypeControl
		} else {
			t.types[id] = TypeUserDefined
		}
		t.added = append(t.added, addedToken{id: id, content: a.Content, special: a.Special,
			lstrip: a.LStrip, rstrip: a.RStrip, singleWord: a.SingleWord, normalized: a.Normalized})
	}
	for id := range t.types {
		if !set[id] {
			t.types[id] = TypeUnused
		}
	}
	if m.UnkToken != nil {
		if id, ok := vocab[*m.UnkToken]; ok && t.types[id] == TypeControl {
			t.types[id] = TypeUnknown
		}
	}
	return nil
}

// hfVocabMap is model.vocab. A list (Unigram's form) is recorded, not
// decoded, so that the model type can be reported instead.
type hfVocabMap struct {
	m    map[string]int
	list bool
}

func (v *hfVocabMap) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) > 0 && data[0] == '[':
		v.list = true
		return nil
	case string(data) == "null":
		return nil
	}
	v.m = map[string]int{}
	return json.NewDecoder(bytes.NewReader(data)).Decode(&v.m)
}

// hfMergeList is model.merges: "a b" strings (older files) or ["a", "b"]
// pairs, in rank order.
type hfMergeList struct {
	pairs   [][2]string
	present bool
}

func (ml *hfMergeList) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil
	}
	ml.present = true
	dec := func(v any) error { return json.NewDecoder(bytes.NewReader(data)).Decode(v) }
	// the first element says which form (a mixed list takes the slow path)
	first := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("[")), " \t\r\n")
	var strs []string
	if len(first) > 0 && first[0] == '"' && dec(&strs) == nil {
		ml.pairs = make([][2]string, len(strs))
		for i, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				return fmt.Errorf("merge %d %q is not two tokens separated by a space", i, s)
			}
			ml.pairs[i] = [2]string{a, b}
		}
		return nil
	}
	var lists [][]string
	if len(first) == 0 || first[0] != '[' || dec(&lists) != nil {
		// mixed forms: one at a time
		var items []json.RawMessage
		if err := dec(&items); err != nil {
			return fmt.Errorf("want a list: %w", err)
		}
		lists = make([][]string, len(items))
		for i, it := range items {
			var s string
			if json.Unmarshal(it, &s) == nil {
				lists[i] = strings.Split(s, " ")
				if len(lists[i]) != 2 {
					return fmt.Errorf("merge %d %q is not two tokens separated by a space", i, s)
				}
			} else if err := json.Unmarshal(it, &lists[i]); err != nil {
				return fmt.Errorf("merge %d is neither \"a b\" nor [\"a\", \"b\"]: %.40s", i, it)
			}
		}
	}
	ml.pairs = make([][2]string, len(lists))
	for i, l := range lists {
		if len(l) != 2 {
			return fmt.Errorf("merge %d has %d parts, want 2", i, len(l))
		}
		ml.pairs[i] = [2]string{l[0], l[1]}
	}
	return nil
}

// hfMerges builds the merge table.
func (t *Tokenizer) hfMerges(pairs [][2]string) error {
	t.merges = make(map[uint64]mergeInfo, len(pairs))
	var buf []byte
	for i, p := range pairs {
		a, b := p[0], p[1]
		l, ok1 := t.vocab[a]
		r2, ok2 := t.vocab[b]
		buf = append(append(buf[:0], a...), b...)
		res, ok3 := t.vocab[string(buf)]
		switch {
		case !ok1:
			return fmt.Errorf("tokenizer.json: merge %d (%q %q) references unknown token %q", i, a, b, a)
		case !ok2:
			return fmt.Errorf("tokenizer.json: merge %d (%q %q) references unknown token %q", i, a, b, b)
		case !ok3:
			return fmt.Errorf("tokenizer.json: merge %d (%q %q): the merged token %q is not in the vocabulary", i, a, b, a+b)
		}
		k := uint64(l)<<32 | uint64(uint32(r2))
		if _, dup := t.merges[k]; !dup {
			t.merges[k] = mergeInfo{rank: int32(i), id: int32(res)}
		}
	}
	return nil
}

func parseNode(raw json.RawMessage) (*hfNode, error) {
	if isNull(raw) {
		return nil, nil
	}
	var n hfNode
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// hasNodeType reports whether a pipeline part (or a Sequence in it) has a
// step of type typ.
func hasNodeType(raw json.RawMessage, typ string) (bool, error) {
	n, err := parseNode(raw)
	if err != nil || n == nil {
		return false, err
	}
	if n.Type == typ {
		return true, nil
	}
	for _, list := range [][]json.RawMessage{n.Normalizers, n.Pretokenizers, n.Processors} {
		for _, c := range list {
			ok, err := hasNodeType(c, typ)
			if ok || err != nil {
				return ok, err
			}
		}
	}
	// decoders: {"type":"Sequence","decoders":[...]}
	var dec struct {
		Decoders []json.RawMessage `json:"decoders"`
	}
	if json.Unmarshal(raw, &dec) == nil {
		for _, c := range dec.Decoders {
			ok, err := hasNodeType(c, typ)
			if ok || err != nil {
				return ok, err
			}
		}
	}
	return false, nil
}

// hfNormalizer reads the normalizer.
func (t *Tokenizer) hfNormalizer(raw json.RawMessage) error {
	n, err := parseNode(raw)
	if err != nil || n == nil {
		return err
	}
	switch n.Type {
	case "Sequence":
		for i, c := range n.Normalizers {
			if err := t.hfNormalizer(c); err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
		}
		return nil
	case "Prepend":
		if n.Prepend == nil || *n.Prepend != "▁" {
			return fmt.Errorf("unsupported Prepend %v (only \"▁\")", n.Prepend)
		}
		t.prefix = prefixAlways
		return nil
	case "Replace":
		if n.Pattern == nil || n.Pattern.String == nil || n.Content == nil {
			return errors.New("unsupported Replace (only a literal String pattern)")
		}
		from, to := *n.Pattern.String, *n.Content
		if from == " " && to == "▁" {
			t.escapeSpaces = true
			return nil
		}
		if from == "" {
			return errors.New("Replace with an empty pattern")
		}
		t.addNormalizer(func(s string) string { return strings.ReplaceAll(s, from, to) })
		return nil
	case "NFC":
		t.addNormalizer(norm.NFC.String)
	case "NFD":
		t.addNormalizer(norm.NFD.String)
	case "NFKC":
		t.addNormalizer(norm.NFKC.String)
	case "NFKD":
		t.addNormalizer(norm.NFKD.String)
	case "Lowercase":
		t.addNormalizer(strings.ToLower)
	case "Strip":
		left, right := n.Left == nil || *n.Left, n.Right == nil || *n.Right
		t.addNormalizer(func(s string) string {
			if left {
				s = strings.TrimLeftFunc(s, isSpaceRune)
			}
			if right {
				s = strings.TrimRightFunc(s, isSpaceRune)
			}
			return s
		})
	case "":
		return errors.New("normalizer without a type")
	default:
		return fmt.Errorf("unsupported normalizer %q", n.Type)
	}
	return nil
}

func (t *Tokenizer) addNormalizer(f normalizer) {
	if prev := t.normalizer; prev != nil {
		t.normalizer = func(s string) string { return f(prev(s)) }
		return
	}
	t.normalizer = f
}

// hfPreTokenizer reads the pre-tokenizer.
func (t *Tokenizer) hfPreTokenizer(raw json.RawMessage, depth int) error {
	if depth > 8 {
		return errors.New("pre-tokenizer nesting too deep")
	}
	n, err := parseNode(raw)
	if err != nil || n == nil {
		return err
	}
	switch n.Type {
	case "Sequence":
		for i, c := range n.Pretokenizers {
			if err := t.hfPreTokenizer(c, depth+1); err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
		}
		return nil
	case "Metaspace":
		if t.kind != SentencePiece {
			return errors.New("Metaspace in a byte-level pipeline")
		}
		if n.Replacement != nil && *n.Replacement != "▁" {
			return fmt.Errorf("unsupported Metaspace replacement %q (only \"▁\")", *n.Replacement)
		}
		t.escapeSpaces = true
		t.prefixSkip = true
		scheme := "always"
		if n.PrependScheme != nil {
			scheme = *n.PrependScheme
		} else if n.AddPrefixSpace != nil && !*n.AddPrefixSpace {
			scheme = "never"
		}
		switch scheme {
		case "always":
			t.prefix = prefixAlways
		case "first":
			t.prefix = prefixFirst
		case "never":
			t.prefix = prefixNever
		default:
			return fmt.Errorf("unknown Metaspace prepend_scheme %q", scheme)
		}
		t.splitMeta = n.Split == nil || *n.Split
		return nil
	case "ByteLevel":
		if t.kind != ByteLevel {
			return errors.New("ByteLevel in a SentencePiece pipeline")
		}
		if n.AddPrefixSpace != nil && *n.AddPrefixSpace {
			t.prefix, t.prefixSkip = prefixAlways, true
		}
		if n.UseRegex == nil || *n.UseRegex {
			t.pretok = append(t.pretok, gpt2Splitter{})
		}
		return nil
	case "Split":
		if n.Pattern == nil || (n.Pattern.String == nil) == (n.Pattern.Regex == nil) {
			return errors.New("Split needs a pattern with String or Regex")
		}
		if t.kind == SentencePiece {
			// After ' ' -> '▁' no space is left to split on (Gemma's
			// tokenizer.json); other splits are not supported here.
			if n.Pattern.String != nil && *n.Pattern.String == " " && t.escapeSpaces {
				return nil
			}
			return errors.New("unsupported Split in a SentencePiece pipeline")
		}
		sp, err := newSplitSplitter(n.Pattern, n.Behavior, n.Invert)
		if err != nil {
			return err
		}
		t.pretok = append(t.pretok, sp)
		return nil
	case "Digits":
		if t.kind != ByteLevel {
			return errors.New("Digits in a SentencePiece pipeline")
		}
		t.pretok = append(t.pretok, digitsSplitter{individual: n.Individual})
		return nil
	case "":
		return errors.New("pre-tokenizer without a type")
	default:
		return fmt.Errorf("unsupported pre-tokenizer %q", n.Type)
	}
}

// hfTemplate reads BOS/EOS from a TemplateProcessing post-processor.
func hfTemplate(raw json.RawMessage) (bos, eos string, addBOS, addEOS bool, err error) {
	n, err := parseNode(raw)
	if err != nil || n == nil {
		return "", "", false, false, err
	}
	if n.Type == "Sequence" {
		for _, c := range n.Processors {
			b, e, ab, ae, err := hfTemplate(c)
			if err != nil {
				return "", "", false, false, err
			}
			if ab {
				bos, addBOS = b, true
			}
			if ae {
				eos, addEOS = e, true
			}
		}
		return bos, eos, addBOS, addEOS, nil
	}
	if n.Type != "TemplateProcessing" {
		return "", "", false, false, nil
	}
	seen := false
	for _, p := range n.Single {
		switch {
		case p.Sequence != nil:
			seen = true
		case p.SpecialToken != nil && !seen && !addBOS:
			bos, addBOS = p.SpecialToken.ID, true
		case p.SpecialToken != nil && seen && !addEOS:
			eos, addEOS = p.SpecialToken.ID, true
		}
	}
	return bos, eos, addBOS, addEOS, nil
}

// hfConfig is what is read from tokenizer_config.json.
type hfConfig struct {
	bos, eos, pad  *string
	addBOS, addEOS *bool
	chatTemplate   string
}

func parseHFConfig(data []byte) (*hfConfig, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("tokenizer_config.json: %w", err)
	}
	c := &hfConfig{}
	tok := func(key string) (*string, error) {
		v, ok := raw[key]
		if !ok || isNull(v) {
			return nil, nil
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			return &s, nil
		}
		var obj struct {
			Content *string `json:"content"`
		}
		if err := json.Unmarshal(v, &obj); err != nil || obj.Content == nil {
			return nil, fmt.Errorf("tokenizer_config.json: %s is neither a string nor {\"content\": ...}", key)
		}
		return obj.Content, nil
	}
	flag := func(key string) (*bool, error) {
		v, ok := raw[key]
		if !ok || isNull(v) {
			return nil, nil
		}
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return nil, fmt.Errorf("tokenizer_config.json: %s: %w", key, err)
		}
		return &b, nil
	}
	var err error
	if c.bos, err = tok("bos_token"); err != nil {
		return nil, err
	}
	if c.eos, err = tok("eos_token"); err != nil {
		return nil, err
	}
	if c.pad, err = tok("pad_token"); err != nil {
		return nil, err
	}
	if c.addBOS, err = flag("add_bos_token"); err != nil {
		return nil, err
	}
	if c.addEOS, err = flag("add_eos_token"); err != nil {
		return nil, err
	}
	if v, ok := raw["chat_template"]; ok && !isNull(v) {
		if json.Unmarshal(v, &c.chatTemplate) != nil {
			// a list of named templates: take "default"
			var named []struct {
				Name     string `json:"name"`
				Template string `json:"template"`
			}
			if err := json.Unmarshal(v, &named); err != nil {
				return nil, errors.New("tokenizer_config.json: chat_template is neither a string nor a list of {name, template}")
			}
			sort.SliceStable(named, func(i, j int) bool { return named[i].Name == "default" && named[j].Name != "default" })
			if len(named) > 0 {
				c.chatTemplate = named[0].Template
			}
		}
	}
	return c, nil
}
