package contrast

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed pairs/*.jsonl
var builtin embed.FS

// Builtin lists the pair sets that ship with limbic, by name ("happy-sad").
func Builtin() []string {
	es, _ := fs.ReadDir(builtin, "pairs")
	var out []string
	for _, e := range es {
		out = append(out, strings.TrimSuffix(e.Name(), ".jsonl"))
	}
	slices.Sort(out)
	return out
}

// ReadBuiltin reads a shipped pair set by name.
func ReadBuiltin(name string, chat ChatRenderer) ([]Pair, error) {
	f, err := builtin.Open(path.Join("pairs", name+".jsonl"))
	if err != nil {
		return nil, fmt.Errorf("no pair set %q ships with limbic (have: %s)", name, strings.Join(Builtin(), ", "))
	}
	defer f.Close()
	return ReadPairs(f, name, chat)
}
