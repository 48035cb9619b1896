package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// HandStory is one story of the hand-written held-out set: a short
// children's story written by a person, not by the model under study, that
// conveys Emotion through events, actions and dialogue without naming it.
type HandStory struct {
	ID      string // "hand-<emotion>-<n>", n counting from 1 within the emotion
	Emotion string // a catalog emotion name
	Text    string
}

var loadHandwritten = sync.OnceValues(func() ([]HandStory, error) {
	const file = "handwritten.tsv"
	rows, err := readTSV(file, 2)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, e := range load().emotions {
		known[e] = true
	}
	count := map[string]int{}
	out := make([]HandStory, 0, len(rows))
	for i, r := range rows {
		e, text := r[0], strings.TrimSpace(r[1])
		if !known[e] {
			return nil, fmt.Errorf("%s: story %d: unknown emotion %q", file, i+1, e)
		}
		if text == "" {
			return nil, fmt.Errorf("%s: story %d (%s): empty text", file, i+1, e)
		}
		count[e]++
		out = append(out, HandStory{ID: "hand-" + e + "-" + strconv.Itoa(count[e]), Emotion: e, Text: text})
	}
	return out, nil
})

// Handwritten returns the hand-written held-out stories (data/handwritten.tsv)
// in file order: at least 4 per core emotion and 6 per case-study emotion,
// 40-90 words each, in the register of the embedded children's-story model.
// They are a test set the model did not write, for `limbic validate`.
func Handwritten() []HandStory {
	s, err := loadHandwritten()
	if err != nil {
		panic("catalog: embedded data: " + err.Error())
	}
	return clone(s)
}
