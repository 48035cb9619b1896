package mmap

import "golang.org/x/sys/unix"

// adviseHuge asks for transparent huge pages. It is advice only: without
// them (THP disabled, or no free 2 MiB pages) the region works the same.
func adviseHuge(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }
