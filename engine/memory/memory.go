package memory

import (
	"fmt"
	"sync"
	"unsafe"
)

// Block is a writable region of memory that is not backed by a file.
type Block struct {
	// Data holds the block's bytes, zeroed by Alloc.
	Data []byte

	mu     sync.Mutex
	mapped []byte // the mapping to release, nil when not mapped
	closed bool
}

// Alloc returns a zeroed block of size bytes.
func Alloc(size int) (*Block, error) {
	if size < 0 {
		return nil, fmt.Errorf("memory: Alloc(%d): negative size", size)
	}
	if size == 0 {
		return &Block{Data: []byte{}}, nil
	}
	return alloc(size)
}

// Mapped reports whether the block is an anonymous mapping (as opposed to
// memory from the Go heap).
func (b *Block) Mapped() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mapped != nil
}

// Close releases the block. Data must not be used afterwards. Close is safe
// to call more than once.
func (b *Block) Close() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	m := b.mapped
	b.mapped, b.Data = nil, nil
	if m != nil {
		return unmap(m)
	}
	return nil
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// heapAlloc is the fallback: a 64-byte aligned slice of the Go heap.
func heapAlloc(size int) *Block {
	words := make([]uint64, (size+63)/8+8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
	off := 0
	if a := int(uintptrOf(b) % 64); a != 0 {
		off = 64 - a
	}
	return &Block{Data: b[off : off+size : off+size]}
}
