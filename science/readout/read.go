package readout

import (
	"fmt"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tokenizer"
)

// Tokens returns the display tokens of ids: each token's decoded text (a
// multi-byte character split over byte tokens shows on its last token) and
// whether it is special.
func Tokens(tok *tokenizer.Tokenizer, ids []int) []Token {
	dec := tok.NewDecoder()
	out := make([]Token, len(ids))
	for i, id := range ids {
		out[i] = Token{Pos: i, ID: id, Text: dec.Next(id), Special: tok.IsSpecial(id)}
	}
	if rest := dec.Flush(); rest != "" && len(out) > 0 {
		out[len(out)-1].Text += rest
	}
	return out
}

// Scan runs ids through m and returns the reader's scores at every position.
// extra hooks (steering) run before the readout at the same point, so a
// steered layer reads the steered activations.
func Scan(m *arch.Transformer, ids []int, r *Reader, extra *hook.Set) ([]Scores, error) {
	if r.d != m.Dim {
		return nil, fmt.Errorf("readout: vectors of width %d, model of width %d", r.d, m.Dim)
	}
	if r.Layer >= m.Layers {
		return nil, fmt.Errorf("readout: layer %d outside the model's %d layers", r.Layer, m.Layers)
	}
	scores := make([]Scores, len(ids))
	var hs hook.Set
	hs.Add(r.Point(), r.Hook(func(pos int, s *Scores) {
		c := Scores{Proj: append([]float32(nil), s.Proj...), Cos: append([]float32(nil), s.Cos...), Norm: s.Norm}
		if s.Z != nil {
			c.Z = append([]float32(nil), s.Z...)
		}
		scores[pos] = c
	}))
	set := hook.Merge(extra, &hs)
	seq := &arch.Seq{Cache: m.NewCache(), Hooks: set}
	for start := 0; start < len(ids); start += model.PrefillChunk {
		seq.Tokens = ids[start:min(start+model.PrefillChunk, len(ids))]
		if err := m.Forward([]*arch.Seq{seq}); err != nil {
			return nil, err
		}
	}
	return scores, nil
}

// Read scans ids and builds the trace.
func Read(m *arch.Transformer, tok *tokenizer.Tokenizer, ids []int, r *Reader, extra *hook.Set, o TraceOptions) (*Trace, error) {
	scores, err := Scan(m, ids, r, extra)
	if err != nil {
		return nil, err
	}
	return BuildTrace(r, Tokens(tok, ids), scores, o)
}
