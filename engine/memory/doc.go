// Package memory allocates large blocks of memory outside the Go heap.
//
// Alloc returns a zeroed, writable Block. On Linux it is an anonymous
// mapping aligned to 2 MiB and marked for transparent huge pages (madvise
// MADV_HUGEPAGE), so a large array read front to back costs one TLB entry per
// 2 MiB instead of per 4 KiB; model weights live in such blocks. Pages are
// committed on first write. Elsewhere a Block is an ordinary 64-byte aligned
// Go allocation.
//
// Conventions: Block.Data starts on a 64-byte boundary (2 MiB where mapped)
// and must not be used after Close.
package memory
