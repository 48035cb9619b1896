package readout

import (
	"fmt"
	"io"
	"strings"
)

// Color maps a value in [-1, 1] to an RGB colour on a diverging palette:
// white at 0, red for positive, blue for negative.
func Color(x float64) (r, g, b uint8) {
	x = max(-1, min(1, x))
	fade := func(t float64) uint8 { return uint8(255 - 200*t + 0.5) }
	if x >= 0 {
		return 255, fade(x), fade(x)
	}
	return fade(-x), fade(-x), 255
}

// WriteANSI renders the trace for a terminal: for each emotion, the text with
// every token's background coloured by its value over the trace's Scale.
func WriteANSI(w io.Writer, tr *Trace, emotions []string) error {
	return writeText(w, tr, emotions, true)
}

// WritePlain renders the trace as WriteANSI does, without colour (for a pipe,
// a file or NO_COLOR): each token is followed by its value over the trace's
// Scale in brackets, "sad[+0.84]".
func WritePlain(w io.Writer, tr *Trace, emotions []string) error {
	return writeText(w, tr, emotions, false)
}

func writeText(w io.Writer, tr *Trace, emotions []string, color bool) error {
	for i, name := range emotions {
		e := tr.Index(name)
		if e < 0 {
			return fmt.Errorf("readout: emotion %q is not in the trace", name)
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		if color {
			fmt.Fprintf(w, "\x1b[1m%s\x1b[0m  layer %d, %s, ±%.3g = full colour\n", name, tr.Layer, tr.Metric, tr.Scale)
		} else {
			fmt.Fprintf(w, "%s  layer %d, %s, [±1] = ±%.3g\n", name, tr.Layer, tr.Metric, tr.Scale)
		}
		for t, tok := range tr.Tokens {
			text := tok.Text
			if tok.Special {
				continue
			}
			x := 0.0
			if tr.Scale > 0 {
				x = float64(tr.Values[e][t]) / tr.Scale
			}
			if !color {
				fmt.Fprintf(w, "%s[%+.2f]", text, x)
				continue
			}
			r, g, b := Color(x)
			// Colour each line of a token separately so that newlines stay plain.
			for j, part := range strings.Split(text, "\n") {
				if j > 0 {
					fmt.Fprint(w, "\n")
				}
				if part != "" {
					fmt.Fprintf(w, "\x1b[38;2;0;0;0;48;2;%d;%d;%dm%s\x1b[0m", r, g, b, part)
				}
			}
		}
		fmt.Fprintln(w)
	}
	return nil
}
