package progress

import (
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBarLog(t *testing.T) {
	var out strings.Builder
	c := &clock{t: time.Unix(1000, 0)}
	b := New(&out, "extract")
	b.now = c.now
	b.LogInterval = 10 * time.Second
	b.Width = 10
	b.Update(20, 100) // resumed at 20: the ETA must ignore earlier work
	c.t = c.t.Add(5 * time.Second)
	b.Update(30, 100) // not due
	c.t = c.t.Add(5 * time.Second)
	b.Update(40, 100) // due: 20 stories in 10 s → 2/s, 60 left → 30 s
	c.t = c.t.Add(30 * time.Second)
	b.Update(100, 100)
	b.Finish() // no second final line
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"extract ██░░░░░░░░ 20/100  20% 0.00/s --",
		"extract ████░░░░░░ 40/100  40% 2.00/s ETA 30s",
		"extract ██████████ 100/100 100% 2.00/s done in 40s",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(lines), out.String())
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d: got %q, want %q", i, lines[i], want[i])
		}
	}
}

func TestBarTerminal(t *testing.T) {
	var out strings.Builder
	c := &clock{t: time.Unix(0, 0)}
	b := New(&out, "stories")
	b.now, b.tty = c.now, true
	b.Update(0, 4)
	c.t = c.t.Add(time.Second)
	b.Update(4, 4)
	s := out.String()
	if !strings.HasPrefix(s, "\rstories") || !strings.HasSuffix(s, "done in 1s\x1b[K\n") || strings.Count(s, "\r") != 2 {
		t.Errorf("terminal output %q", s)
	}
}

func TestFmtDur(t *testing.T) {
	tests := map[time.Duration]string{0: "0s", 61 * time.Second: "1m01s", 3*time.Hour + 5*time.Second: "3h00m05s"}
	for d, want := range tests {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}
