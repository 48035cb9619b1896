package model

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// fit switches o to Mmap when a copy of size bytes of weights would take
// more than three quarters of the memory the system has available: a
// mapped checkpoint can be paged out under pressure (its pages are clean
// file pages), a copy cannot without swap.
func (o LoadOptions) fit(size int64) LoadOptions {
	if !o.Mmap {
		if avail, ok := memAvailable(); ok && size > avail/4*3 {
			o.Mmap = true
		}
	}
	return o
}

// memAvailable returns MemAvailable from /proc/meminfo (Linux), in bytes.
func memAvailable() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	return parseMemAvailable(bufio.NewScanner(f))
}

func parseMemAvailable(sc *bufio.Scanner) (int64, bool) {
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}

// fileSizes returns the total size of the files at paths (0 for any that
// cannot be read: the size only guides the choice of fit).
func fileSizes(paths ...string) int64 {
	var n int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}
