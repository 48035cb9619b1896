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
	return &Region{Data: b, mapped: b}, nil
}

func evict(b []byte) error {
	if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
		return fmt.Errorf("mmap: evict: %w", err)
	}
	return nil
}

func unmap(b []byte) error { return syscall.Munmap(b) }
