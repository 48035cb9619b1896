package readout

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/internal/testref"
	"github.com/limbic-dev/limbic/science/vecpack"
)

var update = flag.Bool("update", false, "rewrite golden files")

// randomPack builds a pack of n random emotion vectors at every layer, with
// a neutral baseline of mean 1 and std 2 for every emotion.
func randomPack(n, d, layers int, seed uint64) *vecpack.Pack {
	names := make([]string, n)
	for i := range names {
		names[i] = string(rune('a'+i%26)) + strings.Repeat("x", i/26)
	}
	return testpack.Random(testpack.Options{Emotions: names, D: d, Layers: layers, Seed: seed, ModelID: "t",
		BestLayer: layers - 2, Norm: testpack.Constant(5), BaselineMean: 1, BaselineStd: 2})
}

func TestScoreMatchesDefinition(t *testing.T) {
	p := randomPack(5, 8, 3, 1)
	r, err := NewReader(p, Best, nil, vecpack.Denoised)
	if err != nil {
		t.Fatal(err)
	}
	if r.Layer != 1 {
		t.Errorf("default layer %d, want the best layer 1", r.Layer)
	}
	h := []float32{1, -2, 3, 0.5, 0, 1, 2, -1}
	s := r.Score(h)
	hn := 0.0
	for _, x := range h {
		hn += float64(x * x)
	}
	hn = math.Sqrt(hn)
	for e, name := range r.Emotions {
		u, _ := p.Unit(1, name, vecpack.Denoised)
		var dot float64
		for i := range h {
			dot += float64(h[i]) * float64(u[i])
		}
		if !(math.Abs(float64(s.Proj[e])-dot) <= 1e-5) || !(math.Abs(float64(s.Cos[e])-dot/hn) <= 1e-5) || !(math.Abs(float64(s.Z[e])-(dot-1)/2) <= 1e-5) {
			t.Errorf("%s: got proj %g cos %g z %g, want %g %g %g", name, s.Proj[e], s.Cos[e], s.Z[e], dot, dot/hn, (dot-1)/2)
		}
	}
	if _, err := NewReader(p, 7, nil, vecpack.Denoised); err == nil {
		t.Error("layer 7 accepted")
	}
	if _, err := NewReader(p, 1, []string{"nope"}, vecpack.Denoised); err == nil {
		t.Error("unknown emotion accepted")
	}
}

func TestSmoothPercentile(t *testing.T) {
	got := Smooth([]float32{0, 3, 6, 9}, 3)
	want := []float32{1.5, 3, 6, 7.5}
	for i := range want {
		if !(math.Abs(float64(got[i]-want[i])) <= 1e-6) {
			t.Fatalf("Smooth = %v, want %v", got, want)
		}
	}
	xs := make([]float32, 100)
	for i := range xs {
		xs[i] = float32(i + 1)
	}
	xs[3] = -1000
	if p := Percentile(xs, 99); p != 100 {
		t.Errorf("p99 = %v, want 100", p)
	}
	if p := Percentile(xs, 100); p != 1000 {
		t.Errorf("p100 = %v, want 1000", p)
	}
}

// goldenTrace is a fixed trace for the view tests.
func goldenTrace() *Trace {
	toks := []Token{{Pos: 0, ID: 1, Text: "", Special: true}, {Pos: 1, ID: 2, Text: "Lily"}, {Pos: 2, ID: 3, Text: " was"},
		{Pos: 3, ID: 4, Text: " sad"}, {Pos: 4, ID: 5, Text: ".\n"}, {Pos: 5, ID: 6, Text: "Then"}, {Pos: 6, ID: 7, Text: " happy"}}
	r := &Reader{Layer: 4, Emotions: []string{"sad", "happy"}, Kind: vecpack.Denoised}
	vals := [][]float32{{9, 0.1, 0.2, 2, 1, -0.5, -2}, {9, 0.1, 0, -2, -1, 0.5, 2}}
	scores := make([]Scores, len(toks))
	for t := range toks {
		scores[t] = Scores{Proj: []float32{vals[0][t], vals[1][t]}, Cos: []float32{0, 0}}
	}
	tr, err := BuildTrace(r, toks, scores, TraceOptions{Metric: Projection, TopK: 2})
	if err != nil {
		panic(err)
	}
	return tr
}

