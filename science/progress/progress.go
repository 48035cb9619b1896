package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar is a progress bar. The zero value is not usable; call New.
type Bar struct {
	Label       string
	Width       int           // bar cells (default 30)
	Interval    time.Duration // terminal redraw interval (default 200ms)
	LogInterval time.Duration // non-terminal line interval (default 10s)

	mu        sync.Mutex
	w         io.Writer
	tty       bool
	now       func() time.Time
	start     time.Time
	startDone int
	started   bool
	last      time.Time
	lastDone  int
	total     int
	finished  bool
}

// New returns a bar writing to w (a terminal when w is a character device).
func New(w io.Writer, label string) *Bar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &Bar{Label: label, w: w, tty: tty, now: time.Now}
}

// Update records progress and redraws when due; it is safe for concurrent use.
func (b *Bar) Update(done, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if !b.started {
		b.started, b.start, b.startDone = true, now, done
	}
	b.lastDone, b.total = done, total
	interval := b.Interval
	if interval == 0 {
		interval = 200 * time.Millisecond
	}
	if !b.tty {
		interval = b.LogInterval
		if interval == 0 {
			interval = 10 * time.Second
		}
	}
	if done >= total || b.last.IsZero() || now.Sub(b.last) >= interval {
		b.draw(now, done >= total)
		b.last = now
	}
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.finished && b.started {
		b.draw(b.now(), true)
	}
}

func (b *Bar) draw(now time.Time, final bool) {
	if b.finished {
		return
	}
	fmt.Fprint(b.w, b.line(now))
	if final && b.lastDone >= b.total {
		b.finished = true
		if b.tty {
			fmt.Fprint(b.w, "\n")
		}
	}
}

// line formats the current state.
func (b *Bar) line(now time.Time) string {
	done, total := b.lastDone, b.total
	width := b.Width
	if width <= 0 {
		width = 30
	}
	frac := 0.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	fill := int(frac * float64(width))
	bar := strings.Repeat("█", fill) + strings.Repeat("░", width-fill)
	elapsed := now.Sub(b.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done-b.startDone) / elapsed.Seconds()
	}
	eta := "--"
	switch {
	case done >= total:
		eta = "done in " + fmtDur(elapsed)
	case rate > 0:
		eta = "ETA " + fmtDur(time.Duration(float64(total-done)/rate*float64(time.Second)))
	}
	s := fmt.Sprintf("%s %s %d/%d %3.0f%% %.2f/s %s", b.Label, bar, done, total, 100*frac, rate, eta)
	if b.tty {
		return "\r" + s + "\x1b[K"
	}
	return s + "\n"
}

func fmtDur(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	if m > 0 {
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
