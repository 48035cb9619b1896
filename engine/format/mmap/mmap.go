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

// Evict drops the region's pages from this process's resident set when it
// is mapped; the next access reads them again from the file (or the page
// cache), so Data stays valid. It is a no-op for a region read into memory. A loader
// calls it after copying a checkpoint's weights elsewhere, so that the copy
// and the mapping are not both counted as resident memory.
func (r *Region) Evict() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mapped == nil {
		return nil
	}
	return evict(r.mapped)
}

// EvictRange is Evict for the pages that lie wholly inside b, which a
// loader has just copied elsewhere: evicting tensor by tensor keeps the
// mapping and the copy from both being resident at the peak of a load.
// Bytes of b outside the mapping (or a region read into memory) are left
// alone.
func (r *Region) EvictRange(b []byte) error {
	if r == nil || len(b) == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.mapped) == 0 {
		return nil
	}
	base := uintptr(unsafe.Pointer(&r.mapped[0]))
	lo := uintptr(unsafe.Pointer(&b[0]))
	hi := lo + uintptr(len(b))
	if lo < base || hi > base+uintptr(len(r.mapped)) {
		return nil
	}
	page := uintptr(os.Getpagesize())
	lo = (lo - base + page - 1) / page * page
	hi = (hi - base) / page * page
	if lo >= hi {
		return nil
	}
	return evict(r.mapped[lo:hi])
}
