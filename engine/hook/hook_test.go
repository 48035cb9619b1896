package hook

import (
	"slices"
	"testing"
)

func TestParseRoundTrip(t *testing.T) {
	for _, p := range AllKinds(4, true) {
		got, err := Parse(p.String(), 4)
		if err != nil {
			t.Fatalf("Parse(%q): %v", p, err)
		}
		if got != p {
			t.Errorf("Parse(%q) = %v, want %v", p.String(), got, p)
		}
	}
}

func TestParseAliases(t *testing.T) {
	tests := []struct {
		in   string
		want Point
	}{
		{"blocks.-1.hook_resid_post", Block(5, ResidPost)},
		{"blocks.2.resid_mid", Block(2, ResidMid)},
		{"l_out-3", Block(3, ResidPost)},
		{"embed", EmbedPoint},
		{"ln_final", LnFinalPoint},
		{"hook_pos_embed", PosEmbedPoint},
		{"blocks.0.attn.hook_pattern", Block(0, AttnPattern)},
		{"blocks.-1.attn.pattern", Block(5, AttnPattern)},
		{"blocks.3.attn.hook_attn_scores", Block(3, AttnScores)},
		{"blocks.1.attn.hook_q", Block(1, AttnQ)},
		{"blocks.1.attn.hook_k", Block(1, AttnK)},
		{"blocks.1.attn.hook_v", Block(1, AttnV)},
		{"blocks.1.attn.hook_z", Block(1, AttnZ)},
		{"blocks.2.ln1.hook_normalized", Block(2, Ln1)},
		{"blocks.2.ln2.hook_normalized", Block(2, Ln2)},
		{"blocks.2.mlp.hook_pre", Block(2, MLPPre)},
		{"blocks.2.mlp.hook_post", Block(2, MLPPost)},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, 6)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"blocks.6.hook_resid_post", "blocks.x.hook_resid_post", "blocks.1.hook_nope", "resid", "blocks.1", "l_out-9", "blocks.1.attn.hook_nope", "blocks.1.hook_pattern"} {
		if _, err := Parse(in, 6); err == nil {
			t.Errorf("Parse(%q): no error", in)
		}
	}
}

func TestExpand(t *testing.T) {
	ps, err := Expand("blocks.*.hook_resid_post", 3)
	if err != nil || len(ps) != 3 || ps[2] != Block(2, ResidPost) {
		t.Fatalf("Expand * = %v, %v", ps, err)
	}
	ps, err = Expand("blocks.1-2.hook_attn_out", 6)
	if err != nil || len(ps) != 2 || ps[0] != Block(1, AttnOut) {
		t.Fatalf("Expand 1-2 = %v, %v", ps, err)
	}
	ps, err = Expand("blocks.-2:-1.hook_mlp_out", 6)
	if err != nil || len(ps) != 2 || ps[0] != Block(4, MLPOut) {
		t.Fatalf("Expand -2:-1 = %v, %v", ps, err)
	}
	if _, err := Expand("blocks.3-1.hook_mlp_out", 6); err == nil {
		t.Fatal("empty range accepted")
	}
	if got := len(All(2)); got != 2+2*7 {
		t.Fatalf("All(2) has %d points, want %d", got, 2+2*7)
	}
	if got, want := len(AllKinds(2, true)), 3+2*int(ResidPost-ResidPre+1); got != want {
		t.Fatalf("AllKinds(2) has %d points, want %d", got, want)
	}
	ps, err = Expand("blocks.*.attn.hook_pattern", 3)
	if err != nil || len(ps) != 3 || ps[1] != Block(1, AttnPattern) {
		t.Fatalf("Expand attn pattern = %v, %v", ps, err)
	}
}

// TestCaptureWidensPattern captures a prefill's pattern then a decode
// step's: rows are padded to the most keys, with 0 for the pattern.
func TestCaptureWidensPattern(t *testing.T) {
	c := &Capture{}
	f := c.Func()
	p := Block(0, AttnPattern)
	// Two heads, prefill of 2 positions: keys 2.
	f(&Act{Point: p, Pos: 0, Rows: 2, Dim: 4, Heads: 2, Data: []float32{1, 0, 1, 0, 0.5, 0.5, 0.25, 0.75}})
	// Decode step at position 2: keys 3.
	f(&Act{Point: p, Pos: 2, Rows: 1, Dim: 6, Heads: 2, Data: []float32{0.1, 0.2, 0.7, 0.3, 0.3, 0.4}})
	want := []float32{1, 0, 0, 1, 0, 0, 0.5, 0.5, 0, 0.25, 0.75, 0, 0.1, 0.2, 0.7, 0.3, 0.3, 0.4}
	if c.Dim != 6 || c.Rows() != 3 || !slices.Equal(c.Data, want) {
		t.Fatalf("got dim %d rows %d data %v, want 6, 3, %v", c.Dim, c.Rows(), c.Data, want)
	}
}

func TestSetRunOrderAndNil(t *testing.T) {
	var nilSet *Set
	nilSet.Run(&Act{}) // must not panic
	if !nilSet.Empty() || nilSet.Has(EmbedPoint) {
		t.Fatal("nil set not empty")
	}
	var s Set
	p := Block(0, ResidPost)
	var order []int
	s.Add(p, func(*Act) { order = append(order, 1) })
	s.Add(p, func(*Act) { order = append(order, 2) })
	s.Run(&Act{Point: p})
	s.Run(&Act{Point: Block(1, ResidPost)})
	if len(order) != 2 || order[0] != 1 || order[1] != 2 {
		t.Fatalf("order = %v", order)
	}
}

