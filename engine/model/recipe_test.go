package model

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/internal/testref"
)

// TestRecipeBuiltOnceThenCached registers a recipe that copies a synthetic
// checkpoint into place and checks that the first Load builds it, the
// second finds it without building, and a failing recipe's error names it.
func TestRecipeBuiltOnceThenCached(t *testing.T) {
	t.Setenv("LIMBIC_HOME", t.TempDir())
	src := testref.Path("synthetic", "llama")
	if _, err := os.Stat(filepath.Join(src, "config.json")); err != nil {
		t.Skipf("shared reference checkpoint missing: %v", err)
	}
	builds := 0
	RegisterRecipe(Recipe{Name: "test-recipe", Description: "a copy of the synthetic llama", Build: func(ctx context.Context, dir string) error {
		builds++
		tmp := dir + ".tmp"
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		for _, f := range []string{"config.json", "model.safetensors"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
				return err
			}
		}
		return os.Rename(tmp, dir)
	}})
	for i := 0; i < 2; i++ {
		m, err := Load(context.Background(), "Test-Recipe", LoadOptions{})
		if err != nil {
			t.Fatalf("load %d: %v", i, err)
		}
		if m.Name != "test-recipe" || m.Path != RecipeDir("test-recipe") {
			t.Errorf("load %d: name %q path %q, want test-recipe at %s", i, m.Name, m.Path, RecipeDir("test-recipe"))
		}
		m.Close()
	}
	if builds != 1 {
		t.Errorf("recipe built %d times, want once", builds)
	}

	// limbic list shows a built recipe with its size, an unbuilt one with a note.
	RegisterRecipe(Recipe{Name: "later-recipe", Description: "not built yet", Build: func(context.Context, string) error { return errors.New("unused") }})
	es, err := Available("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]Entry{}
	for _, e := range es {
		seen[e.Name] = e
	}
	if e := seen["test-recipe"]; e.Source != SourceRecipe || !(e.Size > 0) || e.Note != "" {
		t.Errorf("built recipe listed as %+v", e)
	}
	if e := seen["later-recipe"]; e.Source != SourceRecipe || e.Size != 0 || !strings.Contains(e.Note, "not built yet") {
		t.Errorf("unbuilt recipe listed as %+v", e)
	}

	RegisterRecipe(Recipe{Name: "broken-recipe", Description: "fails", Build: func(context.Context, string) error { return errors.New("no data") }})
	_, err = Load(context.Background(), "broken-recipe", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "broken-recipe") || !strings.Contains(err.Error(), "no data") {
		t.Errorf("failing recipe: err = %v, want one naming the recipe and its cause", err)
	}
	RegisterRecipe(Recipe{Name: "empty-recipe", Description: "writes nothing", Build: func(context.Context, string) error { return nil }})
	if _, err := Load(context.Background(), "empty-recipe", LoadOptions{}); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("recipe writing nothing: err = %v, want one naming the missing config.json", err)
	}
}
