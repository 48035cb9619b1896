package doccheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// rotting matches phrases that describe one machine or the project's process
// rather than the product.
var rotting = regexp.MustCompile(`(?i)\bthe issue'?s\b|\bissue's target\b|\bzen ?[0-9]\b|\btest machine\b|\bmeasured on\b`)

// TestNoRottingWords scans the tracked product files: Go code (not tests),
// templates, pages and scripts. Markdown is not scanned: the README's
// benchmark table is a measurement that names its machine.
func TestNoRottingWords(t *testing.T) {
	root := filepath.Join("..", "..")
	out, err := exec.Command("git", "-C", root, "ls-files").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	scanned := 0
	for _, f := range strings.Fields(string(out)) {
		switch {
		case strings.HasSuffix(f, "_test.go"), strings.HasPrefix(f, "testdata/"), strings.Contains(f, "/testdata/"),
			strings.HasPrefix(f, "internal/doccheck/"):
			continue
		}
		switch filepath.Ext(f) {
		case ".go", ".tmpl", ".html", ".js", ".css", ".sh":
		default:
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		scanned++
		for i, line := range strings.Split(string(b), "\n") {
			if m := rotting.FindString(line); m != "" {
				t.Errorf("%s:%d: %q rots: %s", f, i+1, m, strings.TrimSpace(line))
			}
		}
	}
	if !(scanned > 100) {
		t.Errorf("scanned %d files, want more than 100 (is the file list right?)", scanned)
	}
}