func TestAddVectorSpans(t *testing.T) {
	a := &Act{Pos: 10, Rows: 3, Dim: 2, Data: make([]float32, 6)}
	AddVector([]float32{1, 2}, Spans{{From: 11, To: 12}})(a)
	want := []float32{0, 0, 1, 2, 0, 0}
	for i := range want {
		if a.Data[i] != want[i] {
			t.Fatalf("data = %v, want %v", a.Data, want)
		}
	}
	var c Capture
	c.Func()(a)
	c.Func()(&Act{Pos: 13, Rows: 1, Dim: 2, Data: []float32{5, 6}})
	if c.Rows() != 4 || c.Pos[3] != 13 || c.Data[7] != 6 {
		t.Fatalf("capture = %+v", c)
	}
}

func TestReplaceWithSpans(t *testing.T) {
	a := &Act{Pos: 4, Rows: 3, Dim: 2, Data: []float32{1, 1, 2, 2, 3, 3}}
	ReplaceWith([]float32{9, 8}, Spans{{From: 5, To: 0}})(a)
	want := []float32{1, 1, 9, 8, 9, 8}
	for i := range want {
		if a.Data[i] != want[i] {
			t.Fatalf("data = %v, want %v", a.Data, want)
		}
	}
}

func TestParseLayerList(t *testing.T) {
	tests := []struct {
		in   string
		want []int
	}{
		{"2", []int{2}},
		{"-1", []int{5}},
		{"1:3", []int{1, 2, 3}},
		{"-4:-1", []int{2, 3, 4, 5}},
		{"1-2", []int{1, 2}},
		{"0,2,-1", []int{0, 2, 5}},
		{"3:4, 0:1,4", []int{0, 1, 3, 4}},
		{"*", []int{0, 1, 2, 3, 4, 5}},
		{"1:-2", []int{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		got, err := ParseLayerList(tt.in, 6)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseLayerList(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "6", "-7", "x", "3:1", "-1:-4", "1:", ":2", "1,,2", "2--1", "-4-1", "1:2:3", "9999999999999999999999"} {
		if got, err := ParseLayerList(in, 6); err == nil {
			t.Errorf("ParseLayerList(%q) = %v, want an error", in, got)
		}
	}
	if _, err := ParseLayerList("0", 0); err == nil {
		t.Error("ParseLayerList on a model without layers: no error")
	}
}

func TestExpandLayerLists(t *testing.T) {
	tests := []struct {
		in   string
		want []Point
	}{
		{"blocks.-4:-1.hook_resid_post", []Point{Block(2, ResidPost), Block(3, ResidPost), Block(4, ResidPost), Block(5, ResidPost)}},
		{"blocks.0,5.hook_attn_out", []Point{Block(0, AttnOut), Block(5, AttnOut)}},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in, 6)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Expand(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParse: hook names and patterns are outside input: no panic, and every
// point returned lies inside the model and parses back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"blocks.3.hook_resid_post", "blocks.-1.resid_mid", "l_out-2", "hook_embed", "ln_final", "blocks.*.hook_mlp_out", "blocks.-4:-1.hook_attn_out", "blocks.1-2,0.hook_resid_pre", "*", "blocks..", "l_out--1"} {
		f.Add(s, 6)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = n%40 + 1
		if n <= 0 {
			n += 40
		}
		if p, err := Parse(s, n); err == nil {
			checkPoint(t, s, p, n)
		}
		ps, err := Expand(s, n)
		if err != nil {
			return
		}
		for _, p := range ps {
			checkPoint(t, s, p, n)
		}
	})
}

func checkPoint(t *testing.T, s string, p Point, n int) {
	t.Helper()
	if p.Kind >= NumKinds || (p.Kind.InBlock() && (p.Layer < 0 || p.Layer >= n)) {
		t.Fatalf("%q with %d layers gave the point %+v outside the model", s, n, p)
	}
	back, err := Parse(p.String(), n)
	if err != nil || back != p {
		t.Fatalf("%q: point %v does not parse back: %v, %v", s, p, back, err)
	}
}

// FuzzParseLayerList: no panic; the result is increasing and inside the model.
func FuzzParseLayerList(f *testing.F) {
	for _, s := range []string{"2", "-1", "1:3", "-4:-1", "0,2,-1", "*", "1-2", "3:1", ",", "-"} {
		f.Add(s, 6)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = n%40 + 1
		if n <= 0 {
			n += 40
		}
		ls, err := ParseLayerList(s, n)
		if err != nil {
			return
		}
		if len(ls) == 0 {
			t.Fatalf("ParseLayerList(%q, %d): no layers and no error", s, n)
		}
		for i, l := range ls {
			if l < 0 || l >= n || (i > 0 && l <= ls[i-1]) {
				t.Fatalf("ParseLayerList(%q, %d) = %v: not increasing inside [0, %d)", s, n, ls, n)
			}
		}
	})
}

func TestCheckLayerList(t *testing.T) {
	for _, in := range []string{"2", "-40", "1:3", "-4:-1", "0,2,-1", "*", "1-2", "100"} {
		if err := CheckLayerList(in); err != nil {
			t.Errorf("CheckLayerList(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", "x", "1:", "2--1", "1,,2", "1:2:3", "best"} {
		if err := CheckLayerList(in); err == nil {
			t.Errorf("CheckLayerList(%q): no error", in)
		}
	}
}
