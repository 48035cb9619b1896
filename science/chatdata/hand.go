package chatdata

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/limbic-dev/limbic/science/catalog"
)

//go:embed data/handnames.tsv
var handNames string

// HandItems returns the feel items of the hand-written stories
// (catalog.Handwritten, stories not written by any model), in their order,
// with the character names of data/handnames.tsv. Every story has a name
// that occurs in its text, and every item passes Item.Check; an error says
// which story or line breaks that.
func HandItems() ([]Item, error) {
	names := map[string]string{}
	for i, line := range strings.Split(handNames, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || line == "id\tname" {
			continue
		}
		id, name, ok := strings.Cut(line, "\t")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("chatdata: data/handnames.tsv:%d: want ID<TAB>NAME, got %q", i+1, line)
		}
		if _, dup := names[id]; dup {
			return nil, fmt.Errorf("chatdata: data/handnames.tsv:%d: %s named twice", i+1, id)
		}
		names[id] = strings.TrimSpace(name)
	}
	hs := catalog.Handwritten()
	out := make([]Item, 0, len(hs))
	for _, h := range hs {
		name, ok := names[h.ID]
		if !ok {
			return nil, fmt.Errorf("chatdata: hand-written story %s has no name in data/handnames.tsv", h.ID)
		}
		delete(names, h.ID)
		it := Item{ID: h.ID, Name: name, Emotion: h.Emotion, Story: h.Text}
		if err := it.Check(); err != nil {
			return nil, fmt.Errorf("chatdata: %w", err)
		}
		out = append(out, it)
	}
	for id := range names {
		return nil, fmt.Errorf("chatdata: data/handnames.tsv names %s, which is not a hand-written story", id)
	}
	return out, nil
}
