package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// stdin is where "-" reads from; tests replace it.
var stdin io.Reader = os.Stdin

// readStdin reads all of standard input, once: a second "-" in the same
// command gets an error rather than nothing.
func readStdin(what string) ([]byte, error) {
	if stdinUsed {
		return nil, fmt.Errorf("%s: standard input (-) was already read by another argument", what)
	}
	stdinUsed = true
	b, err := io.ReadAll(stdin)
	if err != nil {
		return nil, fmt.Errorf("%s: reading standard input: %w", what, err)
	}
	return b, nil
}

var stdinUsed bool

// textArg returns a text argument, read from standard input when it is "-".
func textArg(what, s string) (string, error) {
	if s != "-" {
		return s, nil
	}
	b, err := readStdin(what)
	return string(b), err
}

// readFileArg reads a file argument; "-" is standard input.
func readFileArg(what, path string) ([]byte, error) {
	if path == "-" {
		return readStdin(what)
	}
	return os.ReadFile(path)
}

// useColor decides whether stdout gets ANSI colour: --color always or never,
// else (auto) only on a terminal and when NO_COLOR is unset or empty
// (https://no-color.org).
func useColor(mode string) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto", "":
		return os.Getenv("NO_COLOR") == "" && term.IsTerminal(int(os.Stdout.Fd())), nil
	}
	return false, fmt.Errorf("--color %q: want auto, always or never", mode)
}

// randomSeed draws a seed for sampling without --seed, so that two runs
// differ; callers print it so that each run can be repeated.
func randomSeed() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	// Keep it positive as an int64 so that --seed accepts it back.
	return binary.LittleEndian.Uint64(b[:]) >> 1
}

// atLeast checks an integer flag's lower bound.
func atLeast(flag string, v, min int) error {
	if v < min {
		return fmt.Errorf("--%s %d: must be at least %d", flag, v, min)
	}
	return nil
}

// inRange checks an integer flag against [min, max].
func inRange(flag string, v, min, max int) error {
	if v < min || v > max {
		return fmt.Errorf("--%s %d: must be between %d and %d", flag, v, min, max)
	}
	return nil
}
