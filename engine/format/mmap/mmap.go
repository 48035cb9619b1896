package mmap

import (
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// Region is a read-only view of a whole file.
type Region struct {
	// Data holds the file's bytes. It is empty for an empty file.
	Data []byte

	mu     sync.Mutex
	mapped []byte // the mapping to release, nil when not mapped
	file   bool   // mapped is a mapping of a file (not anonymous memory)
	closed bool
}

// Open maps the file at path read-only.
func Open(path string) (*Region, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("mmap %s: not a regular file", path)
	}
	size := fi.Size()
	if size < 0 || int64(int(size)) != size {
		return nil, fmt.Errorf("mmap %s: file size %d does not fit in memory", path, size)
	}
	if size == 0 {
		return &Region{Data: []byte{}}, nil
	}
	return openFile(f, path, int(size))
}

// Close releases the region. Data must not be used afterwards. Close is safe
// to call more than once.
func (r *Region) Close() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	m := r.mapped
	r.mapped = nil
	r.Data = nil
	if m != nil {
		return unmap(m)
	}
	return nil
}

// Mapped reports whether the region is a memory mapping (as opposed to a copy
// read into memory).
func (r *Region) Mapped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mapped != nil
}

// Alloc returns a zeroed, writable region of size bytes that is not backed
// by a file. On Linux it is an anonymous mapping aligned to 2 MiB and marked
// for transparent huge pages (madvise MADV_HUGEPAGE), so a large array read
// front to back costs one TLB entry per 2 MiB instead of per 4 KiB; the
// model weights live in such regions. Pages are committed on first write.
// Elsewhere it is an ordinary 64-byte aligned allocation. Close releases it.
func Alloc(size int) (*Region, error) {
	if size < 0 {
		return nil, fmt.Errorf("mmap: Alloc(%d): negative size", size)
	}
	if size == 0 {
		return &Region{Data: []byte{}}, nil
	}
	return alloc(size)
}

// Evict drops the region's pages from this process's resident set when it
// maps a file; the next access reads them again from the file (or the page
// cache), so Data stays valid. It is a no-op for other regions. A loader
// calls it after copying a checkpoint's weights elsewhere, so that the copy
// and the mapping are not both counted as resident memory.
func (r *Region) Evict() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mapped == nil || !r.file {
		return nil
	}
	return evict(r.mapped)
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