func TestTraceScaleAndTop(t *testing.T) {
	tr := goldenTrace()
	if tr.Scale != 2 {
		t.Errorf("scale = %v, want 2 (BOS excluded)", tr.Scale)
	}
	if got := tr.Tokens[3].Top[0].Emotion; got != "sad" {
		t.Errorf("top at ' sad' = %s", got)
	}
	if got := tr.Tokens[6].Top[0].Emotion; got != "happy" {
		t.Errorf("top at ' happy' = %s", got)
	}
	if _, err := BuildTrace(&Reader{Emotions: []string{"a"}}, goldenTrace().Tokens, nil, TraceOptions{}); err == nil {
		t.Error("mismatched scores accepted")
	}
}

// TestReaderLayers: negative layers count from the end of the model, as in
// steering and hook names; the best layer is asked for by name.
func TestReaderLayers(t *testing.T) {
	p := randomPack(3, 8, 4, 1) // best layer 2
	tests := []struct {
		in   string
		want int
	}{
		{"best", 2}, {"", 2}, {"-1", 3}, {"-4", 0}, {"1", 1}, {"-2", 2},
	}
	for _, tt := range tests {
		l, err := ParseLayer(tt.in)
		if err != nil {
			t.Errorf("ParseLayer(%q): %v", tt.in, err)
			continue
		}
		r, err := NewReader(p, l, nil, vecpack.Denoised)
		if err != nil || r.Layer != tt.want {
			t.Errorf("layer %q: reader at %v, %v; want layer %d", tt.in, r, err, tt.want)
			continue
		}
	}
	for _, in := range []string{"Best", "x", "1.5", "-2147483648"} {
		if l, err := ParseLayer(in); err == nil {
			t.Errorf("ParseLayer(%q) = %d, want an error", in, l)
		}
	}
	for _, l := range []int{-5, 4} {
		if _, err := NewReader(p, l, nil, vecpack.Denoised); err == nil {
			t.Errorf("NewReader at layer %d of 4: no error", l)
		}
	}
}

