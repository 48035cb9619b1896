//go:build !unix

package mmap

import (
	"fmt"
	"io"
	"os"
	"unsafe"
)

// openFile reads the file into an 8-byte aligned buffer.
func openFile(f *os.File, path string, size int) (*Region, error) {
	words := make([]uint64, (size+7)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &Region{Data: b}, nil
}

func unmap([]byte) error { return nil }

func evict([]byte) error { return nil }
