package curate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/science/vecpack"
)

// themes are planted emotions: stories written in one register. The first
// half of each list builds the vectors, the second half is the corpus.
var themes = map[string][]string{
	"calm": {
		"The sea was quiet. The little boat rocked slowly and the sun went down softly over the still water.",
		"Grandma sat by the window and knitted. The cat slept. Everything in the room was slow and quiet and warm.",
		"The snow fell softly on the sleeping town. The trees stood still and nobody made a sound.",
		"Sam lay in the soft grass and watched the clouds drift slowly by. He breathed in and out, slow and easy.",
		"The pond was still. A leaf floated slowly on the quiet water while the frog rested on a warm stone.",
		"The night was quiet and the moon was soft. The baby slept in her warm bed and did not make a sound.",
		"The old dog lay by the warm fire and slept. The room was quiet and the clock ticked slowly.",
		"The lake was calm and still. The birds rested in the quiet trees as the sun went down slowly.",
	},
	"angry": {
		"Max was so mad! He yelled and stomped his feet and threw his toy at the wall. \"No! No! No!\" he shouted.",
		"The big man shouted at the boys. \"Get out of my yard!\" he yelled, and his face was red with anger.",
		"Sara screamed at her brother. \"You broke my doll! I hate you!\" She hit the table hard.",
		"The king was furious. He banged his fist and roared at the guards. \"Who took my gold?\" he yelled.",
		"Tim kicked the door and shouted. \"That is mine! Give it back now!\" He was very, very mad.",
		"The farmer yelled at the fox. He shook his stick and shouted, \"Get away from my hens!\"",
		"Anna stomped her feet and screamed. \"I will not do it!\" she yelled, and she threw her shoe.",
		"The bear roared with anger and hit the tree. It was mad and it growled and shouted at the wolf.",
	},
	"happy": {
		"It was Lily's birthday party! Everyone laughed and sang and ate cake. Lily smiled and clapped her hands.",
		"The children danced and giggled in the sunshine. They played games and laughed all day long.",
		"Tom got a new puppy! He hugged it and laughed. \"I love you!\" he said, smiling from ear to ear.",
		"The family went to the fair. They rode the rides, ate candy and laughed and cheered together.",
		"Mia won a prize at school. She jumped up and down and laughed with joy. Her mom hugged her and smiled.",
		"The kids had a big party in the park. They sang and danced and laughed and played with balloons.",
		"Ben laughed and clapped when he saw the circus. The clown was so funny and everyone cheered.",
		"The friends played in the sun and giggled. They had ice cream and danced and sang happy songs.",
	},
}

var themeOrder = []string{"calm", "angry", "happy"}

// plantedPack builds a pack whose vector for each theme is the mean
// activation of its first four stories minus the mean over all twelve, at
// layer 3, with the neutral baseline the per-token projections over them.
func plantedPack(t *testing.T, m *model.Model) *vecpack.Pack {
	t.Helper()
	const layer = 3
	p := testpack.Random(testpack.Options{Emotions: themeOrder, D: m.Dim, Layers: m.Layers, Seed: 1, ModelID: m.Name, BestLayer: layer})
	pt := hook.Block(layer, hook.ResidPost).String()
	means := map[string][]float64{}
	all := make([]float64, m.Dim)
	var rows [][]float32
	for _, th := range themeOrder {
		sum, n := make([]float64, m.Dim), 0
		for _, s := range themes[th][:4] {
			c, err := model.Capture(m.Transformer, m.Tok.Encode(s, true), []string{pt})
			if err != nil {
				t.Fatal(err)
			}
			h := c.Hooks[0]
			for r := 1; r < h.Rows(); r++ {
				row := h.Data[r*m.Dim : (r+1)*m.Dim]
				rows = append(rows, row)
				for i, x := range row {
					sum[i] += float64(x)
				}
				n++
			}
		}
		for i := range sum {
			sum[i] /= float64(n)
			all[i] += sum[i] / float64(len(themeOrder))
		}
		means[th] = sum
	}
	L := &p.Layers[layer]
	L.Raw = make([]float32, len(themeOrder)*m.Dim)
	for e, th := range themeOrder {
		for i := range all {
			L.Raw[e*m.Dim+i] = float32(means[th][i] - all[i])
		}
	}
	L.Denoised = L.Raw
	for e := range themeOrder {
		u := L.Raw[e*m.Dim : (e+1)*m.Dim]
		var norm float64
		for _, x := range u {
			norm += float64(x) * float64(x)
		}
		norm = math.Sqrt(norm)
		var s, s2 float64
		for _, row := range rows {
			var d float64
			for i, x := range row {
				d += float64(x) * float64(u[i])
			}
			d /= norm
			s += d
			s2 += d * d
		}
		mean := s / float64(len(rows))
		L.NeutralMeanDenoised[e] = float32(mean)
		L.NeutralStdDenoised[e] = float32(math.Sqrt(s2/float64(len(rows)) - mean*mean))
	}
	L.NeutralMeanRaw, L.NeutralStdRaw = L.NeutralMeanDenoised, L.NeutralStdDenoised
	return p
}

// plantedCorpus is the held-out half of each theme, interleaved, with its
// planted theme in a "planted" field.
func plantedCorpus() string {
	var b strings.Builder
	for i := 4; i < 8; i++ {
		for _, th := range themeOrder {
			fmt.Fprintf(&b, "{\"planted\":%q,\"text\":%q}\n", th, themes[th][i])
		}
	}
	return b.String()
}

