//go:build unix

package mmap

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func openFile(f *os.File, path string, size int) (*Region, error) {
	b, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	return &Region{Data: b, mapped: b, file: true}, nil
}

const hugePage = 2 << 20

func alloc(size int) (*Region, error) {
	// Over-allocate by one huge page and trim, so that Data starts on a
	// 2 MiB boundary (the kernel backs only aligned 2 MiB ranges with huge
	// pages).
	n := (size + hugePage - 1) &^ (hugePage - 1)
	b, err := syscall.Mmap(-1, 0, n+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("mmap: allocating %d bytes: %w", size, err)
	}
	off := 0
	if a := int(uintptrOf(b) % hugePage); a != 0 {
		off = hugePage - a
	}
	data := b[off : off+size : off+n]
	adviseHuge(b[off : off+n])
	return &Region{Data: data, mapped: b}, nil
}

func evict(b []byte) error {
	if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
		return fmt.Errorf("mmap: evict: %w", err)
	}
	return nil
}

func unmap(b []byte) error { return syscall.Munmap(b) }
