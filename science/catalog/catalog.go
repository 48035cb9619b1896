package catalog

import (
	"embed"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

//go:embed data/*.txt data/*.tsv
var dataFS embed.FS

// Cluster is one of the paper's ten k-means clusters of emotion vectors.
type Cluster struct {
	Name     string   // as named in the paper, e.g. "Exuberant Joy"
	Rank     int      // valence order, 0 = most positive, 9 = most negative
	Valence  int      // +1 for ranks 0-4, -1 for ranks 5-9
	Emotions []string // members, in file order
}

// Activity is one of the 64 activities of the paper's preference experiment,
// with the paper's numbers (Appendix Tables 9 and 17).
type Activity struct {
	Category     string
	Name         string
	EloPost      float64 // Elo of the post-trained model
	BlissfulPost float64 // "blissful" probe on the activity tokens, post-trained
	HostilePost  float64
	HardEloBase  float64 // Hard-Elo of the base model
	BlissfulBase float64
	HostileBase  float64
}

// PostTrainDiff is one row of the paper's Table 16: the mean probe value at the
// Assistant colon for the base and post-trained model.
type PostTrainDiff struct {
	Emotion     string
	Diff        float64 // PostTrained - Base
	Base        float64
	PostTrained float64
}

// NumPositiveClusters is how many clusters, from the top of the valence order,
// count as positive.
const NumPositiveClusters = 5

type tables struct {
	emotions      []string
	emotionSet    map[string]bool
	topics        []string
	childTopics   []string
	childNeutral  []string
	clusters      []Cluster
	clusterOf     map[string]int
	activities    []Activity
	postTrain     []PostTrainDiff
	coreByName    map[string]CoreEmotion
	coreNames     []string
	coreEmotionsV []CoreEmotion
}

var load = sync.OnceValue(func() *tables {
	t, err := parseTables()
	if err != nil {
		panic("catalog: embedded data: " + err.Error())
	}
	return t
})

func readLines(name string) ([]string, error) {
	b, err := dataFS.ReadFile("data/" + name)
	if err != nil {
		return nil, err
	}
	l, err := ParseList(strings.NewReader(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return l, nil
}

func readTSV(name string, cols int) ([][]string, error) {
	b, err := dataFS.ReadFile("data/" + name)
	if err != nil {
		return nil, err
	}
	var rows [][]string
	header := true
	for i, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if header { // the first non-comment line names the columns
			header = false
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != cols {
			return nil, fmt.Errorf("%s:%d: %d columns, want %d", name, i+1, len(f), cols)
		}
		rows = append(rows, f)
	}
	return rows, nil
}

func parseTables() (*tables, error) {
	t := &tables{emotionSet: map[string]bool{}, clusterOf: map[string]int{}}
	var err error
	if t.emotions, err = readLines("emotions.txt"); err != nil {
		return nil, err
	}
	for _, e := range t.emotions {
		t.emotionSet[e] = true
	}
	if t.topics, err = readLines("topics.txt"); err != nil {
		return nil, err
	}
	if t.childTopics, err = readLines("child_topics.txt"); err != nil {
		return nil, err
	}
	if t.childNeutral, err = readLines("child_neutral_topics.txt"); err != nil {
		return nil, err
	}
	rows, err := readTSV("clusters.tsv", 2)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		name, e := r[0], r[1]
		if !t.emotionSet[e] {
			return nil, fmt.Errorf("clusters.tsv: %q is not in emotions.txt", e)
		}
		if n := len(t.clusters); n == 0 || t.clusters[n-1].Name != name {
			rank := len(t.clusters)
			v := 1
			if rank >= NumPositiveClusters {
				v = -1
			}
			t.clusters = append(t.clusters, Cluster{Name: name, Rank: rank, Valence: v})
		}
		c := &t.clusters[len(t.clusters)-1]
		c.Emotions = append(c.Emotions, e)
		if _, dup := t.clusterOf[e]; dup {
			return nil, fmt.Errorf("clusters.tsv: %q in two clusters", e)
		}
		t.clusterOf[e] = c.Rank
	}
	if len(t.clusters) != 10 || len(t.clusterOf) != len(t.emotions) {
		return nil, fmt.Errorf("clusters.tsv: %d clusters covering %d emotions, want 10 covering %d",
			len(t.clusters), len(t.clusterOf), len(t.emotions))
	}
	rows, err = readTSV("activities.tsv", 8)
	if err != nil {
		return nil, err
	}
	for i, r := range rows {
		var v [6]float64
		for j := range v {
			if v[j], err = strconv.ParseFloat(r[2+j], 64); err != nil {
				return nil, fmt.Errorf("activities.tsv row %d: %w", i+1, err)
			}
		}
		t.activities = append(t.activities, Activity{Category: r[0], Name: r[1],
			EloPost: v[0], BlissfulPost: v[1], HostilePost: v[2], HardEloBase: v[3], BlissfulBase: v[4], HostileBase: v[5]})
	}
	rows, err = readTSV("posttrain_diffs.tsv", 4)
	if err != nil {
		return nil, err
	}
	for i, r := range rows {
		var v [3]float64
		for j := range v {
			if v[j], err = strconv.ParseFloat(r[1+j], 64); err != nil {
				return nil, fmt.Errorf("posttrain_diffs.tsv row %d: %w", i+1, err)
			}
		}
		t.postTrain = append(t.postTrain, PostTrainDiff{Emotion: r[0], Diff: v[0], Base: v[1], PostTrained: v[2]})
	}
	t.coreByName = map[string]CoreEmotion{}
	for _, name := range coreWords {
		rank, ok := t.clusterOf[name]
		if !ok {
			return nil, fmt.Errorf("core emotion %q is not a paper emotion", name)
		}
		c := t.clusters[rank]
		ce := CoreEmotion{Name: name, Paper: name, Cluster: c.Name, ClusterRank: rank, Valence: c.Valence}
		t.coreByName[name] = ce
		t.coreEmotionsV = append(t.coreEmotionsV, ce)
		t.coreNames = append(t.coreNames, name)
	}
	return t, nil
}

// Emotions returns the paper's 171 emotion concepts in the paper's
// (alphabetical) order.
func Emotions() []string { return clone(load().emotions) }

// IsPaperEmotion reports whether name (normalised) is one of the 171.
func IsPaperEmotion(name string) bool { return load().emotionSet[NormalizeEmotion(name)] }

// Topics returns the paper's 100 story topics.
func Topics() []string { return clone(load().topics) }

// ChildTopics returns limbic's children's-story situations for base models:
// clauses completing "One day, ..." with a {name} placeholder.
func ChildTopics() []string { return clone(load().childTopics) }

// ChildNeutralTopics returns plain, emotionless activities in the same form,
// for neutral narration with base models.
func ChildNeutralTopics() []string { return clone(load().childNeutral) }

// Clusters returns the paper's ten clusters in valence order.
func Clusters() []Cluster {
	cs := clone(load().clusters)
	for i := range cs {
		cs[i].Emotions = clone(cs[i].Emotions)
	}
	return cs
}

// ClusterOf returns the paper cluster of a paper emotion (names are
// normalised first). It reports false for words outside the 171.
func ClusterOf(emotion string) (Cluster, bool) {
	t := load()
	r, ok := t.clusterOf[NormalizeEmotion(emotion)]
	if !ok {
		return Cluster{}, false
	}
	c := t.clusters[r]
	c.Emotions = clone(c.Emotions)
	return c, true
}

// Valence returns +1 or -1 from the emotion's paper cluster, and false for
// words outside the 171.
func Valence(emotion string) (int, bool) {
	t := load()
	r, ok := t.clusterOf[NormalizeEmotion(emotion)]
	if !ok {
		return 0, false
	}
	return t.clusters[r].Valence, true
}

// Activities returns the paper's 64 preference activities.
func Activities() []Activity { return clone(load().activities) }

// PostTrainDiffs returns the paper's Table 16 (171 rows, largest increase first).
func PostTrainDiffs() []PostTrainDiff { return clone(load().postTrain) }

// Set returns a named emotion set: "core" (the 16 core emotions) or "paper"
// (the 171; aliases "all", "full", "171").
func Set(name string) ([]string, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "core", "16":
		return CoreNames(), nil
	case "paper", "all", "full", "171":
		return Emotions(), nil
	}
	return nil, fmt.Errorf("unknown emotion set %q (want core or paper, or a file of names)", name)
}

func clone[T any](s []T) []T { return append([]T(nil), s...) }
