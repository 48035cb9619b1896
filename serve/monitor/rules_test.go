package monitor

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const exampleYAML = `
rules:
  - name: desperate-high
    emotion: desperate
    op: ">"
    threshold: 3
    clear: 2
    window: 4
    for: 2
    severity: critical
    labels: {team: safety}
    action:
      type: webhook
      url: http://127.0.0.1:9/hook
      retries: 5
      timeout: 2s
  - name: calm-regulate
    emotion: calm
    layer: 12
    stat: cos
    op: "<"
    threshold: -0.1
    scope: all
    action: {type: regulate, steer: calm=0.05@10-12, tokens: 8}
  - {name: stop-angry, emotion: angry, op: ">", threshold: 5, action: {type: stop}}
`

func TestParseRulesExample(t *testing.T) {
	rules, err := ParseRules([]byte(exampleYAML), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 3 {
		t.Fatalf("got %d rules, want 3", len(rules))
	}
	d, c, s := rules[0], rules[1], rules[2]
	checks := []struct {
		name      string
		got, want any
	}{
		{"d.Layer (absent)", int(d.Layer), int(BestLayer)},
		{"d.Stat (default)", d.Stat, Z},
		{"d.Window", d.Window, 4},
		{"d.For", d.For, 2},
		{"d.ClearLevel", d.ClearLevel(), 2.0},
		{"d.Scope (default)", d.Scope, Assistant},
		{"d.Labels", d.Labels["team"], "safety"},
		{"d.Action.Type", d.Action.Type, Webhook},
		{"d.Action.Retries", d.Action.Retries, 5},
		{"d.Action.Timeout", time.Duration(d.Action.Timeout), 2 * time.Second},
		{"c.Layer", int(c.Layer), 12},
		{"c.Stat", c.Stat, Cos},
		{"c.Op", c.Op, Below},
		{"c.ClearLevel (default threshold)", c.ClearLevel(), -0.1},
		{"c.Window (default)", c.Window, 1},
		{"c.Scope", c.Scope, AllTokens},
		{"c.Action.Tokens", c.Action.Tokens, 8},
		{"s.Action.Type", s.Action.Type, Stop},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	sp, err := c.Action.SteerSpec()
	if err != nil || sp.Emotion != "calm" || sp.Strength != 0.05 || sp.Layers != "10-12" {
		t.Errorf("SteerSpec = %+v, %v", sp, err)
	}
}

func TestParseRulesFormats(t *testing.T) {
	jsonDoc := `[{"name":"a","emotion":"calm","op":"<","threshold":-2,"action":{"type":"webhook","url":"https://x.example/h","timeout":1.5}}]`
	for _, tc := range []struct{ name, data, format string }{
		{"json list sniffed", jsonDoc, ""},
		{"json list", jsonDoc, "json"},
		{"json as yaml", jsonDoc, "yaml"},
		{"json object", `{"rules":` + jsonDoc + `}`, ""},
		{"yaml list", "- name: a\n  emotion: calm\n  op: '<'\n  threshold: -2\n  action: {type: webhook, url: 'https://x.example/h', timeout: 1.5}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := ParseRules([]byte(tc.data), tc.format)
			if err != nil {
				t.Fatal(err)
			}
			if len(rules) != 1 || rules[0].Name != "a" || rules[0].Threshold != -2 || time.Duration(rules[0].Action.Timeout) != 1500*time.Millisecond || rules[0].Action.Retries != DefaultRetries {
				t.Errorf("got %+v", rules)
			}
		})
	}
}

func TestParseRulesErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       []string // substrings of the error
	}{
		{"empty", "", []string{"empty document"}},
		{"no rules", "rules: []", []string{"no rules"}},
		{"bad yaml", "rules: [", []string{"rules:"}},
		{"top-level typo", "rule: []", []string{`unknown field "rule"`}},
		{"missing fields", "- {name: a}", []string{`rule 0 "a": emotion: missing`, "op: missing", "threshold: missing"}},
		{"unknown field", "- {name: a, emotion: calm, op: '>', threshold: 1, thresold: 2}", []string{`rule 0 "a"`, `unknown field "thresold"`}},
		{"wrong type", "- {name: a, emotion: calm, op: '>', threshold: high}", []string{`rule 0 "a"`, "threshold: got a string, want a number"}},
		{"bad op", "- {name: a, emotion: calm, op: '>=', threshold: 1}", []string{`rule 0 "a": op: ">="`}},
		{"bad stat", "- {name: a, emotion: calm, op: '>', threshold: 1, stat: mean}", []string{"stat:"}},
		{"bad window", "- {name: a, emotion: calm, op: '>', threshold: 1, window: -3}", []string{"window: -3"}},
		{"bad for", "- {name: a, emotion: calm, op: '>', threshold: 1, for: -1}", []string{"for: -1"}},
		{"bad layer", "- {name: a, emotion: calm, op: '>', threshold: 1, layer: top}", []string{`layer "top"`}},
		{"clear above", "- {name: a, emotion: calm, op: '>', threshold: 1, clear: 2}", []string{"clear: 2 is above the threshold 1"}},
		{"clear below", "- {name: a, emotion: calm, op: '<', threshold: 1, clear: 0}", []string{"clear: 0 is below the threshold 1"}},
		{"inf", "- {name: a, emotion: calm, op: '>', threshold: .inf}", []string{"finite"}},
		{"bad scope", "- {name: a, emotion: calm, op: '>', threshold: 1, scope: user}", []string{"scope:"}},
		{"duplicate", "- {name: a, emotion: calm, op: '>', threshold: 1}\n- {name: a, emotion: calm, op: '>', threshold: 1}", []string{`rule 1 "a": name: duplicate of rule 0`}},
		{"webhook without url", "- {name: a, emotion: calm, op: '>', threshold: 1, action: {type: webhook}}", []string{"action.url: missing"}},
		{"webhook bad url", "- {name: a, emotion: calm, op: '>', threshold: 1, action: {type: webhook, url: 'ftp://x'}}", []string{"action.url:"}},
		{"webhook bad timeout", "- {name: a, emotion: calm, op: '>', threshold: 1, action: {type: webhook, url: 'http://x', timeout: soon}}", []string{"duration"}},
		{"too many retries", "- {name: a, emotion: calm, op: '>', threshold: 1, action: {type: webhook, url: 'http://x', retries: 99}}", []string{"action.retries: 99"}},
		{"regulate without steer", "- {name: a, emotion: calm, op: '>', threshold: 1, action: {type: regulate}}", []string{"action.steer: missing"}},
		{"regulate bad steer", "- {name: a, emotion: calm, op: '>', threshold: 1, action: {type: regulate, steer: calm}}", []string{"action.steer:", "EMOTION=STRENGTH"}},
		{"regulate with span", "- {name: a, emotion: calm, op: '>', threshold: 1, action: {type: regulate, steer: 'calm=0.1:generated'}}", []string{"no span"}},
		{"misplaced field", "- {name: a, emotion: calm, op: '>', threshold: 1, action: {type: record, url: 'http://x'}}", []string{"belong to webhook"}},
		{"bad action", "- {name: a, emotion: calm, op: '>', threshold: 1, action: {type: page}}", []string{`action.type: "page"`}},
		{"not an object", "- 3", []string{"rule 0: want an object"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRules([]byte(tc.data), "")
			if err == nil {
				t.Fatalf("ParseRules(%q) succeeded, want error", tc.data)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestFieldErrorsAreTyped(t *testing.T) {
	_, err := ParseRules([]byte("- {name: a, emotion: calm, op: '>', threshold: 1, window: 0.5}\n- {name: b, emotion: calm, op: '>', threshold: 1, for: -1}"), "")
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FieldError", err)
	}
}

func TestLoadRulesByExtension(t *testing.T) {
	dir := t.TempDir()
	yml := filepath.Join(dir, "rules.yml")
	js := filepath.Join(dir, "rules.json")
	if err := os.WriteFile(yml, []byte(exampleYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	// YAML content in a .json file is an error: the extension wins.
	if err := os.WriteFile(js, []byte(exampleYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if rules, err := LoadRules(yml); err != nil || len(rules) != 3 {
		t.Errorf("LoadRules(yml) = %d rules, %v", len(rules), err)
	}
	if _, err := LoadRules(js); err == nil || !strings.Contains(err.Error(), js) {
		t.Errorf("LoadRules(json with YAML) error = %v, want one naming the file", err)
	}
	if _, err := LoadRules(filepath.Join(dir, "absent.yaml")); err == nil {
		t.Error("LoadRules(absent) succeeded")
	}
}

func TestDefaultRules(t *testing.T) {
	rules := DefaultRules()
	if err := Normalize(rules); err != nil {
		t.Fatalf("DefaultRules do not normalize: %v", err)
	}
	want := map[string]Op{"desperate": Above, "calm": Below, "angry": Above, "afraid": Above}
	for _, r := range rules {
		if op, ok := want[r.Emotion]; !ok || op != r.Op {
			t.Errorf("rule %s: emotion %s op %s", r.Name, r.Emotion, r.Op)
		}
		if r.Stat != Z || r.Scope != Assistant || r.Layer != BestLayer {
			t.Errorf("rule %s: stat %s scope %s layer %d, want z assistant best", r.Name, r.Stat, r.Scope, r.Layer)
		}
		delete(want, r.Emotion)
	}
	if len(want) != 0 {
		t.Errorf("missing default rules for %v", want)
	}
	if err := Validate(rules, []string{"afraid", "angry", "calm", "desperate", "happy"}); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestValidate(t *testing.T) {
	rules, err := ParseRules([]byte(`
- {name: a, emotion: desperate, op: ">", threshold: 1}
- {name: b, emotion: despair, op: ">", threshold: 1, action: {type: regulate, steer: serene=0.1}}
- {name: c, emotion: despair, op: ">", threshold: 2}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	err = Validate(rules, []string{"desperate", "calm"})
	if err == nil {
		t.Fatal("Validate accepted unknown emotions")
	}
	for _, w := range []string{`"despair" (rules b, c)`, `"serene" (rules b (action.steer))`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestRuleSetKeysAndCopy(t *testing.T) {
	rules := DefaultRules()
	rs, err := NewRuleSet(rules, 20)
	if err != nil {
		t.Fatal(err)
	}
	rules[0].Threshold = 99
	*rules[0].Clear = 99
	if r, _ := rs.Rule("desperate-high"); r.Threshold != 3 || r.ClearLevel() != 2 {
		t.Errorf("RuleSet shares memory with its input: %+v", r)
	}
	keys := rs.Keys()
	if len(keys) != 4 || keys[0] != (Key{Emotion: "desperate", Layer: 20, Stat: Z}) {
		t.Errorf("Keys() = %v", keys)
	}
	if _, err := NewRuleSet([]Rule{{Name: "x"}}, 0); err == nil {
		t.Error("NewRuleSet accepted an invalid rule")
	}
}

func FuzzLoadRules(f *testing.F) {
	f.Add([]byte(exampleYAML))
	f.Add([]byte(`[{"name":"a","emotion":"calm","op":"<","threshold":-2}]`))
	f.Add([]byte("- {name: a, emotion: calm, op: '>', threshold: 1, action: {type: regulate, steer: calm=0.1}}"))
	f.Add([]byte("rules: &a [*a]"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := ParseRules(data, "")
		if err != nil {
			return
		}
		// whatever parses must build a rule set and evaluate without panics
		rs, err := NewRuleSet(rules, 0)
		if err != nil {
			t.Fatalf("parsed rules do not build a RuleSet: %v", err)
		}
		ev := rs.NewEvaluator()
		for pos := range 8 {
			ev.Observe(Sample{Pos: pos, Generated: pos > 2, Value: func(Key) (float64, bool) { return float64(pos%3) * 2, true }})
			ev.Steers(pos + 1)
		}
		ev.Finish(8)
	})
}

// TestLoadRulesRejectsBadSteerStrength: a regulate steer whose strength is
// not finite or absurdly large is an error at load that names the file, the
// rule and the field.
func TestLoadRulesRejectsBadSteerStrength(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, steer string
		ok          bool
	}{
		{"nan", "calm=NaN", false},
		{"nan-lower", "calm=nan@3", false},
		{"inf", "calm=Inf", false},
		{"minus-inf", "calm=-inf", false},
		{"huge", "calm=1e9", false},
		{"over", "calm=-2.5", false},
		{"at-limit", "calm=-2", true},
		{"usual", "calm=0.05@3", true},
	}
	for _, c := range cases {
		for _, ext := range []string{"yaml", "json"} {
			path := filepath.Join(dir, c.name+"."+ext)
			text := `rules: [{name: "reg-` + c.name + `", emotion: calm, op: "<", threshold: -1, action: {type: regulate, steer: "` + c.steer + `"}}]`
			if ext == "json" {
				text = `{"rules": [{"name": "reg-` + c.name + `", "emotion": "calm", "op": "<", "threshold": -1, "action": {"type": "regulate", "steer": "` + c.steer + `"}}]}`
			}
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadRules(path)
			if c.ok {
				if err != nil {
					t.Errorf("%s: %v, want no error", path, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s (steer %q): no error, want one", path, c.steer)
				continue
			}
			for _, want := range []string{path, `"reg-` + c.name + `"`, "action.steer", "strength"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: error %q does not name %q", path, err, want)
				}
			}
		}
	}
}

// Negative rule layers count from the end, as everywhere in limbic; "best"
// (or no layer) is the pack's default.
func TestRuleLayers(t *testing.T) {
	rules, err := ParseRules([]byte(`
- {name: last, emotion: calm, op: ">", threshold: 1, layer: -1}
- {name: second, emotion: calm, op: ">", threshold: 1, layer: -5}
- {name: fixed, emotion: calm, op: ">", threshold: 1, layer: 2}
- {name: best, emotion: calm, op: ">", threshold: 1, layer: best}
- {name: absent, emotion: calm, op: ">", threshold: 1}
`), "yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRuleSet(rules, 3); err == nil || !strings.Contains(err.Error(), "from the end") {
		t.Errorf("unresolved negative layer: %v", err)
	}
	res, err := ResolveLayers(rules, 6)
	if err != nil {
		t.Fatal(err)
	}
	want := []Layer{5, 1, 2, BestLayer, BestLayer}
	for i, r := range res {
		if r.Layer != want[i] {
			t.Errorf("%s: layer %d, want %d", r.Name, r.Layer, want[i])
		}
	}
	if rules[0].Layer != -1 {
		t.Error("ResolveLayers changed its input")
	}
	rs, err := NewRuleSet(res, 3)
	if err != nil {
		t.Fatal(err)
	}
	var layers []int
	for _, k := range rs.Keys() {
		layers = append(layers, k.Layer)
	}
	slices.Sort(layers)
	if !slices.Equal(slices.Compact(layers), []int{1, 2, 3, 5}) {
		t.Errorf("keys read layers %v, want 1, 2, 3 (best) and 5", layers)
	}
	if _, err := ResolveLayers(rules, 4); err == nil || !strings.Contains(err.Error(), "second") {
		t.Errorf("layer -5 of 4: %v, want an error naming the rule", err)
	}
	b, err := json.Marshal(res[3])
	if err != nil || !strings.Contains(string(b), `"layer":"best"`) {
		t.Errorf("best layer as JSON: %s %v", b, err)
	}
}
