package data

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/tokenizer"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/internal/testref"
)

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name, in, want string
	}{
		{"not json", "{\"text\": \"a\"}\n{oops\n", "f.jsonl:2: invalid JSON"},
		{"array line", "[1]\n", "f.jsonl:1: not a JSON object"},
		{"neither", "\n\n{\"prompt\": \"x\"}\n", `f.jsonl:3: neither "text" nor "messages"`},
		{"both", `{"text": "a", "messages": []}`, `f.jsonl:1: both "text" and "messages"`},
		{"text number", `{"text": 3}`, `"text" must be a string, not a number`},
		{"empty text", `{"text": ""}`, `"text" is empty`},
		{"messages object", `{"messages": {}}`, `"messages" must be an array, not an object`},
		{"no messages", `{"messages": []}`, `"messages" is empty`},
		{"message string", `{"messages": ["hi"]}`, `messages[0] must be an object`},
		{"no role", `{"messages": [{"content": "hi"}]}`, `messages[0]: "role" must be a non-empty string`},
		{"null content", `{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": null}]}`, `messages[1]: "content" must be a string`},
		{"nothing", "\n  \n", "f.jsonl: no records"},
	} {
		_, err := Parse("f.jsonl", strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	recs, err := Parse("f.jsonl", strings.NewReader("{\"text\": \"once\", \"id\": 7}\n\n{\"messages\": [{\"role\": \"user\", \"content\": \"\"}]}"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Text != "once" || recs[1].Line != 3 || len(recs[1].Messages) != 1 || recs[1].Where() != "f.jsonl:3" {
		t.Errorf("got %+v", recs)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"text": "a"}` + "\n" + `{"messages": [{"role": "user", "content": "b"}]}`))
	f.Add([]byte(`{"messages": [{"role": "", "content": 1}]}`))
	f.Add([]byte("\n\n{\"text\": null}\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := Parse("fuzz.jsonl", strings.NewReader(string(b)))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.jsonl") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, r := range recs {
			if (r.Text == "") == (r.Messages == nil) || r.Line < 1 {
				t.Fatalf("record %+v: want exactly one of text and messages", r)
			}
			for _, m := range r.Messages {
				if m.Role == "" {
					t.Fatalf("record %+v: empty role", r)
				}
			}
		}
	})
}

func stories15MTokenizer(t *testing.T) *tokenizer.Tokenizer {
	tk, err := tokenizer.LoadLlama2C(filepath.Join(testref.Stories15M(t), "tokenizer.bin"), 32000)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestEncodeText(t *testing.T) {
	tk := stories15MTokenizer(t)
	e, err := NewEncoder(tk)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := e.Encode(Record{File: "f", Line: 1, Text: "Once upon a time"})
	if err != nil {
		t.Fatal(err)
	}
	if want := tk.Encode("Once upon a time", true); !slices.Equal(ex.Tokens, want) {
		t.Errorf("tokens %v, want %v", ex.Tokens, want)
	}
	if slices.Contains(ex.Loss, false) || len(ex.Loss) != len(ex.Tokens) {
		t.Errorf("loss mask %v: want every token", ex.Loss)
	}
	e.AppendEOS = true
	ex, _ = e.Encode(Record{File: "f", Line: 1, Text: "Once"})
	if ex.Tokens[len(ex.Tokens)-1] != tk.EOS() || !ex.Loss[len(ex.Loss)-1] {
		t.Errorf("AppendEOS: tokens %v loss %v", ex.Tokens, ex.Loss)
	}
}

// spans decodes the runs of tokens with loss.
func spans(tk *tokenizer.Tokenizer, ex Example) []string {
	var out []string
	for i := 0; i < len(ex.Tokens); {
		if !ex.Loss[i] {
			i++
			continue
		}
		j := i
		for j < len(ex.Tokens) && ex.Loss[j] {
			j++
		}
		out = append(out, tk.Decode(ex.Tokens[i:j]))
		i = j
	}
	return out
}

func TestEncodeMessages(t *testing.T) {
	msgs := []chat.Message{
		{Role: "system", Content: "Be kind."},
		{Role: "user", Content: "Tell me a story."},
		{Role: "assistant", Content: "Once upon a time, a cat sat."},
		{Role: "user", Content: "How does the cat feel?"},
		{Role: "assistant", Content: "The cat feels calm."},
	}
	for _, c := range []struct {
		name, template string
		want           []string
	}{
		{"plain", "", []string{" Once upon a time, a cat sat.\n", " The cat feels calm.\n"}},
		{"human/assistant", "{% for m in messages %}{% if m['role'] == 'user' %}Human: {{ m['content'] }}\n\n{% elif m['role'] == 'assistant' %}Assistant: {{ m['content'] }}\n\n{% endif %}{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}",
			[]string{" Once upon a time, a cat sat.\n\n", " The cat feels calm.\n\n"}},
	} {
		tk := stories15MTokenizer(t)
		tk.SetChatTemplate(c.template)
		e, err := NewEncoder(tk)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := e.Encode(Record{File: "f", Line: 4, Messages: msgs})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		whole, _ := chat.Encode(tk, msgs, false)
		if !slices.Equal(ex.Tokens, whole) {
			t.Errorf("%s: tokens differ from chat.Encode's", c.name)
		}
		// Decoding trims a leading space only at the start of a text.
		got := spans(tk, ex)
		for i := range got {
			got[i] = strings.TrimLeft(got[i], " ")
		}
		want := slices.Clone(c.want)
		for i := range want {
			want[i] = strings.TrimLeft(want[i], " ")
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: loss on %q, want %q", c.name, got, want)
		}
	}
	tk := stories15MTokenizer(t)
	e, _ := NewEncoder(tk)
	if _, err := e.Encode(Record{File: "d.jsonl", Line: 9, Messages: msgs[:2]}); err == nil || !strings.Contains(err.Error(), "d.jsonl:9: no assistant tokens") {
		t.Errorf("no assistant message: %v", err)
	}
	tk.SetChatTemplate("{% for m in messages|reverse %}{{ m['content'] }}{% endfor %}")
	e, _ = NewEncoder(tk)
	if _, err := e.Encode(Record{File: "d.jsonl", Line: 2, Messages: msgs}); err == nil || !strings.Contains(err.Error(), "d.jsonl:2: messages[2]: the chat template does not render") {
		t.Errorf("template that reorders: %v", err)
	}
}

func TestPack(t *testing.T) {
	exs := []Example{
		{Tokens: []int{1, 10, 11, 12}, Loss: []bool{true, true, true, true}},
		{Tokens: []int{1, 20, 21, 22, 23}, Loss: []bool{false, false, true, true, false}},
		{Tokens: []int{1, 30}, Loss: []bool{true, true}},
	}
	rows, err := Pack(exs, 4)
	if err != nil {
		t.Fatal(err)
	}
	// stream: 1 10 11 12 1 20 21 22 23 1 30; rows of 5 overlapping by one.
	want := [][]int{{1, 10, 11, 12, 1}, {1, 20, 21, 22, 23}, {23, 1, 30}}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		if !slices.Equal(rows[i].Tokens, want[i]) {
			t.Errorf("row %d: %v, want %v", i, rows[i].Tokens, want[i])
		}
	}
	bs := Batches(rows, 2)
	if len(bs) != 2 || len(bs[0].Inputs) != 2 || len(bs[1].Inputs) != 1 {
		t.Fatalf("batches: %+v", bs)
	}
	if got, want := bs[0].Targets[1], []int{-1, 21, 22, -1}; !slices.Equal(got, want) {
		t.Errorf("targets of row 1: %v, want %v", got, want)
	}
	if got, want := bs[0].Inputs[1], []int{1, 20, 21, 22}; !slices.Equal(got, want) {
		t.Errorf("inputs of row 1: %v, want %v", got, want)
	}
	// Every loss token after the first is a target exactly once.
	n := 0
	for _, b := range bs {
		n += b.Count()
	}
	if n != 7 { // tokens 10 11 12, 21 22, 1 30
		t.Errorf("%d targets, want 7", n)
	}
	if _, err := Pack(exs, 0); err == nil {
		t.Error("sequence length 0: no error")
	}
}

func TestSetShufflesPerEpoch(t *testing.T) {
	var rows []Row
	for i := range 10 {
		rows = append(rows, Row{Tokens: []int{i, i}, Loss: []bool{true, true}})
	}
	s, err := NewSet(rows, 2, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	epoch := func(s *Set, e int) []int {
		var seen []int
		for step := e * 5; step < e*5+5; step++ {
			b, err := s.Batch(step, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range b.Inputs {
				seen = append(seen, r[0])
			}
		}
		return seen
	}
	e0, e1 := epoch(s, 0), epoch(s, 1)
	for _, e := range [][]int{e0, e1} {
		if got := slices.Sorted(slices.Values(e)); !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("an epoch saw %v, want every row once", e)
		}
	}
	if slices.Equal(e0, e1) {
		t.Errorf("epochs 0 and 1 in the same order %v", e0)
	}
	// A fresh Set asked for epoch 1 first gives the same batches.
	s2, _ := NewSet(rows, 2, 1, 5)
	if got := epoch(s2, 1); !slices.Equal(got, e1) {
		t.Errorf("epoch 1 from a fresh set: %v, want %v", got, e1)
	}
	s3, _ := NewSet(rows, 2, 1, 6)
	if slices.Equal(epoch(s3, 0), e0) {
		t.Error("seeds 5 and 6 give the same order")
	}
	if got := s.StepsFor(2); got != 10 {
		t.Errorf("StepsFor(2) = %d, want 10", got)
	}
	if got := s.Epoch(7); got != 1.4 {
		t.Errorf("Epoch(7) = %v, want 1.4", got)
	}
}

func TestSplit(t *testing.T) {
	var exs []Example
	for i := range 20 {
		exs = append(exs, Example{Tokens: []int{i}})
	}
	tr, va, err := Split(exs, 0.1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 18 || len(va) != 2 {
		t.Fatalf("split 0.1 of 20: %d/%d, want 18/2", len(tr), len(va))
	}
	tr2, va2, _ := Split(exs, 0.1, 3)
	if va2[0].Tokens[0] != va[0].Tokens[0] || va2[1].Tokens[0] != va[1].Tokens[0] || len(tr2) != 18 {
		t.Error("the same seed gave another split")
	}
	seen := map[int]bool{}
	for _, e := range append(tr, va...) {
		seen[e.Tokens[0]] = true
	}
	if len(seen) != 20 {
		t.Errorf("train and validation cover %d of 20 examples", len(seen))
	}
	if _, va, _ := Split(exs, 5, 3); len(va) != 5 {
		t.Errorf("count 5: %d held out", len(va))
	}
	for _, bad := range []float64{-0.1, 20, 2.5} {
		if _, _, err := Split(exs, bad, 3); err == nil {
			t.Errorf("split %v: no error", bad)
		}
	}
}
