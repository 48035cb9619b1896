package mmap

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"small", []byte("hello, world")},
		{"pages", bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 3000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := Open(p)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(r.Data, tc.data) {
				t.Errorf("Data = %d bytes, want %d bytes equal to the file", len(r.Data), len(tc.data))
			}
			if len(r.Data) > 0 && uintptr(unsafe.Pointer(&r.Data[0]))%8 != 0 {
				t.Errorf("Data is not 8-byte aligned")
			}
			if err := r.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := r.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if r.Data != nil {
				t.Errorf("Data after Close is not nil")
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("Open(missing file): got nil error")
	}
	if _, err := Open(dir); err == nil {
		t.Errorf("Open(directory): got nil error")
	}
}

// Evicting a mapped file keeps its contents readable.
func TestEvictFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	want := bytes.Repeat([]byte("limbic!"), 5000)
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !bytes.Equal(r.Data, want) {
		t.Fatal("data differs before Evict")
	}
	if err := r.Evict(); err != nil {
		t.Fatalf("Evict: %v", err)
	}
	if !bytes.Equal(r.Data, want) {
		t.Fatal("data differs after Evict")
	}
	var nilRegion *Region
	if err := nilRegion.Evict(); err != nil {
		t.Errorf("Evict on nil: %v", err)
	}
}
