package llama2c

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// checkpoint builds a tiny valid checkpoint whose every weight value is its
// float index, so tensor placement can be checked.
func checkpoint(dim, hidden, layers, heads, kv, vocab, seq int) []byte {
	h := Header{Dim: dim, Hidden: hidden, Layers: layers, Heads: heads, KVHeads: kv, Vocab: vocab, SeqLen: seq, Shared: vocab > 0}
	if vocab < 0 {
		h.Vocab = -vocab
	}
	b := make([]byte, h.FileSize())
	for i, v := range []int{dim, hidden, layers, heads, kv, vocab, seq} {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(int32(v)))
	}
	for i := HeaderSize; i+4 <= len(b); i += 4 {
		binary.LittleEndian.PutUint32(b[i:], math.Float32bits(float32((i-HeaderSize)/4)))
	}
	return b
}

func TestParseLayout(t *testing.T) {
	b := checkpoint(8, 16, 2, 2, 1, -10, 4) // untied classifier, GQA
	h, ts, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Shared || h.Vocab != 10 {
		t.Fatalf("header %+v", h)
	}
	byName := map[string]int{}
	for i, x := range ts {
		byName[x.Name] = i
		if err := x.Check(); err != nil {
			t.Fatal(err)
		}
	}
	first := func(name string) float32 {
		x := ts[byName[name]]
		return math.Float32frombits(binary.LittleEndian.Uint32(x.Data))
	}
	// embed 80, attn norms 2×8, wq 2×64, wk 2×(4·8)…
	tests := []struct {
		name string
		want float32
	}{
		{"model.embed_tokens.weight", 0},
		{"model.layers.0.input_layernorm.weight", 80},
		{"model.layers.1.input_layernorm.weight", 88},
		{"model.layers.0.self_attn.q_proj.weight", 96},
		{"model.layers.1.self_attn.q_proj.weight", 160},
		{"model.layers.0.self_attn.k_proj.weight", 224},
	}
	for _, tt := range tests {
		if got := first(tt.name); got != tt.want {
			t.Errorf("%s starts at value %v, want %v", tt.name, got, tt.want)
		}
	}
	if s := ts[byName["model.layers.0.self_attn.k_proj.weight"]].Shape; s[0] != 4 || s[1] != 8 {
		t.Errorf("k shape %v, want [4 8]", s)
	}
	if _, ok := byName["lm_head.weight"]; !ok {
		t.Error("untied model has no lm_head.weight")
	}
	// lm_head is the last tensor and ends the file.
	if got := first("lm_head.weight"); int(got) != (len(b)-HeaderSize)/4-80 {
		t.Errorf("lm_head starts at %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	good := checkpoint(8, 16, 2, 2, 2, 10, 4)
	odd := checkpoint(8, 16, 2, 2, 2, 10, 4)
	binary.LittleEndian.PutUint32(odd[12:], 3) // 3 heads do not divide dim 8
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"short", good[:20], "too short"},
		{"truncated", good[:len(good)-4], "truncated"},
		{"trailing", append(append([]byte(nil), good...), 0, 0, 0, 0), "trailing"},
		{"heads", odd, "multiple of n_heads"},
		{"zeros", make([]byte, 64), "non-positive"},
	}
	for _, tt := range tests {
		_, _, err := Parse(tt.b)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(checkpoint(8, 16, 2, 2, 1, -10, 4))
	f.Add(checkpoint(4, 8, 1, 1, 1, 3, 2)[:40])
	f.Add([]byte("not a checkpoint at all, definitely not"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ts, err := Parse(b)
		if err != nil {
			return
		}
		if int64(len(b)) != h.FileSize() {
			t.Fatalf("accepted %d bytes for a %d-byte layout", len(b), h.FileSize())
		}
		for _, x := range ts {
			if err := x.Check(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
