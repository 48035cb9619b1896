//go:build unix

package memory

import (
	"fmt"
	"syscall"
)

const hugePage = 2 << 20

func alloc(size int) (*Block, error) {
	// Over-allocate by one huge page and trim, so that Data starts on a
	// 2 MiB boundary (the kernel backs only aligned 2 MiB ranges with huge
	// pages).
	n := (size + hugePage - 1) &^ (hugePage - 1)
	b, err := syscall.Mmap(-1, 0, n+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("memory: allocating %d bytes: %w", size, err)
	}
	off := 0
	if a := int(uintptrOf(b) % hugePage); a != 0 {
		off = hugePage - a
	}
	data := b[off : off+size : off+n]
	adviseHuge(b[off : off+n])
	return &Block{Data: data, mapped: b}, nil
}

func unmap(b []byte) error { return syscall.Munmap(b) }