func TestPlainHasNoEscapes(t *testing.T) {
	var b bytes.Buffer
	if err := WritePlain(&b, goldenTrace(), []string{"sad"}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if strings.Contains(got, "\x1b") {
		t.Errorf("plain view has escape codes: %q", got)
	}
	// ' sad' has value 2 over the scale 2; 'Then' -0.5/2.
	for _, want := range []string{"Lily[+0.05]", " sad[+1.00]", "Then[-0.25]"} {
		if !strings.Contains(got, want) {
			t.Errorf("plain view %q lacks %q", got, want)
		}
	}
}

func TestANSIGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteANSI(&b, goldenTrace(), []string{"sad", "happy"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden.ansi")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("ANSI view differs from %s:\n got %q\nwant %q", path, b.String(), want)
	}
}

func TestHTMLSelfContained(t *testing.T) {
	var b bytes.Buffer
	tr := goldenTrace()
	tr.Tokens[2].Text = "</script><script>alert(1)</script>"
	if err := WriteHTML(&b, tr, "", "test"); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, bad := range []string{"http://", "https://", "src=", "<link", "@import", "<script>alert"} {
		if strings.Contains(s, bad) {
			t.Errorf("HTML contains %q", bad)
		}
	}
	if !strings.Contains(s, `"selected":"sad"`) && !strings.Contains(s, `"selected":"happy"`) {
		t.Error("no selected emotion in the data")
	}
}

// TestScanOnModel reads a text on the embedded model and checks the scores
// against activations captured independently.
func TestScanOnModel(t *testing.T) {
	testref.Stories15M(t)
	m, err := model.Load(context.Background(), model.Default, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := randomPack(7, m.Dim, m.Layers, 3)
	r, err := NewReader(p, 4, nil, vecpack.Denoised)
	if err != nil {
		t.Fatal(err)
	}
	ids := m.Tok.Encode("The dog was happy. Then it rained and he felt sad.", true)
	tr, err := Read(m.Transformer, m.Tok, ids, r, nil, TraceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.Capture(m.Transformer, ids, []string{"blocks.4.hook_resid_post"})
	if err != nil {
		t.Fatal(err)
	}
	d := m.Dim
	for pos := range ids {
		want := r.Score(c.Hooks[0].Data[pos*d : (pos+1)*d])
		for e := range r.Emotions {
			if tr.Proj[e][pos] != want.Proj[e] || tr.Z[e][pos] != want.Z[e] {
				t.Fatalf("pos %d emotion %d: %v/%v, want %v/%v", pos, e, tr.Proj[e][pos], tr.Z[e][pos], want.Proj[e], want.Z[e])
			}
		}
	}
	if tr.Metric != ZScore || len(tr.Tokens) != len(ids) || !tr.Tokens[0].Special {
		t.Errorf("trace metric %s, %d tokens, first special %v", tr.Metric, len(tr.Tokens), tr.Tokens[0].Special)
	}
	// A steering hook at the read layer changes the readout by the vector's projection.
	var hs hook.Set
	u, _ := p.Unit(4, r.Emotions[0], vecpack.Denoised)
	add := make([]float32, d)
	for i := range add {
		add[i] = 3 * u[i]
	}
	hs.Add(hook.Block(4, hook.ResidPost), hook.AddVector(add, nil))
	st, err := Read(m.Transformer, m.Tok, ids, r, &hs, TraceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := st.Proj[0][5] - tr.Proj[0][5]; !(math.Abs(float64(diff-3)) <= 1e-3) {
		t.Errorf("steering by 3·v̂ moved the projection by %g", diff)
	}
}

// BenchmarkDecodeReadout compares a decode step of the embedded model with
// and without reading 171 emotions at one layer: the goal is ≤ 2%.
func BenchmarkDecodeReadout(b *testing.B) {
	testref.Stories15M(b)
	m, err := model.Load(context.Background(), model.Default, model.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	p := randomPack(171, m.Dim, m.Layers, 5)
	r, _ := NewReader(p, 4, nil, vecpack.Denoised)
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "171emotions"
		}
		b.Run(name, func(b *testing.B) {
			var hs *hook.Set
			if on {
				hs = &hook.Set{}
				hs.Add(r.Point(), r.Hook(func(int, *Scores) {}))
			}
			req := model.Request{Prompt: []int{1, 500}, Max: 64, Hooks: hs}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := model.Generate(context.Background(), m.Transformer, []model.Request{req}, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/token")
		})
	}
}

// BenchmarkScore171 is the readout's own cost per token: 171 emotions at
// d = 288 (stories15M) and d = 576 (SmolLM-135M).
func BenchmarkScore171(b *testing.B) {
	for _, d := range []int{288, 576} {
		b.Run(fmt.Sprintf("d%d", d), func(b *testing.B) {
			p := randomPack(171, d, 2, 7)
			r, _ := NewReader(p, 0, nil, vecpack.Denoised)
			h := make([]float32, d)
			for i := range h {
				h[i] = float32(i%7) - 3
			}
			var s Scores
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.ScoreInto(h, &s)
			}
		})
	}
}

// TestHTMLGrid checks the emotions × tokens grid against the golden trace:
// " sad" (the third scored token) is full red in sad's row and full blue in
// happy's; an unknown grid emotion is an error.
func TestHTMLGrid(t *testing.T) {
	for _, tc := range []struct {
		grid       []string
		sadY, hapY string // rows' top edges
	}{
		{nil, "70.0", "83.0"},
		{[]string{"happy", "sad"}, "83.0", "70.0"},
	} {
		var b bytes.Buffer
		if err := WriteHTML(&b, goldenTrace(), "", "test", tc.grid...); err != nil {
			t.Fatal(err)
		}
		s := b.String()
		cell := func(fill, y string) bool {
			re := regexp.MustCompile(`<path fill="` + fill + `" d="([^"]*)"`)
			m := re.FindStringSubmatch(s)
			return m != nil && strings.Contains(m[1], "M138.0 "+y+"h")
		}
		if !cell("#ff3737", tc.sadY) {
			t.Errorf("grid %v: ' sad' in sad's row (y %s) is not full red", tc.grid, tc.sadY)
		}
		if !cell("#3737ff", tc.hapY) {
			t.Errorf("grid %v: ' sad' in happy's row (y %s) is not full blue", tc.grid, tc.hapY)
		}
		if !strings.Contains(s, `data-rows="2" data-cols="6"`) {
			t.Errorf("grid %v: want 2 rows and 6 columns (BOS left out)", tc.grid)
		}
		for _, tick := range []string{">-2<", ">-1<", ">0<", ">1<", ">2<"} {
			if !strings.Contains(s, `class="tick"`) || !strings.Contains(s, tick) {
				t.Errorf("colour bar lacks the number %s", tick)
			}
		}
	}
	if err := WriteHTML(&bytes.Buffer{}, goldenTrace(), "", "test", "sad", "joyful"); err == nil || !strings.Contains(err.Error(), "joyful") {
		t.Errorf("unknown grid emotion: error %v, want one naming it", err)
	}
}
