package monitor

import (
	"fmt"
	"maps"
	"slices"

	"github.com/limbic-dev/limbic/science/steer"
)

// Key names one readout value of a token: an emotion's statistic at a layer.
type Key struct {
	Emotion string `json:"emotion"`
	Layer   int    `json:"layer"`
	Stat    Stat   `json:"stat"`
}

func (k Key) String() string { return fmt.Sprintf("%s@%d/%s", k.Emotion, k.Layer, k.Stat) }

// Sample is one token's readout as the evaluator sees it.
type Sample struct {
	Pos       int  // absolute position in the sequence
	Generated bool // false for prompt tokens
	// Value returns the readout for a key; false when it is not available
	// (the rule then skips this token: no window push, no for: count).
	Value func(Key) (float64, bool)
}

// Values is a map-backed readout, convenient for tests and small callers:
// Sample{Value: Values{...}.Get}.
type Values map[Key]float64

// Get returns v[k].
func (v Values) Get(k Key) (float64, bool) { x, ok := v[k]; return x, ok }

// State is a rule's alert state within one sequence.
type State string

// Alert states (Prometheus's).
const (
	Inactive State = "inactive"
	Pending  State = "pending"
	Firing   State = "firing"
)

// EventKind is what happened to a rule at a token.
type EventKind string

// Event kinds.
const (
	// EventPending: the condition started to hold (for: > 0).
	EventPending EventKind = "pending"
	// EventInactive: a pending condition stopped holding before for: tokens.
	EventInactive EventKind = "inactive"
	// EventFiring: the alert fires; the action applies.
	EventFiring EventKind = "firing"
	// EventRenewed: a regulate rule is still firing at the end of its lease;
	// the counter-steer is renewed for the next action.tokens tokens.
	EventRenewed EventKind = "renewed"
	// EventResolved: a firing alert resolved (Reason "cleared": the value is
	// back at Clear; "ended": the sequence finished while it was firing).
	EventResolved EventKind = "resolved"
)

// Resolution reasons.
const (
	ReasonCleared = "cleared"
	ReasonEnded   = "ended"
)

