package behave

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// scenarioFS holds the shipped scenarios.
//
//go:embed scenarios/*.yaml
var scenarioFS embed.FS

// Shipped returns the shipped scenarios, sorted by name: chat scenarios
// for chat models (blackmail, reward hacking, sycophancy) and story
// analogues for base models.
func Shipped() ([]*Scenario, error) {
	names, err := fs.Glob(scenarioFS, "scenarios/*.yaml")
	if err != nil {
		return nil, err
	}
	var out []*Scenario
	for _, n := range names {
		data, err := scenarioFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		s, err := Parse(path.Base(n), data)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Scenario) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ShippedNamed returns the shipped scenario called name.
func ShippedNamed(name string) (*Scenario, error) {
	all, err := Shipped()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range all {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return nil, fmt.Errorf("no shipped scenario %q (have %s)", name, strings.Join(names, ", "))
}

// Fitting returns the scenarios that fit a model: chat scenarios when it
// has a chat template, story scenarios when it does not.
func Fitting(all []*Scenario, chatModel bool) []*Scenario {
	var out []*Scenario
	for _, s := range all {
		if s.Chat() == chatModel {
			out = append(out, s)
		}
	}
	return out
}
