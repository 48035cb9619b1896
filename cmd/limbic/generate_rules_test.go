package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type generateOut struct {
	PromptIDs []int  `json:"prompt_ids"`
	IDs       []int  `json:"ids"`
	Text      string `json:"text"`
	StoppedBy string `json:"stopped_by"`
	Alerts    []struct {
		Rule string `json:"rule"`
		Kind string `json:"kind"`
		Pos  int    `json:"pos"`
	} `json:"alerts"`
}

func generateJSON(t *testing.T, args ...string) generateOut {
	t.Helper()
	var g generateOut
	out := limbic(t, append([]string{"generate", "-p", "Once upon a time", "-n", "12", "--temp", "0", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return g
}

func writeRules(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGenerateRules: generate --rules evaluates the rules during generation
// and applies their actions: a stop rule with for: 3 that always holds
// fires at the 4th generated-scope position and withholds the token sampled
// there (3 tokens, the same as without rules); a regulate rule
// counter-steers the tokens after the first.
func TestGenerateRules(t *testing.T) {
	pack := writeTestPack(t)
	plain := generateJSON(t, "--vectors", pack)
	if len(plain.IDs) != 12 || len(plain.Alerts) != 0 {
		t.Fatalf("without rules: %d ids, %d alerts, want 12 and 0", len(plain.IDs), len(plain.Alerts))
	}
	stop := generateJSON(t, "--vectors", pack, "--rules", writeRules(t, `- {name: halt, emotion: calm, op: ">", threshold: -1000, for: 3, action: {type: stop}}`))
	if got, want := stop.IDs, plain.IDs[:3]; !slices.Equal(got, want) {
		t.Errorf("stop rule: ids %v, want %v", got, want)
	}
	if stop.StoppedBy != "halt" {
		t.Errorf("stopped_by %q, want halt", stop.StoppedBy)
	}
	first := len(stop.PromptIDs) - 1 // the position the first token is sampled from
	var kinds []string
	for _, a := range stop.Alerts {
		kinds = append(kinds, a.Kind)
	}
	if got, want := strings.Join(kinds, ","), "pending,firing,resolved"; got != want {
		t.Fatalf("stop rule alerts %s, want %s", got, want)
	}
	if got, want := stop.Alerts[0].Pos, first; got != want {
		t.Errorf("pending at %d, want %d", got, want)
	}
	if got, want := stop.Alerts[1].Pos, first+3; got != want {
		t.Errorf("firing at %d, want %d", got, want)
	}

	reg := generateJSON(t, "--vectors", pack, "--rules", writeRules(t, `- {name: calm-down, emotion: calm, op: ">", threshold: -1000, action: {type: regulate, steer: "calm=-2@1-5", tokens: 64}}`))
	if len(reg.IDs) == 0 || reg.IDs[0] != plain.IDs[0] {
		t.Fatalf("regulate: ids %v, want the first token %d unchanged (sampled before the lease)", reg.IDs, plain.IDs[0])
	}
	if slices.Equal(reg.IDs, plain.IDs) {
		t.Errorf("regulate: ids %v are those without the rule", reg.IDs)
	}
	if len(reg.Alerts) == 0 || reg.Alerts[0].Kind != "firing" || reg.Alerts[0].Pos != first {
		t.Errorf("regulate alerts %+v, want firing at %d first", reg.Alerts, first)
	}
}

// TestGenerateRulesErrors: a bad rules file is refused with its path.
func TestGenerateRulesErrors(t *testing.T) {
	pack := writeTestPack(t)
	bad := writeRules(t, `- {name: r, emotion: calm, op: ">", threshold: 1, action: {type: regulate, steer: "calm=NaN"}}`)
	b, err := exec.Command(bin, "generate", "-p", "x", "-n", "2", "--vectors", pack, "--rules", bad).CombinedOutput()
	if out := string(b); err == nil || !strings.Contains(out, bad) || !strings.Contains(out, `"r"`) {
		t.Errorf("generate --rules %s: err %v, output %q; want an error naming the file and rule", bad, err, out)
	}
}
