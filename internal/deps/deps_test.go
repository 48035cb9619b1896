// Package deps checks the one-way imports of the architecture:
// engine → nothing of science or serve; science → not serve.
package deps

import (
	"os/exec"
	"strings"
	"testing"
)

func TestOneWayImports(t *testing.T) {
	const mod = "github.com/limbic-dev/limbic/"
	rules := map[string][]string{
		"engine/...":  {"science", "serve", "cmd"},
		"science/...": {"serve", "cmd"},
		"serve/...":   {"cmd"},
	}
	for pkgs, banned := range rules {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "../../"+pkgs).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "matched no packages") || strings.Contains(string(out), "no such file") {
				continue
			}
			t.Fatalf("go list %s: %v\n%s", pkgs, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range banned {
				if strings.HasPrefix(dep, mod+b+"/") || dep == mod+b {
					t.Errorf("%s depends on %s", pkgs, dep)
				}
			}
		}
	}
}
