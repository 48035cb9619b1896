package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCurate(t *testing.T) {
	pack := writeTestPack(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "corpus.jsonl")
	var b strings.Builder
	for _, s := range []string{"Tom smiled at the sun.", "Lily lost her red ball and cried.", "The dog barked at the cat.", "Mia built a tower and it fell."} {
		b.WriteString(`{"text":"` + s + `"}` + "\n")
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "r.html")
	out := limbic(t, "curate", in, "--vectors", pack, "--select", "calm > -1000 and not sad > 1000", "--report", report, "--json", "-q")
	var sum struct {
		Scored, Selected string
		Layer            int
		Selection        struct {
			Before, After struct{ Docs int }
		}
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got, want := sum.Scored, filepath.Join(dir, "corpus.scored.jsonl"); got != want {
		t.Errorf("scored %s, want %s", got, want)
	}
	if sum.Layer != 4 || sum.Selection.Before.Docs != 4 || sum.Selection.After.Docs != 4 {
		t.Errorf("layer %d, docs %d → %d; want 4, 4 → 4", sum.Layer, sum.Selection.Before.Docs, sum.Selection.After.Docs)
	}
	for _, p := range []string{sum.Scored, sum.Selected, report} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	// Selecting again from the scored file needs no model; an impossible
	// expression keeps nothing.
	table := limbic(t, "curate", sum.Scored, "--scored", "--select", "calm > 1000", "--selected", filepath.Join(dir, "none.jsonl"), "-q")
	if !strings.Contains(table, "documents") || !strings.Contains(table, "calm") {
		t.Errorf("table:\n%s", table)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "none.jsonl")); err != nil || len(b) != 0 {
		t.Errorf("none.jsonl: %q, %v; want empty", b, err)
	}
	// A malformed line is named by file and line.
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(`{"text":"ok"}`+"\n"+`{"txt":"x"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "curate", bad, "--vectors", pack, "-q")
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), bad+`:2: want a "text" string`) {
		t.Errorf("bad corpus: %v, %s", err, msg)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.scored.jsonl")); err == nil {
		t.Errorf("a failed run left a final output")
	}
}

// TestCurateShards scores a corpus in 1, 2, 3 and 7 shards, each its own
// process, and checks that --merge gives the one-process output byte for
// byte; a merge with a shard missing fails naming it.
func TestCurateShards(t *testing.T) {
	pack := writeTestPack(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "corpus.jsonl")
	var b strings.Builder
	for i := 0; i < 11; i++ {
		if i == 5 {
			b.WriteString("\n") // a blank line inside a shard's block
		}
		fmt.Fprintf(&b, `{"text":"Tom had %d red balls and one of them rolled away.","id":%d}`+"\n", i+1, i)
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(dir, "one.jsonl")
	limbic(t, "curate", in, "--vectors", pack, "-o", one, "-q", "--batch", "3")
	want, err := os.ReadFile(one)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 3, 7} {
		out := filepath.Join(dir, fmt.Sprintf("n%d.jsonl", n))
		for i := 0; i < n; i++ {
			limbic(t, "curate", in, "--vectors", pack, "-o", out, "-q", "--batch", "3", "--shard", fmt.Sprintf("%d/%d", i, n))
		}
		if n > 1 {
			if _, err := os.Stat(out); err == nil {
				t.Fatalf("%d shards: %s written before the merge", n, out)
			}
		}
		limbic(t, "curate", in, "--vectors", pack, "-o", out, "-q", "--merge")
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%d shards merged differ from one process:\n%s\nwant:\n%s", n, got, want)
		}
	}
	// Shard 1 of 3 removed: the merge names it.
	out := filepath.Join(dir, "n3.jsonl")
	os.Remove(out)
	os.Remove(filepath.Join(dir, "n3.shard-1-of-3.jsonl"))
	cmd := exec.Command(bin, "curate", in, "--vectors", pack, "-o", out, "-q", "--merge")
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "shards 1 of 3") {
		t.Errorf("merge with shard 1 missing: %v\n%s", err, msg)
	}
}
