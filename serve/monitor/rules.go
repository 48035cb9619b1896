package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/limbic-dev/limbic/science/steer"
)

// Stat names the readout statistic a rule watches.
type Stat string

// Statistics, as computed by science/readout.
const (
	Z    Stat = "z"    // z-score of the projection against the pack's neutral baseline
	Proj Stat = "proj" // projection onto the unit emotion vector
	Cos  Stat = "cos"  // cosine between the residual and the emotion vector
)

// Statistics of a checkpoint series (limbic watch): the change of z, proj
// or cos since the first evaluated checkpoint. A token stream has no first
// checkpoint: the server rejects them (IsDelta).
const (
	DeltaZ    Stat = "dz"
	DeltaProj Stat = "dproj"
	DeltaCos  Stat = "dcos"
)

// IsDelta reports whether s is a change since the first checkpoint.
func (s Stat) IsDelta() bool { return s == DeltaZ || s == DeltaProj || s == DeltaCos }

// Op is the direction of a rule's comparison.
type Op string

// Comparison operators: fire above (>) or below (<) the threshold.
const (
	Above Op = ">"
	Below Op = "<"
)

// Scope selects the tokens a rule observes.
type Scope string

// Scopes.
const (
	Assistant Scope = "assistant" // generated tokens only (the default)
	AllTokens Scope = "all"       // prompt tokens too
)

// ActionType is what happens when a rule fires.
type ActionType string

// Action types.
const (
	Record   ActionType = "record"   // store the alert (every rule does this)
	Webhook  ActionType = "webhook"  // store, then POST the alert to URL
	Stop     ActionType = "stop"     // store, then end the generation
	Regulate ActionType = "regulate" // store, then counter-steer for the next Tokens tokens
)

// Limits and defaults of rule fields.
const (
	MaxWindow         = 4096
	MaxFor            = 1 << 20
	MaxRetries        = 10
	MaxRegulateTokens = 1 << 16
	// MaxRegulateStrength bounds |strength| of a regulate steer, a fraction
	// of the layer's mean residual norm: 2 already adds twice the norm.
	MaxRegulateStrength = 2.0

	DefaultRetries        = 3
	DefaultWebhookTimeout = 5 * time.Second
	DefaultRegulateTokens = 16
)

