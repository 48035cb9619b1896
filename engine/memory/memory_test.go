package memory

import (
	"testing"
	"unsafe"
)

func TestAlloc(t *testing.T) {
	for _, n := range []int{0, 1, 4096, 3<<20 + 5} {
		b, err := Alloc(n)
		if err != nil {
			t.Fatalf("Alloc(%d): %v", n, err)
		}
		if got, want := len(b.Data), n; got != want {
			t.Fatalf("Alloc(%d): %d bytes, want %d", n, got, want)
		}
		if n > 0 {
			if p := uintptr(unsafe.Pointer(&b.Data[0])); p%64 != 0 {
				t.Errorf("Alloc(%d) at %#x: not 64-byte aligned", n, p)
			}
		}
		for i := range b.Data {
			if b.Data[i] != 0 {
				t.Fatalf("Alloc(%d): byte %d is %d, want zero", n, i, b.Data[i])
			}
			b.Data[i] = byte(i)
		}
		for i := range b.Data {
			if b.Data[i] != byte(i) {
				t.Fatalf("Alloc(%d): byte %d reads %d, want %d", n, i, b.Data[i], byte(i))
			}
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	if _, err := Alloc(-1); err == nil {
		t.Error("Alloc(-1): no error")
	}
}

func TestHeapAllocAligned(t *testing.T) {
	for _, n := range []int{1, 63, 64, 1000} {
		b := heapAlloc(n)
		if got, want := len(b.Data), n; got != want {
			t.Fatalf("heapAlloc(%d): %d bytes, want %d", n, got, want)
		}
		if p := uintptr(unsafe.Pointer(&b.Data[0])); p%64 != 0 {
			t.Errorf("heapAlloc(%d) at %#x: not 64-byte aligned", n, p)
		}
	}
}
