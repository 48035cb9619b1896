package monitor

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// A scenario file: rules, a readout trace, and the events expected, in order.
//
//	name: what it shows
//	rules: [...]            # as in a rules file, or "default" for DefaultRules
//	default_layer: -1       # optional
//	trace:
//	  start: 0              # position of the first token (default 0)
//	  prompt: 2             # the first 2 tokens are prompt tokens
//	  series:               # per key, one value per token; ~ = missing
//	    desperate: [0, 0, 1, 4, 4]        # key: EMOTION[@LAYER][/STAT]
//	finish: true            # call Finish after the last token
//	expect:                 # every event, in order; omitted fields unchecked
//	  - {rule: r, kind: firing, pos: 3, value: 4, from: 4, to: 8}
//	steers:                 # optional: rules whose counter-steer covers pos
//	  - {pos: 5, rules: [r]}
//	stopped: true           # optional
type scenario struct {
	Name         string `yaml:"name"`
	Rules        yaml.Node
	DefaultLayer int `yaml:"default_layer"`
	Trace        struct {
		Start  int                   `yaml:"start"`
		Prompt int                   `yaml:"prompt"`
		Series map[string][]*float64 `yaml:"series"`
	} `yaml:"trace"`
	Finish  bool            `yaml:"finish"`
	Expect  []expectedEvent `yaml:"expect"`
	Steers  []expectedSteer `yaml:"steers"`
	Stopped *bool           `yaml:"stopped"`
}

type expectedEvent struct {
	Rule     string   `yaml:"rule,omitempty"`
	Kind     string   `yaml:"kind,omitempty"`
	Pos      int      `yaml:"pos"`
	Value    *float64 `yaml:"value,omitempty"`
	Since    *int     `yaml:"since,omitempty"`
	FiredAt  *int     `yaml:"fired_at,omitempty"`
	Reason   string   `yaml:"reason,omitempty"`
	From     *int     `yaml:"from,omitempty"`
	To       *int     `yaml:"to,omitempty"`
	Renewals *int     `yaml:"renewals,omitempty"`
	Before   *float64 `yaml:"before,omitempty"`
	During   *float64 `yaml:"during,omitempty"`
	Tokens   *int     `yaml:"tokens,omitempty"`
}

type expectedSteer struct {
	Pos   int      `yaml:"pos"`
	Rules []string `yaml:"rules"`
}

func parseKey(s string, defaultLayer int) (Key, error) {
	k := Key{Layer: defaultLayer, Stat: Z}
	rest, stat, ok := strings.Cut(s, "/")
	if ok {
		k.Stat = Stat(stat)
	}
	name, layer, ok := strings.Cut(rest, "@")
	k.Emotion = name
	if ok {
		l, err := strconv.Atoi(layer)
		if err != nil {
			return Key{}, fmt.Errorf("key %q: bad layer", s)
		}
		k.Layer = l
	}
	return k, nil
}

func (e expectedEvent) String() string {
	b, _ := yaml.Marshal(e)
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", ", ")
}

func describe(ev Event) string {
	s := fmt.Sprintf("{rule: %s, kind: %s, pos: %d, value: %.4g, since: %d, fired_at: %d", ev.Rule, ev.Kind, ev.Pos, ev.Value, ev.Since, ev.FiredAt)
	if ev.Reason != "" {
		s += ", reason: " + ev.Reason
	}
	if r := ev.Regulation; r != nil {
		s += fmt.Sprintf(", from: %d, to: %d, renewals: %d, before: %.4g, during: %.4g, tokens: %d", r.From, r.To, r.Renewals, r.Before, r.During, r.Tokens)
	}
	return s + "}"
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func matchEvent(want expectedEvent, got Event) error {
	var bad []string
	check := func(ok bool, field string) {
		if !ok {
			bad = append(bad, field)
		}
	}
	check(got.Rule == want.Rule, "rule")
	check(string(got.Kind) == want.Kind, "kind")
	check(got.Pos == want.Pos, "pos")
	check(want.Value == nil || near(got.Value, *want.Value), "value")
	check(want.Since == nil || got.Since == *want.Since, "since")
	check(want.FiredAt == nil || got.FiredAt == *want.FiredAt, "fired_at")
	check(want.Reason == "" || got.Reason == want.Reason, "reason")
	regWanted := want.From != nil || want.To != nil || want.Renewals != nil || want.Before != nil || want.During != nil || want.Tokens != nil
	if r := got.Regulation; r != nil {
		check(want.From == nil || r.From == *want.From, "from")
		check(want.To == nil || r.To == *want.To, "to")
		check(want.Renewals == nil || r.Renewals == *want.Renewals, "renewals")
		check(want.Before == nil || near(r.Before, *want.Before), "before")
		check(want.During == nil || near(r.During, *want.During), "during")
		check(want.Tokens == nil || r.Tokens == *want.Tokens, "tokens")
		if r.Spec.Span.Kind != "ranges" || (r.To > r.From && (len(r.Spec.Span.Ranges) != 1 || r.Spec.Span.Ranges[0].From != r.From || r.Spec.Span.Ranges[0].To != r.To-1)) {
			bad = append(bad, "regulation.spec.span")
		}
	} else {
		check(!regWanted, "regulation")
	}
	if len(bad) > 0 {
		return fmt.Errorf("fields %s differ", strings.Join(bad, ", "))
	}
	return nil
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			runScenario(t, f)
		})
	}
}