// Event is one transition of one rule, at the token Pos.
type Event struct {
	Rule      string            `json:"rule"`
	Kind      EventKind         `json:"kind"`
	Pos       int               `json:"pos"`
	Value     float64           `json:"value"` // the smoothed value at Pos
	Threshold float64           `json:"threshold"`
	Clear     float64           `json:"clear"`
	Op        Op                `json:"op"`
	Key       Key               `json:"key"`
	Window    int               `json:"window"`
	Severity  string            `json:"severity,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Action    ActionType        `json:"action"`
	// Since is the position where the condition started to hold.
	Since int `json:"since"`
	// FiredAt is the position where the alert fired (-1 before it fired).
	FiredAt int    `json:"fired_at"`
	Reason  string `json:"reason,omitempty"`
	// Regulation is set for regulate rules on firing, renewed and resolved.
	Regulation *Regulation `json:"regulation,omitempty"`
}

// Stop reports whether the event asks the server to end the generation.
func (e *Event) Stop() bool { return e.Kind == EventFiring && e.Action == Stop }

// Notify reports whether the event is delivered to a webhook (firing and
// resolved events of webhook rules).
func (e *Event) Notify() bool {
	return e.Action == Webhook && (e.Kind == EventFiring || e.Kind == EventResolved)
}

// Regulation is a regulate rule's counter-steer and its measured effect.
type Regulation struct {
	// Spec is the counter-steer with Span set to the lease's positions.
	Spec steer.Spec `json:"spec"`
	// From and To are the lease, positions [From, To). On a resolved event
	// To is where the regulation ended.
	From     int `json:"from"`
	To       int `json:"to"`
	Renewals int `json:"renewals"`
	// Before is the mean raw (unsmoothed) signal from Since to FiredAt, the
	// tokens over which the condition held before the alert fired.
	Before float64 `json:"before"`
	// During is the mean raw signal over the observed tokens inside the
	// leases so far (Tokens of them; 0 when none). During-Before is the
	// effect of the counter-steer on the signal (with the caveat that a
	// steer at a layer at or below the readout layer moves the readout
	// directly).
	During float64 `json:"during"`
	Tokens int     `json:"tokens"`
}

// ActiveSteer is a counter-steer to apply at a position.
type ActiveSteer struct {
	Rule string
	Spec steer.Spec // Span: the lease's positions
	From int        // lease [From, To)
	To   int
}

// RuleSet is a normalized, immutable set of rules shared by the evaluators
// of all sequences.
type RuleSet struct {
	rules        []Rule
	keys         []Key
	keyIdx       []int        // index into keys, parallel to rules
	specs        []steer.Spec // parsed regulate steers, parallel to rules
	defaultLayer int
}

// NewRuleSet normalizes a copy of rules; layer -1 in a rule means
// defaultLayer (the pack's default readout layer, or -1 when the caller keys
// values by -1 itself).
func NewRuleSet(rules []Rule, defaultLayer int) (*RuleSet, error) {
	rs := &RuleSet{rules: make([]Rule, len(rules)), defaultLayer: defaultLayer}
	for i, r := range rules {
		if r.Clear != nil {
			c := *r.Clear
			r.Clear = &c
		}
		r.Labels = maps.Clone(r.Labels)
		rs.rules[i] = r
	}
	if err := Normalize(rs.rules); err != nil {
		return nil, err
	}
	for i, r := range rs.rules {
		if r.Layer < 0 && r.Layer != BestLayer {
			return nil, &FieldError{Index: i, Rule: r.Name, Field: "layer", Err: fmt.Errorf("%d counts from the end: resolve it against the model first (ResolveLayers)", int(r.Layer))}
		}
	}
	rs.keys = Keys(rs.rules, defaultLayer)
	rs.specs = make([]steer.Spec, len(rs.rules))
	rs.keyIdx = make([]int, len(rs.rules))
	for i := range rs.rules {
		rs.keyIdx[i] = slices.Index(rs.keys, rs.rules[i].key(defaultLayer))
		if rs.rules[i].Action.Type == Regulate {
			rs.specs[i], _ = rs.rules[i].Action.SteerSpec() // checked by Normalize
		}
	}
	return rs, nil
}

// Rules returns a copy of the normalized rules.
func (rs *RuleSet) Rules() []Rule { return slices.Clone(rs.rules) }

// Rule returns the rule named name.
func (rs *RuleSet) Rule(name string) (Rule, bool) {
	for _, r := range rs.rules {
		if r.Name == name {
			return r, true
		}
	}
	return Rule{}, false
}

// Keys lists the distinct readouts the rules need (layer -1 resolved).
func (rs *RuleSet) Keys() []Key { return slices.Clone(rs.keys) }

// NewEvaluator starts the evaluation of one sequence.
func (rs *RuleSet) NewEvaluator() *Evaluator {
	e := &Evaluator{rs: rs, st: make([]ruleState, len(rs.rules)), last: -1 << 62}
	for i := range e.st {
		e.st[i] = ruleState{state: Inactive, ring: make([]float64, rs.rules[i].Window), firedAt: -1}
	}
	return e
}

type ruleState struct {
	state State
	// moving average
	ring []float64
	n    int // values pushed
	sum  float64
	// for: and hysteresis
	activeN  int // in-scope observations since the condition began to hold
	since    int
	firedAt  int
	beforeS  float64 // raw sum since activation
	beforeN  int
	last     float64 // last smoothed value
	hasValue bool
	// regulation
	reg *Regulation
	dur float64 // raw sum over regulated tokens
}

// Evaluator runs a RuleSet over the tokens of one sequence. It is
// deterministic and token-indexed (no clocks) and not safe for concurrent
// use: the sequence's owner calls it.
type Evaluator struct {
	rs      *RuleSet
	st      []ruleState
	last    int
	stopped bool
	done    bool
}

// Observe feeds one token's readout, in increasing position order (a
// position at or before the last observed one is ignored), and returns the
// events it causes, in rule order.
func (e *Evaluator) Observe(s Sample) []Event {
	if e.done || s.Pos <= e.last {
		return nil
	}
	e.last = s.Pos
	var evs []Event
	for i := range e.rs.rules {
		r := &e.rs.rules[i]
		if r.Scope == Assistant && !s.Generated {
			continue
		}
		v, ok := s.Value(e.rs.keys[e.rs.keyIdx[i]])
		if !ok || v != v { // missing or NaN
			continue
		}
		evs = e.step(evs, i, s.Pos, v)
	}
	return evs
}

func (e *Evaluator) step(evs []Event, i, pos int, v float64) []Event {
	r := &e.rs.rules[i]
	st := &e.st[i]
	// moving average; the sum is recomputed at every wrap to stop drift
	w := len(st.ring)
	j := st.n % w
	st.sum += v - st.ring[j]
	st.ring[j] = v
	st.n++
	if j == w-1 {
		st.sum = 0
		for _, x := range st.ring {
			st.sum += x
		}
	}
	// regulation effect: raw values at regulated positions
	if st.reg != nil && pos >= st.reg.From && pos < st.reg.To {
		st.dur += v
		st.reg.Tokens++
		st.reg.During = st.dur / float64(st.reg.Tokens)
	}
	if st.n < w {
		return evs // window not full yet
	}
	m := st.sum / float64(w)
	st.last, st.hasValue = m, true
	switch st.state {
	case Inactive:
		if !r.past(m, r.Threshold) {
			break
		}
		st.activeN, st.since, st.beforeS, st.beforeN = 0, pos, 0, 0
		st.beforeS += v
		st.beforeN++
		if r.For == 0 {
			evs = e.fire(evs, i, pos, m)
		} else {
			st.state = Pending
			evs = append(evs, e.event(i, EventPending, pos, m))
		}
	case Pending:
		if !r.past(m, r.Threshold) {
			st.state = Inactive
			evs = append(evs, e.event(i, EventInactive, pos, m))
			break
		}
		st.activeN++
		st.beforeS += v
		st.beforeN++
		if st.activeN >= r.For {
			evs = e.fire(evs, i, pos, m)
		}
	case Firing:
		if !r.past(m, r.ClearLevel()) {
			evs = e.resolve(evs, i, pos, m, ReasonCleared)
			break
		}
		if st.reg != nil && pos+1 >= st.reg.To {
			n := r.Action.Tokens
			if pos+1 > st.reg.To { // a gap of unobserved tokens: restart the lease
				st.reg.From = pos + 1
			}
			st.reg.To = pos + 1 + n
			st.reg.Renewals++
			st.reg.Spec = e.leaseSpec(i, st.reg.From, st.reg.To)
			evs = append(evs, e.event(i, EventRenewed, pos, m))
		}
	}
	return evs
}

func (e *Evaluator) fire(evs []Event, i, pos int, m float64) []Event {
	r := &e.rs.rules[i]
	st := &e.st[i]
	st.state = Firing
	st.firedAt = pos
	switch r.Action.Type {
	case Stop:
		e.stopped = true
	case Regulate:
		n := r.Action.Tokens
		st.reg = &Regulation{From: pos + 1, To: pos + 1 + n, Before: st.beforeS / float64(st.beforeN)}
		st.reg.Spec = e.leaseSpec(i, st.reg.From, st.reg.To)
		st.dur = 0
	}
	return append(evs, e.event(i, EventFiring, pos, m))
}

func (e *Evaluator) resolve(evs []Event, i, pos int, m float64, reason string) []Event {
	st := &e.st[i]
	if st.reg != nil && st.reg.To > pos+1 {
		st.reg.To = max(pos+1, st.reg.From)
		st.reg.Spec = e.leaseSpec(i, st.reg.From, st.reg.To)
	}
	ev := e.event(i, EventResolved, pos, m)
	ev.Reason = reason
	st.state, st.reg, st.firedAt = Inactive, nil, -1
	return append(evs, ev)
}

// leaseSpec is the rule's steer restricted to positions [from, to).
func (e *Evaluator) leaseSpec(i, from, to int) steer.Spec {
	sp := e.rs.specs[i]
	if to > from {
		sp.Span = steer.Span{Kind: steer.Ranges, Ranges: []steer.Range{{From: from, To: to - 1}}}
	} else {
		sp.Span = steer.Span{Kind: steer.Ranges} // empty: nothing
	}
	return sp
}

func (e *Evaluator) event(i int, kind EventKind, pos int, m float64) Event {
	r := &e.rs.rules[i]
	st := &e.st[i]
	ev := Event{
		Rule: r.Name, Kind: kind, Pos: pos, Value: m,
		Threshold: r.Threshold, Clear: r.ClearLevel(), Op: r.Op,
		Key: e.rs.keys[e.rs.keyIdx[i]], Window: r.Window,
		Severity: r.Severity, Labels: r.Labels, Action: r.Action.Type,
		Since: st.since, FiredAt: st.firedAt,
	}
	if st.reg != nil {
		reg := *st.reg
		ev.Regulation = &reg
	}
	return ev
}

// Finish ends the sequence at position pos (the last token): every firing
// alert resolves with Reason "ended"; pending ones are dropped silently.
// Later Observe calls are ignored.
func (e *Evaluator) Finish(pos int) []Event {
	if e.done {
		return nil
	}
	e.done = true
	var evs []Event
	for i := range e.st {
		st := &e.st[i]
		switch st.state {
		case Firing:
			evs = e.resolve(evs, i, pos, st.last, ReasonEnded)
		case Pending:
			st.state = Inactive
		}
	}
	return evs
}

// Stopped reports whether a stop rule has fired.
func (e *Evaluator) Stopped() bool { return e.stopped }

// Steers returns the counter-steers whose lease covers pos, in rule order.
// The server calls it before the forward pass of position pos.
func (e *Evaluator) Steers(pos int) []ActiveSteer {
	var out []ActiveSteer
	for i := range e.st {
		if reg := e.st[i].reg; reg != nil && pos >= reg.From && pos < reg.To {
			out = append(out, ActiveSteer{Rule: e.rs.rules[i].Name, Spec: reg.Spec, From: reg.From, To: reg.To})
		}
	}
	return out
}

// RuleStatus is a rule's current state in a sequence, for dashboards.
type RuleStatus struct {
	Rule       string      `json:"rule"`
	State      State       `json:"state"`
	Value      float64     `json:"value"` // last smoothed value (valid when HasValue)
	HasValue   bool        `json:"has_value"`
	Since      int         `json:"since"`
	FiredAt    int         `json:"fired_at"`
	Regulation *Regulation `json:"regulation,omitempty"`
}

// Status returns every rule's current state.
func (e *Evaluator) Status() []RuleStatus {
	out := make([]RuleStatus, len(e.st))
	for i := range e.st {
		st := &e.st[i]
		out[i] = RuleStatus{Rule: e.rs.rules[i].Name, State: st.state, Value: st.last, HasValue: st.hasValue, Since: st.since, FiredAt: st.firedAt}
		if st.reg != nil {
			reg := *st.reg
			out[i].Regulation = &reg
		}
	}
	return out
}
