package curate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/internal/testref"
	"github.com/limbic-dev/limbic/science/vecpack"
)

var (
	onceModel sync.Once
	stories   *model.Model
	loadErr   error
)

func embedded(t testing.TB) *model.Model {
	t.Helper()
	testref.Stories15M(t)
	onceModel.Do(func() { stories, loadErr = model.Load(context.Background(), model.Default, model.LoadOptions{}) })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return stories
}

func randomPack(m *model.Model) *vecpack.Pack {
	return testpack.Random(testpack.Options{Emotions: []string{"calm", "happy", "sad", "scared"}, D: m.Dim, Layers: m.Layers, Seed: 3, ModelID: m.Name, BestLayer: 3})
}

// corpus is a small mixed corpus: texts, a conversation, a blank line and a
// text longer than one prefill chunk.
func corpus() string {
	var b strings.Builder
	texts := []string{
		"Tom built a tall tower of blocks. It fell down. Tom smiled and built it again.",
		"Lily lost the race. She cried and cried and would not stop.",
		"The cat sat in the sun.",
		"Mia could not make the puzzle fit. She took a deep breath and tried another piece.",
		"Ben shouted at his brother because the kite was broken.",
	}
	for i, s := range texts {
		fmt.Fprintf(&b, "{\"id\":%d,\"text\":%q}\n", i, s)
		if i == 2 {
			b.WriteString("\n")
			b.WriteString(`{"messages":[{"role":"user","content":"How was the party?"},{"role":"assistant","content":"It was fun! We danced."}],"id":"chat"}` + "\n")
		}
	}
	fmt.Fprintf(&b, "{\"text\":%q}\n", strings.Repeat("Once upon a time there was a little dog who liked to run. ", 50))
	b.WriteString(`{"text":"The end."}` + "\n")
	return b.String()
}

