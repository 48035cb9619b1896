package contrast

import (
	"context"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/science/extract"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// planted is a fake model whose last-token activation at each layer is
// noise seeded by the text, plus strength[layer]·u when the text says
// "happy" and minus it when it says "sad".
type planted struct {
	d, layers int
	u         []float64 // unit
	strength  []float64 // per layer
	noise     float64
}

func (p planted) DModel() int    { return p.d }
func (p planted) NumLayers() int { return p.layers }

func (p planted) Residuals(ctx context.Context, texts []extract.Text, layers []int, visit func(i, layer int, rows []float32, textStart int) error) error {
	for i, t := range texts {
		T := 3 + len(t.Text)%4
		for _, l := range layers {
			h := fnv.New64a()
			h.Write([]byte(t.Text))
			rng := rand.New(rand.NewPCG(h.Sum64(), uint64(l)))
			rows := make([]float32, T*p.d)
			for j := range rows {
				rows[j] = float32(p.noise * rng.NormFloat64())
			}
			sign := 0.0
			switch {
			case strings.Contains(t.Text, "happy"):
				sign = 1
			case strings.Contains(t.Text, "sad"):
				sign = -1
			}
			for j := 0; j < p.d; j++ {
				rows[(T-1)*p.d+j] += float32(sign * p.strength[l] * p.u[j])
			}
			if err := visit(i, l, rows, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

func cosine(a []float32, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * b[i]
		aa += float64(a[i]) * float64(a[i])
		bb += b[i] * b[i]
	}
	return ab / math.Sqrt(aa*bb)
}

func TestTrainPlanted(t *testing.T) {
	const d = 48
	rng := rand.New(rand.NewPCG(1, 2))
	u := make([]float64, d)
	var n float64
	for j := range u {
		u[j] = rng.NormFloat64()
		n += u[j] * u[j]
	}
	for j := range u {
		u[j] /= math.Sqrt(n)
	}
	model := planted{d: d, layers: 3, u: u, strength: []float64{0, 0.3, 3}, noise: 0.1}
	var pairs []Pair
	for i := 0; i < 40; i++ {
		s := strings.Repeat("x", i)
		pairs = append(pairs, Pair{Positive: extract.Text{Text: "happy " + s}, Negative: extract.Text{Text: "sad " + s}})
	}
	for _, method := range []string{Mean, PCA} {
		t.Run(method, func(t *testing.T) {
			res, err := Train(context.Background(), model, pairs, Options{Name: "joy", Method: method, Batch: 6,
				Model: vecpack.ModelInfo{ID: "planted", DModel: d, NLayers: 3}})
			if err != nil {
				t.Fatal(err)
			}
			if res.BestLayer != 2 {
				t.Errorf("best layer %d, want 2 (the strongest plant)", res.BestLayer)
			}
			v, err := res.Pack.Vector(2, "joy", vecpack.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if c := cosine(v, u); !(c >= 0.99) {
				t.Errorf("cosine with the planted direction %.4f, want ≥ 0.99", c)
			}
			// the planted difference is 2·3 = 6 along u
			var proj float64
			for j := range v {
				proj += float64(v[j]) * u[j]
			}
			if !(math.Abs(proj-6) <= 0.1) {
				t.Errorf("projection on u %.3f, want 6 ± 0.1", proj)
			}
			sc := res.Scores[2]
			if !(sc.HeldOut >= 0.999) || !(sc.Train >= 0.999) {
				t.Errorf("layer 2 accuracy held-out %.3f train %.3f, want 1", sc.HeldOut, sc.Train)
			}
			// layer 0 has no signal: held-out accuracy near chance
			if h := res.Scores[0].HeldOut; !(h <= 0.8) {
				t.Errorf("layer 0 (no plant) held-out accuracy %.3f; want near chance", h)
			}
			if mrn, _ := res.Pack.MeanResidNorm(2); !(mrn > 0) {
				t.Errorf("mean residual norm %v", mrn)
			}
			if err := res.Pack.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// PCA's sign follows the pairs even when the plant points the other way.
func TestPCASign(t *testing.T) {
	diffs := [][]float64{{-2, 0.1}, {-3, -0.1}, {-2.5, 0}}
	dir := direction(diffs, PCA)
	if !(dir[0] < 0) {
		t.Errorf("direction %v: want it to point where the differences do (x < 0)", dir)
	}
	if acc, _ := score(diffs, dir); acc != 1 {
		t.Errorf("accuracy %v, want 1", acc)
	}
}

func TestReadPairs(t *testing.T) {
	in := `{"positive": "I am glad.", "negative": "I am upset."}

{"template": "You are {persona}. {suffix}", "positive": ["happy", "cheerful"], "negative": ["sad", "gloomy"], "suffixes": ["Today", "Then"]}
{"template": "A {persona} day", "positive": ["bright"], "negative": ["dark"]}
{"template": "Be {persona}.", "positive": ["calm"], "negative": ["desperate"], "suffixes": ["I"], "chat": true}
`
	chat := func(user, reply string) (string, error) { return "U:" + user + "|A:" + reply, nil }
	ps, err := ReadPairs(strings.NewReader(in), "p.jsonl", chat)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ pos, neg string }{
		{"I am glad.", "I am upset."},
		{"You are happy. Today", "You are sad. Today"},
		{"You are cheerful. Today", "You are gloomy. Today"},
		{"You are happy. Then", "You are sad. Then"},
		{"You are cheerful. Then", "You are gloomy. Then"},
		{"A bright day", "A dark day"},
		{"U:Be calm.|A:I", "U:Be desperate.|A:I"},
	}
	if len(ps) != len(want) {
		t.Fatalf("%d pairs, want %d: %+v", len(ps), len(want), ps)
	}
	for i, w := range want {
		if ps[i].Positive.Text != w.pos || ps[i].Negative.Text != w.neg {
			t.Errorf("pair %d: got (%q, %q), want (%q, %q)", i, ps[i].Positive.Text, ps[i].Negative.Text, w.pos, w.neg)
		}
	}
}

func TestReadPairsErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"positive": "a"}` + "\n" + `{"positive": "a", "negative": "b"}`, "p.jsonl:1:"},
		{`{"positive": "a", "negative": "b"}` + "\n" + `not json`, "p.jsonl:2: not a pair object"},
		{`{"positive": "a", "negatve": "b"}`, "unknown field"},
		{`{"template": "{persona}", "positive": ["a"], "negative": ["b", "c"]}`, "same number"},
		{`{"template": "no slot", "positive": ["a"], "negative": ["b"]}`, "{persona}"},
		{`{"template": "{persona}", "positive": ["a"], "negative": ["b"], "chat": true}`, "chat template"},
		{`{"positive": "a", "negative": "b"}`, "at least 2"},
		{``, "at least 2"},
	} {
		_, err := ReadPairs(strings.NewReader(c.in), "p.jsonl", nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want it to contain %q", c.in, err, c.want)
		}
	}
}

func TestTrainErrors(t *testing.T) {
	m := planted{d: 4, layers: 2, u: []float64{1, 0, 0, 0}, strength: []float64{1, 1}}
	ps := []Pair{{extract.Text{Text: "happy"}, extract.Text{Text: "sad"}}, {extract.Text{Text: "happy a"}, extract.Text{Text: "sad a"}}}
	for _, o := range []Options{{}, {Name: "x", Method: "svm"}, {Name: "x", Layers: []int{2}}, {Name: "x", Layers: []int{-1}}} {
		if _, err := Train(context.Background(), m, ps, o); err == nil {
			t.Errorf("options %+v: no error", o)
		}
	}
}

func FuzzReadPairs(f *testing.F) {
	f.Add(`{"positive": "a", "negative": "b"}` + "\n" + `{"template": "{persona} {suffix}", "positive": ["x"], "negative": ["y"], "suffixes": ["s"]}`)
	f.Add(`{"template": "{persona}", "positive": [], "negative": []}`)
	f.Fuzz(func(t *testing.T, in string) {
		chat := func(u, r string) (string, error) { return u + r, nil }
		ps, err := ReadPairs(strings.NewReader(in), "f", chat)
		if err == nil && len(ps) < 2 {
			t.Fatalf("%d pairs accepted", len(ps))
		}
	})
}

func TestBuiltin(t *testing.T) {
	names := Builtin()
	if len(names) < 2 {
		t.Fatalf("builtin pair sets: %v", names)
	}
	for _, n := range names {
		ps, err := ReadBuiltin(n, nil)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if len(ps) < 100 {
			t.Errorf("%s: %d pairs, want at least 100", n, len(ps))
		}
	}
	if _, err := ReadBuiltin("nope", nil); err == nil || !strings.Contains(err.Error(), "happy-sad") {
		t.Errorf("unknown set: %v", err)
	}
}
