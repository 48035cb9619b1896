package mmap

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
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

// rssFile returns this process's file-backed resident memory in bytes.
func rssFile(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// EvictRange drops the pages inside a part of the mapping from the
// resident set, keeps the data readable, and ignores bytes outside it.
func TestEvictRange(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	const size = 32 << 20
	p := filepath.Join(t.TempDir(), "f")
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7)
	}
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Mapped() {
		t.Skip("not mapped")
	}
	if !bytes.Equal(r.Data, want) { // touches every page
		t.Fatal("data differs")
	}
	before := rssFile(t)
	// Half the file, from an unaligned start.
	if err := r.EvictRange(r.Data[1000 : 1000+size/2]); err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	if drop := before - after; !(drop >= size/2-(4<<20)) {
		t.Errorf("resident file memory fell by %d bytes, want about %d", drop, size/2)
	}
	if err := r.EvictRange(make([]byte, 100)); err != nil { // not part of the mapping
		t.Errorf("EvictRange outside: %v", err)
	}
	if !bytes.Equal(r.Data, want) {
		t.Fatal("data differs after EvictRange")
	}
}
