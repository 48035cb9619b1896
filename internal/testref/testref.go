// Package testref locates the project's reference test data and the embedded
// default model for tests.
package testref

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Root returns the repository's testdata/reference directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "reference")
}

// Path joins elem onto Root.
func Path(elem ...string) string { return filepath.Join(append([]string{Root()}, elem...)...) }

// Home returns the limbic cache directory ($LIMBIC_HOME, else the user cache dir + "/limbic").
func Home() string {
	if h := os.Getenv("LIMBIC_HOME"); h != "" {
		return h
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "limbic")
}

// Stories15M returns the directory holding the embedded default model's
// model.bin and tokenizer.bin, failing the test when it is absent.
func Stories15M(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(Home(), "models", "stories15m")
	for _, f := range []string{"model.bin", "tokenizer.bin"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("embedded model missing (%v): run `limbic fetch` or the test set-up first", err)
		}
	}
	return dir
}
