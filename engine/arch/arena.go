package arch

import (
	"errors"

	"github.com/limbic-dev/limbic/engine/memory"
)

// arena holds a model's weight matrices in memory of its own
// (Options.Resident): blocks from memory.Alloc, which Linux backs with
// 2 MiB pages. Decode streams every weight once per token, and with 4 KiB
// pages of a mapped file each page costs a TLB miss and stops the hardware
// prefetchers, so the copy decodes faster than the mapped file.
//
// Matrices are packed one after another, 64-byte aligned, into regions of
// arenaChunk bytes (larger matrices get a region of their own); the unused
// tail of a region is never touched and so never resident. If the OS
// refuses a region the arena falls back to the Go heap.
type arena struct {
	regions []*memory.Block
	free    []byte // unused tail of the newest region
}

const arenaChunk = 64 << 20

// alloc returns n bytes of arena memory.
func (a *arena) alloc(n int) []byte {
	n64 := (n + 63) &^ 63
	if n64 > len(a.free) {
		size := max(arenaChunk, n64)
		r, err := memory.Alloc(size)
		if err != nil {
			return make([]byte, n)
		}
		a.regions = append(a.regions, r)
		if n64 > arenaChunk {
			return r.Data[:n:n] // a region of its own; keep the current tail
		}
		a.free = r.Data
	}
	b := a.free[:n:n]
	a.free = a.free[n64:]
	return b
}

// close releases the regions; matrices in them must not be used afterwards.
func (a *arena) close() error {
	var errs []error
	for _, r := range a.regions {
		errs = append(errs, r.Close())
	}
	a.regions, a.free = nil, nil
	return errors.Join(errs...)
}
