package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.bin")
	if err := WriteFile(p, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, "new")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("content = %q, want %q", b, "new")
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o644 {
		t.Errorf("perm = %v, want %v", got, os.FileMode(0o644))
	}

	// A failing write leaves the old file and no temporary behind.
	boom := errors.New("boom")
	err = WriteFile(p, 0o644, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want %v", err, boom)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("after failed write content = %q, want %q", b, "new")
	}
	assertOnly(t, dir, "f.bin")
}

func TestReplaceDir(t *testing.T) {
	parent := t.TempDir()
	dst := filepath.Join(parent, "out")
	for i, content := range []string{"first", "second"} {
		tmp, err := os.MkdirTemp(parent, ".out.tmp-*")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "a"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := os.WriteFile(filepath.Join(tmp, "only-first"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := ReplaceDir(tmp, dst); err != nil {
			t.Fatalf("ReplaceDir #%d: %v", i, err)
		}
		if b, _ := os.ReadFile(filepath.Join(dst, "a")); string(b) != content {
			t.Errorf("#%d: content = %q, want %q", i, b, content)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "only-first")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old file survived replacement: stat err = %v", err)
	}
	assertOnly(t, parent, "out")

	// A regular file in the way is an error.
	file := filepath.Join(parent, "file")
	os.WriteFile(file, nil, 0o644)
	tmp, _ := os.MkdirTemp(parent, ".x-*")
	if err := ReplaceDir(tmp, file); err == nil {
		t.Errorf("ReplaceDir onto a file: got nil error")
	}
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Errorf("%s holds %v, want %v", dir, got, names)
		return
	}
	for i := range got {
		if got[i] != names[i] {
			t.Errorf("%s holds %v, want %v", dir, got, names)
			return
		}
	}
}
