package arch

import (
	"slices"
	"testing"
)

// A cloned cache continues exactly as the original does, and writing to one
// leaves the other alone.
func TestCacheClone(t *testing.T) {
	m, _ := randomModel(t, tinyConfigs(t)["llama"], 1)
	prefix, rest := []int{1, 5, 9, 2}, []int{7, 3}
	a := m.NewCache()
	if err := m.Forward([]*Seq{{Cache: a, Tokens: prefix}}); err != nil {
		t.Fatal(err)
	}
	b := a.Clone(len(rest))
	if b.Len() != a.Len() {
		t.Fatalf("clone has %d positions, original %d", b.Len(), a.Len())
	}
	sa := &Seq{Cache: a, Tokens: rest, Logits: AllLogits}
	if err := m.Forward([]*Seq{sa}); err != nil {
		t.Fatal(err)
	}
	sb := &Seq{Cache: b, Tokens: rest, Logits: AllLogits}
	if err := m.Forward([]*Seq{sb}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sa.Out, sb.Out) || len(sa.Out) == 0 {
		t.Error("the clone's logits differ from the original's")
	}
	// the original, truncated back, and a fresh clone of it, are unaffected by b
	a.Truncate(len(prefix))
	c := a.Clone(0)
	sc := &Seq{Cache: c, Tokens: rest, Logits: AllLogits}
	if err := m.Forward([]*Seq{sc}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sb.Out, sc.Out) {
		t.Error("a clone of the truncated original differs")
	}
}
