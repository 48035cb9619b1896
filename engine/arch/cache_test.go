package arch

import "testing"

// Reserve sizes the cache once: filling it up to the reserved length does
// not reallocate, and a reservation past the context length is capped.
func TestCacheReserve(t *testing.T) {
	m, _ := randomModel(t, tinyConfigs(t)["llama"], 3)
	c := m.NewCache()
	c.Reserve(10)
	if c.cap < 10 {
		t.Fatalf("cap %d after Reserve(10), want at least 10", c.cap)
	}
	cap0 := c.cap
	k0 := &c.k[0][0]
	for i := 0; i < 10; i++ {
		if err := m.Forward([]*Seq{{Cache: c, Tokens: []int{i + 1}, Logits: LastLogits}}); err != nil {
			t.Fatal(err)
		}
	}
	if &c.k[0][0] != k0 || c.cap != cap0 {
		t.Errorf("cache reallocated while filling the reserved 10 positions (cap %d)", c.cap)
	}
	c.Reserve(m.MaxSeq + 100)
	if c.cap != m.MaxSeq {
		t.Errorf("cap %d after reserving past the context, want %d", c.cap, m.MaxSeq)
	}
	if c.Len() != 10 {
		t.Errorf("Len %d after Reserve, want 10", c.Len())
	}
}
