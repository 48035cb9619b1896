package model

import (
	"bufio"
	"strings"
	"testing"
)

func TestParseMemAvailable(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   23000000 kB\n", 23000000 << 10, true},
		{"MemTotal: 1 kB\n", 0, false},
		{"MemAvailable: lots kB\n", 0, false},
		{"MemAvailable: 12 MB\n", 0, false},
		{"", 0, false},
	} {
		got, ok := parseMemAvailable(bufio.NewScanner(strings.NewReader(c.in)))
		if got != c.want || ok != c.ok {
			t.Errorf("%q: %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// A copy that could not fit falls back to the mapping; one that fits does not.
func TestFit(t *testing.T) {
	avail, ok := memAvailable()
	if !ok {
		t.Skip("no /proc/meminfo")
	}
	if o := (LoadOptions{}).fit(avail); !o.Mmap {
		t.Errorf("weights as large as the available memory (%d bytes) are copied", avail)
	}
	if o := (LoadOptions{}).fit(1 << 20); o.Mmap {
		t.Errorf("1 MiB of weights is mapped, want copied")
	}
	if o := (LoadOptions{Mmap: true}).fit(1 << 20); !o.Mmap {
		t.Errorf("an explicit Mmap was dropped")
	}
}