func score(t *testing.T, s *Scorer, in string, oneByte bool, after int) (string, Stats) {
	t.Helper()
	var r = bytes.NewReader([]byte(in))
	var out bytes.Buffer
	var st Stats
	var err error
	if oneByte {
		st, err = s.Stream(context.Background(), iotest.OneByteReader(r), "corpus.jsonl", &out, after, nil)
	} else {
		st, err = s.Stream(context.Background(), r, "corpus.jsonl", &out, after, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), st
}

// A corpus streamed a byte at a time in batches of 2 documents gives the
// same bytes as one pass with every document in one batch.
func TestStreamChunkedEqualsOnePass(t *testing.T) {
	m := embedded(t)
	p := randomPack(m)
	whole, err := NewScorer(m, p, ScoreOptions{BestLayer: true, Batch: 64})
	if err != nil {
		t.Fatal(err)
	}
	chunked, err := NewScorer(m, p, ScoreOptions{BestLayer: true, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	in := corpus()
	want, st := score(t, whole, in, false, 0)
	got, _ := score(t, chunked, in, true, 0)
	if got != want {
		t.Errorf("chunked output differs from one pass:\n got %s\nwant %s", got, want)
	}
	if st.Docs != 8 || st.Skipped != 1 {
		t.Errorf("docs %d, skipped %d; want 8, 1", st.Docs, st.Skipped)
	}
	lines := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	if len(lines) != 8 {
		t.Fatalf("%d output lines, want 8", len(lines))
	}
	// Each line is the original object with the readout beside it.
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(lines[0], `{"id":0,"text":"Tom built`) {
		t.Errorf("line 1 %q does not keep the original object first", lines[0][:40])
	}
	sc := first[Key].(map[string]any)
	if got, want := sc["layer"], float64(3); got != want {
		t.Errorf("layer %v, want %v", got, want)
	}
	if got, want := sc["line"], float64(1); got != want {
		t.Errorf("line %v, want %v", got, want)
	}
	if z := sc["z"].(map[string]any); len(z) != 4 {
		t.Errorf("z has %d emotions, want 4", len(z))
	}
}

// The scores are the mean of the per-token readouts over the document's
// tokens after BOS: check one document against readout.Scan.
func TestScoresAreTokenMeans(t *testing.T) {
	m := embedded(t)
	p := randomPack(m)
	s, err := NewScorer(m, p, ScoreOptions{BestLayer: true})
	if err != nil {
		t.Fatal(err)
	}
	text := "Tom built a tall tower of blocks. It fell down."
	got, err := s.ScoreDocs(context.Background(), []string{text}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := m.Tok.Encode(text, true)
	if got[0].Tokens != len(ids)-1 {
		t.Errorf("tokens %d, want %d (all but BOS)", got[0].Tokens, len(ids)-1)
	}
	want := meanReadout(t, m, s, ids, 1)
	for i, e := range s.Emotions() {
		if d := got[0].Z[e] - want[i]; !(d*d <= 1e-8) {
			t.Errorf("%s: z %v, want %v", e, got[0].Z[e], want[i])
		}
	}
}

// A conversation is read over its assistant turns only.
func TestChatReadsAssistantTurns(t *testing.T) {
	m := embedded(t)
	s, err := NewScorer(m, randomPack(m), ScoreOptions{BestLayer: true})
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(`{"messages":[{"role":"user","content":"Hi there, tell me about your day please."},{"role":"assistant","content":"It was fun."}]}`)
	it, err := s.parse(raw, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(it.spans) != 1 {
		t.Fatalf("%d spans, want 1", len(it.spans))
	}
	sp := it.spans[0]
	got := m.Tok.Decode(it.ids[sp[0]:sp[1]])
	if strings.TrimSpace(got) != "It was fun." {
		t.Errorf("assistant span decodes to %q, want %q", got, "It was fun.")
	}
}

// An interrupted output, cut in the middle of a line, resumes to the same
// bytes as an uninterrupted run, and the final file appears only at the end.
func TestResumeEqualsUninterrupted(t *testing.T) {
	m := embedded(t)
	s, err := NewScorer(m, randomPack(m), ScoreOptions{BestLayer: true, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(corpus()), 0o644); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "full.jsonl")
	if _, _, err := s.ScoreFile(context.Background(), in, full, false, nil); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{0, 17, bytes.IndexByte(want, '\n') + 1, len(want) / 2, len(want) - 5} {
		out := filepath.Join(dir, fmt.Sprintf("out%d.jsonl", cut))
		if err := os.WriteFile(out+PartialSuffix, want[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		st, reused, err := s.ScoreFile(context.Background(), in, out, false, nil)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if reused {
			t.Errorf("cut %d: reported reused", cut)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("cut %d: resumed output differs:\n got %s\nwant %s", cut, got, want)
		}
		complete := bytes.Count(want[:cut], []byte("\n"))
		if st.Docs != 8-complete {
			t.Errorf("cut %d: scored %d documents, want %d", cut, st.Docs, 8-complete)
		}
		if _, err := os.Stat(out + PartialSuffix); err == nil {
			t.Errorf("cut %d: the partial file is left behind", cut)
		}
	}
	// A partial scored with another layer is refused, not mixed.
	other, err := NewScorer(m, randomPack(m), ScoreOptions{Layer: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "mixed.jsonl")
	if err := os.WriteFile(out+PartialSuffix, want[:bytes.IndexByte(want, '\n')+1], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.ScoreFile(context.Background(), in, out, false, nil); err == nil || !strings.Contains(err.Error(), "layer 3") {
		t.Errorf("resuming with another layer: err %v, want one naming layer 3", err)
	}
}

// Malformed lines are errors naming the file and line.
func TestMalformedLines(t *testing.T) {
	m := embedded(t)
	s, err := NewScorer(m, randomPack(m), ScoreOptions{BestLayer: true})
	if err != nil {
		t.Fatal(err)
	}
	good := `{"text":"The cat sat."}` + "\n"
	for _, c := range []struct{ line, want string }{
		{`{"text": "unterminated}`, "corpus.jsonl:3:"},
		{`["text"]`, "corpus.jsonl:3: want a JSON object"},
		{`{"body":"x"}`, `corpus.jsonl:3: want a "text" string`},
		{`{"text":"a","messages":[]}`, `corpus.jsonl:3: both`},
		{`{"messages":[{"role":"user","content":"hi"}]}`, "corpus.jsonl:3: the conversation has no assistant turn"},
		{`{"messages":[{"role":"","content":"hi"}]}`, "corpus.jsonl:3: message 0 has no role"},
		{`{"text":""}`, "corpus.jsonl:3: no tokens"},
		{`{"text":12}`, "corpus.jsonl:3:"},
	} {
		in := good + good + c.line + "\n" + good
		_, err := s.Stream(context.Background(), strings.NewReader(in), "corpus.jsonl", &bytes.Buffer{}, 0, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one containing %q", c.line, err, c.want)
		}
	}
}
