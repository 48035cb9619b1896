package model

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/limbic-dev/limbic/engine/hub"
)

// A Recipe builds a named model on first use: a model limbic makes itself
// (stories15m-chat, a fine-tune of the embedded model) rather than one it
// downloads. Build writes a complete Hugging Face directory at dir (through
// a temporary directory renamed into place); Load then opens it like any
// other, and later loads find it there.
type Recipe struct {
	Name        string
	Description string
	Build       func(ctx context.Context, dir string) error
}

var (
	recipesMu sync.Mutex
	recipes   = map[string]Recipe{}
)

// RegisterRecipe makes r.Name resolvable by Load. The packages that know
// how to build a model register it (the command line registers
// stories15m-chat); the engine itself knows no recipes.
func RegisterRecipe(r Recipe) {
	recipesMu.Lock()
	defer recipesMu.Unlock()
	recipes[strings.ToLower(r.Name)] = r
}

// Recipes lists the registered recipes by name.
func Recipes() []Recipe {
	recipesMu.Lock()
	defer recipesMu.Unlock()
	out := make([]Recipe, 0, len(recipes))
	for _, r := range recipes {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RecipeDir is where the model built by the named recipe lives:
// ModelsDir/NAME under the limbic home.
func RecipeDir(name string) string { return filepath.Join(hub.ModelsDir(""), strings.ToLower(name)) }

// resolveRecipe returns the directory of the recipe model ref, building it
// first when it is missing; ok is false when ref names no recipe.
func resolveRecipe(ctx context.Context, ref string) (dir string, ok bool, err error) {
	if _, err := os.Stat(ref); err == nil {
		return "", false, nil // a file or directory of that name wins
	}
	recipesMu.Lock()
	r, ok := recipes[strings.ToLower(ref)]
	recipesMu.Unlock()
	if !ok {
		return "", false, nil
	}
	dir = RecipeDir(r.Name)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return dir, true, nil
	}
	if err := r.Build(ctx, dir); err != nil {
		return "", true, fmt.Errorf("model %s: building it (%s): %w", r.Name, r.Description, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return "", true, fmt.Errorf("model %s: its recipe finished without writing %s", r.Name, filepath.Join(dir, "config.json"))
	}
	return dir, true, nil
}
