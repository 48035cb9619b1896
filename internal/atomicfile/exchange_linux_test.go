package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExchange checks that Linux swaps directories atomically here, so that
// ReplaceDir does not fall back to two renames.
func TestExchange(t *testing.T) {
	parent := t.TempDir()
	a, b := filepath.Join(parent, "a"), filepath.Join(parent, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	os.WriteFile(filepath.Join(a, "in-a"), nil, 0o644)
	if err := exchange(a, b); err != nil {
		t.Skipf("this file system cannot exchange paths: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b, "in-a")); err != nil {
		t.Errorf("after exchange, b lacks a's file: %v", err)
	}
}
