package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteBytes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for _, tc := range []struct {
		data []byte
		perm os.FileMode
	}{
		{[]byte("first"), 0o600},
		{[]byte("second, longer than the first"), 0o644},
		{[]byte{}, 0o640},
	} {
		if err := WriteBytes(path, tc.perm, tc.data); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tc.data) {
			t.Errorf("content %q, want %q", got, tc.data)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode().Perm(), tc.perm; got != want {
			t.Errorf("mode %v, want %v", got, want)
		}
		ents, _ := os.ReadDir(dir)
		if got, want := len(ents), 1; got != want {
			t.Errorf("%d entries in the directory, want %d (no temporary left)", got, want)
		}
	}
	if err := WriteBytes(filepath.Join(dir, "missing", "f"), 0o644, []byte("x")); err == nil {
		t.Error("WriteBytes into a missing directory: no error")
	}
}
