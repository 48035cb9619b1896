package memory

import "golang.org/x/sys/unix"

// adviseHuge asks for transparent huge pages. It is advice only: without
// them (THP disabled, or no free 2 MiB pages) the block works the same.
func adviseHuge(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }
