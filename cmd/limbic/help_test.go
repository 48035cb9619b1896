package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestFlagUsage: no flag's usage has backticks (cobra takes a `word` in it as
// the value's name and drops the quotes), and none writes "(default ...)"
// by hand when cobra prints the default itself (any non-zero default).
func TestFlagUsage(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				t.Errorf("%s --%s: usage %q has backticks", c.CommandPath(), f.Name, f.Usage)
			}
			zero := map[string]bool{"": true, "0": true, "false": true, "[]": true, "0s": true}[f.DefValue]
			if !zero && strings.Contains(f.Usage, "default") {
				t.Errorf("%s --%s: usage %q says its default, and cobra adds (default %s)", c.CommandPath(), f.Name, f.Usage, f.DefValue)
			}
		}
		c.LocalFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot())
}