// Documents written to read high on one emotion are selected by an
// expression on it, and the others are not; the balance quota keeps at
// most N per dominant emotion, and the profiles count what they should.
func TestPlantedSelection(t *testing.T) {
	m := embedded(t)
	s, err := NewScorer(m, plantedPack(t, m), ScoreOptions{BestLayer: true, Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	var scoredBuf bytes.Buffer
	if _, err := s.Stream(context.Background(), strings.NewReader(plantedCorpus()), "planted.jsonl", &scoredBuf, 0, nil); err != nil {
		t.Fatal(err)
	}
	scored := scoredBuf.String()
	t.Logf("scored:\n%s", scored)
	for _, th := range themeOrder {
		var others []string
		for _, o := range themeOrder {
			if o != th {
				others = append(others, o+" < 0.5")
			}
		}
		src := th + " > 0.5 and " + strings.Join(others, " and ")
		e, err := ParseExpr(src)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		res, err := Select(strings.NewReader(scored), "scored.jsonl", &out, Selector{Expr: e})
		if err != nil {
			t.Fatal(err)
		}
		got := planted(t, out.String())
		if want := strings.Repeat(th+" ", 4); got != want {
			t.Errorf("%s: selected %q, want %q", src, got, want)
		}
		if res.Before.Docs != 12 || res.After.Docs != 4 {
			t.Errorf("%s: before %d, after %d documents; want 12, 4", src, res.Before.Docs, res.After.Docs)
		}
		for _, es := range res.After.Emotions {
			if es.Emotion == th && es.Dominant != 4 {
				t.Errorf("%s: after selection %s dominates %d documents, want 4", src, th, es.Dominant)
			}
		}
	}
	// Balance: every planted document is dominated by its theme, so a quota
	// of 2 keeps the first two of each.
	var out bytes.Buffer
	res, err := Select(strings.NewReader(scored), "scored.jsonl", &out, Selector{PerDominant: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planted(t, out.String()), "calm angry happy calm angry happy "; got != want {
		t.Errorf("dominant:2 kept %q, want %q", got, want)
	}
	for _, es := range res.Before.Emotions {
		if es.Dominant != 4 {
			t.Errorf("before: %s dominates %d documents, want 4", es.Emotion, es.Dominant)
		}
	}
}

// planted lists the planted field of each line.
func planted(t *testing.T, jsonl string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		if l == "" {
			continue
		}
		var d struct{ Planted string }
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		b.WriteString(d.Planted + " ")
	}
	return b.String()
}

func TestSelectErrors(t *testing.T) {
	e, _ := ParseExpr("calm > 1")
	for _, c := range []struct {
		in   string
		sel  Selector
		want string
	}{
		{"{\"text\":\"a\"}\n", Selector{}, `s.jsonl:1: no "limbic" scores`},
		{`{"limbic":{"cos":{"calm":1}}}` + "\n", Selector{Metric: MetricZ}, "s.jsonl:1: no z-scores"},
		{`{"limbic":{"cos":{"calm":1},"z":{"calm":1}}}` + "\nnot json\n", Selector{}, "s.jsonl:2:"},
		{`{"limbic":{"cos":{"sad":1},"z":{"sad":1}}}` + "\n", Selector{Expr: e}, `unknown emotion "calm"`},
		{`{"limbic":{"cos":{"calm":1},"z":{"calm":1}}}` + "\n" + `{"limbic":{"cos":{"sad":1},"z":{"sad":1}}}` + "\n", Selector{}, `s.jsonl:2: no score for "calm"`},
		{"\n", Selector{}, "no documents"},
		{"", Selector{Metric: "proj"}, `metric "proj"`},
	} {
		_, err := Select(strings.NewReader(c.in), "s.jsonl", nil, c.sel)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want one containing %q", c.in, err, c.want)
		}
	}
	for _, c := range []struct {
		in   string
		want int
	}{{"dominant:3", 3}, {" dominant:10 ", 10}, {"dominant:0", 0}, {"dominant:x", 0}, {"top:3", 0}} {
		got, err := ParseBalance(c.in)
		if got != c.want || (c.want == 0) != (err != nil) {
			t.Errorf("ParseBalance(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

// The table and the page show every emotion with its means before and
// after, and the page carries both charts.
func TestProfileReports(t *testing.T) {
	in := `{"limbic":{"tokens":3,"cos":{"calm":0.1,"sad":0},"z":{"calm":2,"sad":-1}}}
{"limbic":{"tokens":5,"cos":{"calm":0,"sad":0.2},"z":{"calm":-1,"sad":3}}}
{"limbic":{"tokens":4,"cos":{"calm":0.1,"sad":0},"z":{"calm":1,"sad":0}}}
`
	e, err := ParseExpr("calm > 0")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Select(strings.NewReader(in), "s.jsonl", nil, Selector{Expr: e})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"calm mean before", res.Before.Emotions[0].Mean, 2.0 / 3},
		{"sad mean before", res.Before.Emotions[1].Mean, 2.0 / 3},
		{"calm mean after", res.After.Emotions[0].Mean, 1.5},
		{"sad mean after", res.After.Emotions[1].Mean, -0.5},
		{"calm std after", res.After.Emotions[0].Std, math.Sqrt(0.5)},
		{"tokens after", float64(res.After.Tokens), 7},
		{"calm dominant after", float64(res.After.Emotions[0].Dominant), 2},
		{"sad dominant before", float64(res.Before.Emotions[1].Dominant), 1},
	} {
		if d := c.got - c.want; !(d*d <= 1e-8) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	var tb strings.Builder
	if err := WriteTable(&tb, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"calm", "+0.667", "+1.500", "+0.833", "sad", "-0.500", "documents", "tokens"} {
		if !strings.Contains(tb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tb.String())
		}
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, res, "t"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(page.String(), "<svg"); got != 2 {
		t.Errorf("page has %d charts, want 2", got)
	}
	if !strings.Contains(page.String(), "<code>calm &gt; 0</code>") {
		t.Errorf("page does not show the expression")
	}
}
