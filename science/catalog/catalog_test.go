package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestEmbeddedCounts(t *testing.T) {
	tests := []struct {
		name      string
		got, want int
	}{
		{"emotions", len(Emotions()), 171},
		{"topics", len(Topics()), 100},
		{"clusters", len(Clusters()), 10},
		{"activities", len(Activities()), 64},
		{"posttrain diffs", len(PostTrainDiffs()), 171},
		{"core", len(Core()), 16},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	if n := len(ChildTopics()); n < 25 {
		t.Errorf("child topics: got %d, want at least 25", n)
	}
	for _, topic := range append(ChildTopics(), ChildNeutralTopics()...) {
		if !strings.Contains(topic, "{name}") {
			t.Errorf("child topic %q lacks {name}", topic)
		}
	}
}

func TestClusters(t *testing.T) {
	wantSizes := []int{20, 9, 15, 9, 2, 15, 3, 25, 41, 32}
	cs := Clusters()
	total := 0
	for i, c := range cs {
		if c.Rank != i {
			t.Errorf("cluster %q: rank %d, want %d", c.Name, c.Rank, i)
		}
		wantV := 1
		if i >= 5 {
			wantV = -1
		}
		if c.Valence != wantV {
			t.Errorf("cluster %q: valence %d, want %d", c.Name, c.Valence, wantV)
		}
		if len(c.Emotions) != wantSizes[i] {
			t.Errorf("cluster %q: %d members, want %d", c.Name, len(c.Emotions), wantSizes[i])
		}
		total += len(c.Emotions)
	}
	if total != 171 {
		t.Errorf("clusters cover %d emotions, want 171", total)
	}
	if cs[0].Name != "Exuberant Joy" || cs[4].Name != "Playful Amusement" || cs[9].Name != "Despair and Shame" {
		t.Errorf("cluster order: %q, %q, %q", cs[0].Name, cs[4].Name, cs[9].Name)
	}
}

func TestCoreValence(t *testing.T) {
	want := map[string]int{
		"happy": 1, "excited": 1, "calm": 1, "grateful": 1, "proud": 1,
		"sad": -1, "angry": -1, "scared": -1, "surprised": -1, "lonely": -1, "nervous": -1,
		"jealous": -1, "bored": -1, "embarrassed": -1, "frustrated": -1, "worried": -1,
	}
	for _, c := range Core() {
		if c.Valence != want[c.Name] {
			t.Errorf("%s: valence %d, want %d", c.Name, c.Valence, want[c.Name])
		}
		if c.Paper != c.Name || !IsPaperEmotion(c.Paper) {
			t.Errorf("%s: paper word %q", c.Name, c.Paper)
		}
		cl, ok := ClusterOf(c.Name)
		if !ok || cl.Name != c.Cluster || cl.Rank != c.ClusterRank {
			t.Errorf("%s: cluster %q rank %d, ClusterOf gives %q rank %d", c.Name, c.Cluster, c.ClusterRank, cl.Name, cl.Rank)
		}
	}
	if !IsCore("Happy") || IsCore("blissful") {
		t.Error("IsCore")
	}
}

func TestAccessorsReturnCopies(t *testing.T) {
	e := Emotions()
	e[0] = "changed"
	if Emotions()[0] != "afraid" {
		t.Error("Emotions shares its backing array")
	}
	c := Clusters()
	c[0].Emotions[0] = "changed"
	if Clusters()[0].Emotions[0] != "blissful" {
		t.Error("Clusters shares member slices")
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"happy\nsad\n", []string{"happy", "sad"}, ""},
		{"# header\n\n  happy  \r\nsad # trailing\nworn out", []string{"happy", "sad", "worn out"}, ""},
		{"c#\n", []string{"c#"}, ""},
		{"", nil, ""},
		{"a\nb\na\n", nil, `line 3: "a" repeats line 1`},
		{"a\x00b\n", nil, "control character"},
		{"\xff\n", nil, "UTF-8"},
	}
	for _, tt := range tests {
		got, err := ParseList(strings.NewReader(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseList(%q): err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseList(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCheckEmotions(t *testing.T) {
	if err := CheckEmotions(CoreNames()); err != nil {
		t.Fatal(err)
	}
	if err := CheckEmotions(Emotions()); err != nil {
		t.Fatal(err)
	}
	err := CheckEmotions([]string{"happy", "hapy", "joyous", "xyzzy"})
	var ue *UnknownError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want *UnknownError", err)
	}
	if want := []string{"hapy", "joyous", "xyzzy"}; !reflect.DeepEqual(ue.Unknown, want) {
		t.Errorf("unknown = %q, want %q", ue.Unknown, want)
	}
	if s := ue.Suggestions["hapy"]; len(s) == 0 || s[0] != "happy" {
		t.Errorf("suggestions for hapy = %q, want happy first", s)
	}
	if s := ue.Suggestions["joyous"]; len(s) == 0 || s[0] != "joyful" {
		t.Errorf("suggestions for joyous = %q, want joyful first", s)
	}
	msg := err.Error()
	for _, want := range []string{`"hapy" (did you mean happy`, `"xyzzy"`, "3 unknown emotion"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if err := CheckEmotions([]string{"sad", "sad"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate: %v", err)
	}
	if err := CheckEmotions(nil); err == nil {
		t.Error("empty list accepted")
	}
}

func TestNormalizeEmotion(t *testing.T) {
	tests := map[string]string{"  Worn_Out ": "worn out", "AT   EASE": "at ease", "Self-Conscious": "self-conscious"}
	for in, want := range tests {
		if got := NormalizeEmotion(in); got != want {
			t.Errorf("NormalizeEmotion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadEmotions(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("# mine\nHappy\nworn_out\n"), 0o644)
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("happy\nglad\n"), 0o644)
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("# nothing\n"), 0o644)

	if got, err := LoadEmotions(good, false); err != nil || !reflect.DeepEqual(got, []string{"happy", "worn out"}) {
		t.Errorf("good: %q, %v", got, err)
	}
	if _, err := LoadEmotions(bad, false); err == nil || !strings.Contains(err.Error(), `"glad"`) {
		t.Errorf("bad: %v", err)
	}
	if got, err := LoadEmotions(bad, true); err != nil || len(got) != 2 {
		t.Errorf("bad, custom allowed: %q, %v", got, err)
	}
	if _, err := LoadEmotions(empty, false); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty: %v", err)
	}
	if got, err := LoadEmotions("core", false); err != nil || len(got) != 16 {
		t.Errorf("core: %d, %v", len(got), err)
	}
	if _, err := LoadEmotions(filepath.Join(dir, "missing"), false); err == nil {
		t.Error("missing file accepted")
	}
}

func FuzzParseList(f *testing.F) {
	f.Add("happy\nsad # c\n\n#x\n")
	f.Add("a\r\nb\r\n")
	f.Add("\xff")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseList(strings.NewReader(in))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, e := range got {
			if e == "" || strings.TrimSpace(e) != e || strings.ContainsAny(e, "\n\r") {
				t.Fatalf("bad entry %q", e)
			}
			if seen[e] {
				t.Fatalf("duplicate %q", e)
			}
			seen[e] = true
		}
	})
}

func TestLoadTopics(t *testing.T) {
	for arg, want := range map[string]int{"paper": 100, "children": len(ChildTopics()), "children-neutral": len(ChildNeutralTopics())} {
		if got, err := LoadTopics(arg); err != nil || len(got) != want {
			t.Errorf("LoadTopics(%q): %d, %v", arg, len(got), err)
		}
	}
	path := filepath.Join(t.TempDir(), "t.txt")
	os.WriteFile(path, []byte("a picnic in the rain\n# c\nthe big race\n"), 0o644)
	if got, err := LoadTopics(path); err != nil || !reflect.DeepEqual(got, []string{"a picnic in the rain", "the big race"}) {
		t.Errorf("file: %q, %v", got, err)
	}
	if _, err := LoadTopics("nosuch"); err == nil {
		t.Error("unknown set accepted")
	}
}

func TestDefaultNames(t *testing.T) {
	d := DefaultNames()
	if len(d) != 19 {
		t.Fatalf("%d default emotions %v, want the 16 core and desperate, afraid, loving", len(d), d)
	}
	if err := CheckEmotions(d); err != nil {
		t.Errorf("default emotions not in the paper's list: %v", err)
	}
	for _, e := range CaseStudyNames() {
		if !slices.Contains(d, e) {
			t.Errorf("case-study emotion %s missing from the default set", e)
		}
	}
}
