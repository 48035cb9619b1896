package report

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/limbic-dev/limbic/science/catalog"
)

// TestWriteFilesLeavesOnlyTheReports checks that WriteFiles goes through the
// shared atomic writer: both files readable by others (0644) and no
// temporary file left beside them.
func TestWriteFilesLeavesOnlyTheReports(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if _, _, err := WriteFiles(dir, Input{Result: synthResult(t, catalog.CoreNames(), 1)}); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode().Perm(), os.FileMode(0o644); got != want {
			t.Errorf("%s: mode %v, want %v", e.Name(), got, want)
		}
	}
	sort.Strings(names)
	if got, want := len(names), 2; got != want || names[0] != "report.html" || names[1] != "report.json" {
		t.Errorf("files %v, want [report.html report.json]", names)
	}
}