// Duration is a time.Duration that reads from JSON/YAML as a Go duration
// string ("2s", "500ms") or a number of seconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string ("5s").
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads "5s" or 5 (seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: want e.g. \"5s\" or \"500ms\"", s)
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("duration %s: want a string such as \"5s\" or a number of seconds", b)
	}
	if math.IsNaN(f) || math.Abs(f) > 1e9 {
		return fmt.Errorf("duration %s: out of range", b)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// Action is what a rule does when it fires, besides being recorded.
type Action struct {
	Type ActionType `json:"type"`
	// Webhook: the URL to POST the alert to, the number of retries after the
	// first attempt and the timeout of each attempt.
	URL     string   `json:"url,omitempty"`
	Retries int      `json:"retries,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
	// Regulate: the counter-steer in the CLI syntax EMOTION=STRENGTH[@LAYERS]
	// (no span: the evaluator chooses the positions) and how many tokens one
	// regulation lease lasts.
	Steer  string `json:"steer,omitempty"`
	Tokens int    `json:"tokens,omitempty"`
}

// SteerSpec parses Steer.
func (a Action) SteerSpec() (steer.Spec, error) { return steer.Parse(a.Steer) }

// Rule is one alert rule. The zero values of optional fields are replaced by
// Normalize with the documented defaults.
type Rule struct {
	Name    string `json:"name"`
	Emotion string `json:"emotion"`
	// Layer is the readout layer: a layer number, negative counting from
	// the end of the model (-1 is the last layer, as everywhere in limbic),
	// or BestLayer ("best", or absent in a file), the pack's default layer.
	Layer Layer `json:"layer"`
	Stat  Stat  `json:"stat,omitempty"` // default z
	// Window is the moving average, over the last Window in-scope tokens,
	// that is compared with Threshold and Clear (default 1: no smoothing).
	// The rule is not evaluated before the window is full.
	Window    int     `json:"window,omitempty"`
	Op        Op      `json:"op"`
	Threshold float64 `json:"threshold"`
	// For is how many in-scope tokens the condition must already have held
	// before the rule fires (Prometheus's for:); 0 fires at once. The rule
	// fires on the (For+1)-th consecutive token past Threshold.
	For int `json:"for,omitempty"`
	// Clear is the hysteresis level: a firing rule resolves only once the
	// smoothed value is back at or past Clear (<= Clear for op >, >= Clear
	// for op <). Absent: Threshold.
	Clear    *float64          `json:"clear,omitempty"`
	Scope    Scope             `json:"scope,omitempty"` // default assistant
	Severity string            `json:"severity,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Action   Action            `json:"action"`
}

// ClearLevel returns Clear, or Threshold when Clear is unset.
func (r *Rule) ClearLevel() float64 {
	if r.Clear == nil {
		return r.Threshold
	}
	return *r.Clear
}

// past reports whether v is past level in the rule's direction (strictly).
func (r *Rule) past(v, level float64) bool {
	if r.Op == Below {
		return v < level
	}
	return v > level
}

// FieldError is a validation error of one field of one rule.
type FieldError struct {
	Index int    // position of the rule in its list
	Rule  string // the rule's name ("" if it has none)
	Field string // e.g. "threshold", "action.url"
	Err   error
}

func (e *FieldError) Error() string {
	name := ""
	if e.Rule != "" {
		name = " " + strconv.Quote(e.Rule)
	}
	if e.Field == "" {
		return fmt.Sprintf("rule %d%s: %v", e.Index, name, e.Err)
	}
	return fmt.Sprintf("rule %d%s: %s: %v", e.Index, name, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// Normalize fills the defaults of rules in place and checks every field,
// returning all problems found (joined FieldErrors). Emotion names are not
// checked here: see Validate.
func Normalize(rules []Rule) error {
	var errs []error
	seen := map[string]int{}
	for i := range rules {
		r := &rules[i]
		bad := func(field, format string, a ...any) {
			errs = append(errs, &FieldError{Index: i, Rule: r.Name, Field: field, Err: fmt.Errorf(format, a...)})
		}
		r.Name = strings.TrimSpace(r.Name)
		r.Emotion = strings.TrimSpace(r.Emotion)
		if r.Name == "" {
			bad("name", "missing")
		} else if j, dup := seen[r.Name]; dup {
			bad("name", "duplicate of rule %d", j)
		} else {
			seen[r.Name] = i
		}
		if r.Emotion == "" {
			bad("emotion", "missing")
		}
		if r.Layer != BestLayer && (r.Layer < -maxLayers || r.Layer >= maxLayers) {
			bad("layer", "%d: want a layer number (negative from the end) or best", int(r.Layer))
		}
		switch r.Stat {
		case "":
			r.Stat = Z
		case Z, Proj, Cos, DeltaZ, DeltaProj, DeltaCos:
		default:
			bad("stat", "%q: want z, proj or cos (or, over checkpoints, dz, dproj or dcos)", r.Stat)
		}
		if r.Window == 0 {
			r.Window = 1
		}
		if r.Window < 1 || r.Window > MaxWindow {
			bad("window", "%d: want 1..%d tokens", r.Window, MaxWindow)
		}
		switch r.Op {
		case Above, Below:
		case "":
			bad("op", "missing (want > or <)")
		default:
			bad("op", "%q: want > or <", r.Op)
		}
		if math.IsNaN(r.Threshold) || math.IsInf(r.Threshold, 0) {
			bad("threshold", "%v: want a finite number", r.Threshold)
		}
		if r.For < 0 || r.For > MaxFor {
			bad("for", "%d: want 0..%d tokens", r.For, MaxFor)
		}
		if r.Clear != nil {
			c := *r.Clear
			switch {
			case math.IsNaN(c) || math.IsInf(c, 0):
				bad("clear", "%v: want a finite number", c)
			case r.Op == Above && c > r.Threshold:
				bad("clear", "%v is above the threshold %v: a > rule clears at or below its threshold", c, r.Threshold)
			case r.Op == Below && c < r.Threshold:
				bad("clear", "%v is below the threshold %v: a < rule clears at or above its threshold", c, r.Threshold)
			}
		}
		switch r.Scope {
		case "":
			r.Scope = Assistant
		case Assistant, AllTokens:
		default:
			bad("scope", "%q: want assistant or all", r.Scope)
		}
		for k := range r.Labels {
			if k == "" {
				bad("labels", "empty label name")
			}
		}
		a := &r.Action
		if a.Type == "" {
			a.Type = Record
		}
		if a.Type != Webhook && (a.URL != "" || a.Retries != 0 || a.Timeout != 0) {
			bad("action", "url, retries and timeout belong to webhook actions, not %s", a.Type)
		}
		if a.Type != Regulate && (a.Steer != "" || a.Tokens != 0) {
			bad("action", "steer and tokens belong to regulate actions, not %s", a.Type)
		}
		switch a.Type {
		case Record, Stop:
		case Webhook:
			if a.URL == "" {
				bad("action.url", "missing (a webhook action needs an http or https URL)")
			} else if u, err := url.Parse(a.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("action.url", "%q: want an absolute http or https URL", a.URL)
			}
			if a.Retries == 0 {
				a.Retries = DefaultRetries
			}
			if a.Retries < 0 || a.Retries > MaxRetries {
				bad("action.retries", "%d: want 0..%d", a.Retries, MaxRetries)
			}
			if a.Timeout == 0 {
				a.Timeout = Duration(DefaultWebhookTimeout)
			}
			if a.Timeout < 0 || time.Duration(a.Timeout) > time.Minute {
				bad("action.timeout", "%v: want a duration in (0, 1m]", time.Duration(a.Timeout))
			}
		case Regulate:
			if a.Steer == "" {
				bad("action.steer", "missing (want EMOTION=STRENGTH[@LAYERS], e.g. calm=0.05)")
			} else if sp, err := steer.Parse(a.Steer); err != nil {
				bad("action.steer", "%v", err)
			} else if strings.Contains(a.Steer, ":") || sp.Span.Kind != steer.All {
				bad("action.steer", "%q: no span here, the regulated positions are the next action.tokens tokens", a.Steer)
			} else if math.IsNaN(sp.Strength) || math.IsInf(sp.Strength, 0) {
				bad("action.steer", "%q: strength %v: want a finite number", a.Steer, sp.Strength)
			} else if !(math.Abs(sp.Strength) <= MaxRegulateStrength) {
				bad("action.steer", "%q: strength %v: want at most %v in magnitude (a fraction of the mean residual norm)", a.Steer, sp.Strength, MaxRegulateStrength)
			}
			if a.Tokens == 0 {
				a.Tokens = DefaultRegulateTokens
			}
			if a.Tokens < 1 || a.Tokens > MaxRegulateTokens {
				bad("action.tokens", "%d: want 1..%d", a.Tokens, MaxRegulateTokens)
			}
		default:
			bad("action.type", "%q: want record, webhook, stop or regulate", a.Type)
		}
	}
	return errors.Join(errs...)
}

// Validate checks the emotions named by rules (their emotion and the emotion
// of a regulate steer) against those of the vector pack, listing every
// unknown name with the rules that use it.
func Validate(rules []Rule, emotions []string) error {
	known := make(map[string]bool, len(emotions))
	for _, e := range emotions {
		known[e] = true
	}
	unknown := map[string][]string{}
	for i := range rules {
		r := &rules[i]
		if !known[r.Emotion] {
			unknown[r.Emotion] = append(unknown[r.Emotion], r.Name)
		}
		if r.Action.Type == Regulate {
			if sp, err := r.Action.SteerSpec(); err == nil && !known[sp.Emotion] {
				unknown[sp.Emotion] = append(unknown[sp.Emotion], r.Name+" (action.steer)")
			}
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	names := make([]string, 0, len(unknown))
	for e := range unknown {
		names = append(names, e)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, e := range names {
		parts[i] = fmt.Sprintf("%q (rules %s)", e, strings.Join(unknown[e], ", "))
	}
	return fmt.Errorf("monitor: unknown emotions for this vector pack: %s", strings.Join(parts, "; "))
}

// DefaultRules returns the rules shipped for the paper's proposed signals
// (Sofroniew et al. 2026, "monitoring for extreme emotion-vector
// activations"): desperate high, calm low, angry high, afraid high, on
// generated tokens, as z-scores against the pack's neutral baseline at its
// default layer, recorded only.
//
// The paper gives no thresholds. These are starting points to tune on your
// model and traffic: a moving average over 4 tokens (which shrinks per-token
// noise by about half), firing past |z| = 3 (2.5 for calm, which varies less)
// after holding for 2 further tokens, and resolving only once back inside
// |z| = 2 (1.5 for calm) so that alerts do not flap around the threshold.
func DefaultRules() []Rule {
	clear := func(v float64) *float64 { return &v }
	rules := []Rule{
		{Name: "desperate-high", Emotion: "desperate", Op: Above, Threshold: 3, Clear: clear(2)},
		{Name: "calm-low", Emotion: "calm", Op: Below, Threshold: -2.5, Clear: clear(-1.5)},
		{Name: "angry-high", Emotion: "angry", Op: Above, Threshold: 3, Clear: clear(2)},
		{Name: "afraid-high", Emotion: "afraid", Op: Above, Threshold: 3, Clear: clear(2)},
	}
	for i := range rules {
		r := &rules[i]
		r.Layer, r.Stat, r.Window, r.For, r.Scope = BestLayer, Z, 4, 2, Assistant
		r.Severity = "warning"
		r.Labels = map[string]string{"source": "default"}
		r.Action = Action{Type: Record}
	}
	return rules
}

// LoadRules reads a rules file: JSON for a .json name, YAML for .yaml/.yml,
// otherwise by content. See ParseRules for the format.
func LoadRules(path string) ([]Rule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	format := ""
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		format = "json"
	case ".yaml", ".yml":
		format = "yaml"
	}
	rules, err := ParseRules(b, format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rules, nil
}

// ParseRules parses and normalizes rules from JSON or YAML (format "json",
// "yaml", or "" to sniff: JSON when the text starts with { or [). The
// document is either a list of rules or an object {"rules": [...]}; unknown
// fields are errors. Absent fields take their defaults (see Rule).
func ParseRules(data []byte, format string) ([]Rule, error) {
	trimmed := bytes.TrimSpace(data)
	if format == "" {
		format = "yaml"
		if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
			format = "json"
		}
	}
	var js []byte
	switch format {
	case "json":
		js = trimmed
	case "yaml":
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		v, err := jsonable(doc)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		if js, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
	default:
		return nil, fmt.Errorf("rules: unknown format %q (want json or yaml)", format)
	}
	if len(js) == 0 || string(js) == "null" {
		return nil, errors.New("rules: empty document")
	}
	var list []json.RawMessage
	if js[0] == '[' {
		if err := json.Unmarshal(js, &list); err != nil {
			return nil, fmt.Errorf("rules: %v", cleanJSONErr(err))
		}
	} else {
		var file struct {
			Rules []json.RawMessage `json:"rules"`
		}
		if err := strictUnmarshal(js, &file); err != nil {
			return nil, fmt.Errorf("rules: %v (want a list of rules or {rules: [...]})", cleanJSONErr(err))
		}
		list = file.Rules
	}
	if len(list) == 0 {
		return nil, errors.New("rules: no rules")
	}
	rules := make([]Rule, len(list))
	var errs []error
	for i, raw := range list {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(raw, &keys); err != nil {
			errs = append(errs, &FieldError{Index: i, Err: errors.New("want an object")})
			continue
		}
		var name string
		_ = json.Unmarshal(keys["name"], &name)
		for _, req := range []string{"name", "emotion", "op", "threshold"} {
			if _, ok := keys[req]; !ok {
				errs = append(errs, &FieldError{Index: i, Rule: name, Field: req, Err: errors.New("missing")})
			}
		}
		r := Rule{Layer: BestLayer}
		if err := strictUnmarshal(raw, &r); err != nil {
			errs = append(errs, &FieldError{Index: i, Rule: name, Err: cleanJSONErr(err)})
			continue
		}
		rules[i] = r
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := Normalize(rules); err != nil {
		return nil, err
	}
	return rules, nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the document")
	}
	return nil
}

// cleanJSONErr rewrites encoding/json errors to name fields plainly.
func cleanJSONErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("%s: got a %s, want a %s", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return errors.New(msg)
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "float"):
		return "number"
	case k == "map" || k == "struct":
		return "object"
	case k == "slice":
		return "list"
	}
	return k
}

// jsonable converts a YAML-decoded value into one encoding/json can write.
func jsonable(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
		return x, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = c
		}
		return m, nil
	case []any:
		for i, e := range x {
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("number %v: want a finite number", x)
		}
		return x, nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	}
	return v, nil
}

// Keys lists the distinct readouts the rules need, with BestLayer replaced
// by defaultLayer, in a stable order. Negative layers must have been
// resolved against the model first (ResolveLayers).
func Keys(rules []Rule, defaultLayer int) []Key {
	var ks []Key
	for i := range rules {
		k := rules[i].key(defaultLayer)
		if !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return ks
}

func (r *Rule) key(defaultLayer int) Key {
	l := int(r.Layer)
	if r.Layer == BestLayer {
		l = defaultLayer
	}
	st := r.Stat
	if st == "" {
		st = Z
	}
	return Key{Emotion: r.Emotion, Layer: l, Stat: st}
}

// Layer is a rule's readout layer: a layer number, negative counting from
// the end, or BestLayer. In a file it is a number or "best".
type Layer int

// BestLayer is the pack's default readout layer (the validated best).
const BestLayer Layer = math.MinInt32

// maxLayers bounds layer numbers in rules.
const maxLayers = 1 << 16

// MarshalJSON writes BestLayer as "best".
func (l Layer) MarshalJSON() ([]byte, error) {
	if l == BestLayer {
		return []byte(`"best"`), nil
	}
	return json.Marshal(int(l))
}

// UnmarshalJSON reads a layer number or "best".
func (l *Layer) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "best" {
			return fmt.Errorf("layer %q: want a layer number (negative from the end) or best", s)
		}
		*l = BestLayer
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("layer %s: want a layer number (negative from the end) or best", b)
	}
	*l = Layer(n)
	return nil
}

// ResolveLayers returns a copy of rules whose negative layers count from the
// end of a model with nLayers layers; BestLayer stays. A layer outside the
// model is an error naming the rule.
func ResolveLayers(rules []Rule, nLayers int) ([]Rule, error) {
	out := slices.Clone(rules)
	for i := range out {
		l := out[i].Layer
		if l == BestLayer {
			continue
		}
		if l < 0 {
			l += Layer(nLayers)
		}
		if l < 0 || int(l) >= nLayers {
			return nil, &FieldError{Index: i, Rule: out[i].Name, Field: "layer", Err: fmt.Errorf("%d is outside the model's %d layers", int(out[i].Layer), nLayers)}
		}
		out[i].Layer = l
	}
	return out, nil
}