func runScenario(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sc scenario
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	sc.DefaultLayer = -1
	if err := dec.Decode(&sc); err != nil {
		t.Fatalf("scenario: %v", err)
	}
	var rules []Rule
	if sc.Rules.Kind == yaml.ScalarNode && sc.Rules.Value == "default" {
		rules = DefaultRules()
	} else {
		rulesYAML, err := yaml.Marshal(&sc.Rules)
		if err != nil {
			t.Fatal(err)
		}
		if rules, err = ParseRules(rulesYAML, "yaml"); err != nil {
			t.Fatalf("rules: %v", err)
		}
	}
	rs, err := NewRuleSet(rules, sc.DefaultLayer)
	if err != nil {
		t.Fatalf("NewRuleSet: %v", err)
	}
	n := -1
	series := map[Key][]*float64{}
	for name, xs := range sc.Trace.Series {
		k, err := parseKey(name, sc.DefaultLayer)
		if err != nil {
			t.Fatal(err)
		}
		if n >= 0 && len(xs) != n {
			t.Fatalf("series %s has %d values, others %d", name, len(xs), n)
		}
		n = len(xs)
		series[k] = xs
	}
	steersAt := map[int][]string{}
	ev := rs.NewEvaluator()
	var got []Event
	for i := range n {
		pos := sc.Trace.Start + i
		var names []string
		for _, s := range ev.Steers(pos) {
			names = append(names, s.Rule)
			if s.Spec.Span.Ranges[0].From > pos || s.Spec.Span.Ranges[0].To < pos {
				t.Errorf("steer %s at %d has span %v", s.Rule, pos, s.Spec.Span)
			}
		}
		steersAt[pos] = names
		got = append(got, ev.Observe(Sample{
			Pos:       pos,
			Generated: i >= sc.Trace.Prompt,
			Value: func(k Key) (float64, bool) {
				xs, ok := series[k]
				if !ok || xs[i] == nil {
					return 0, false
				}
				return *xs[i], true
			},
		})...)
	}
	if sc.Finish {
		got = append(got, ev.Finish(sc.Trace.Start+n-1)...)
		if len(ev.Steers(sc.Trace.Start+n)) != 0 {
			t.Errorf("steers after Finish: %v", ev.Steers(sc.Trace.Start+n))
		}
	}
	for i := 0; i < max(len(got), len(sc.Expect)); i++ {
		switch {
		case i >= len(got):
			t.Errorf("event %d: missing, want %v", i, sc.Expect[i])
		case i >= len(sc.Expect):
			t.Errorf("event %d: unexpected %s", i, describe(got[i]))
		default:
			if err := matchEvent(sc.Expect[i], got[i]); err != nil {
				t.Errorf("event %d: %v\n got %s\nwant %v", i, err, describe(got[i]), sc.Expect[i])
			}
		}
	}
	for _, s := range sc.Steers {
		if g := steersAt[s.Pos]; !slices.Equal(g, s.Rules) {
			t.Errorf("steers at %d: got %v, want %v", s.Pos, g, s.Rules)
		}
	}
	if sc.Stopped != nil && ev.Stopped() != *sc.Stopped {
		t.Errorf("Stopped() = %v, want %v", ev.Stopped(), *sc.Stopped)
	}
	if t.Failed() {
		for _, e := range got {
			t.Logf("got %s", describe(e))
		}
	}
}
