package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/science/vecpack"
	"github.com/limbic-dev/limbic/serve/monitor"
	"github.com/limbic-dev/limbic/serve/telemetry"
)

// watch evaluates a rules file over one generated sequence (generate
// --rules): the readout at every position, the rules token by token, their
// stop and regulate actions; webhooks are delivered when the sequence ends.
type watch struct {
	rules     *monitor.RuleSet
	seq       *telemetry.Sequence
	promptLen int
	n         int             // tokens emitted
	events    []monitor.Event // every alert event, in order
	log       io.Writer       // alerts as they happen (nil: none)
}

// newWatch loads the rules, checks them against the pack and adds the
// sequence's hooks (counter-steers, readers) to hs.
func newWatch(path string, m *model.Model, pack *vecpack.Pack, hs *hook.Set, promptLen int, log io.Writer) (*watch, error) {
	rules, err := monitor.LoadRules(path)
	if err != nil {
		return nil, err
	}
	tel, err := telemetry.New(pack, telemetry.Options{NLayers: m.Layers, Dim: m.Dim, Rules: rules})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seq, err := tel.NewSequence(hs, telemetry.SequenceOptions{Layer: -1, PromptLen: promptLen})
	if err != nil {
		return nil, err
	}
	return &watch{rules: tel.Rules(), seq: seq, promptLen: promptLen, log: log}, nil
}

// token evaluates the positions read up to the one t was sampled from and
// reports whether t may be emitted (false: a stop rule fired).
func (w *watch) token(t model.Token) bool {
	st := w.seq.Advance(w.promptLen - 1 + w.n)
	w.record(st.Alerts)
	if st.Stop {
		return false
	}
	if !t.Stop {
		w.n++
	}
	return true
}

// finish resolves what still fires at the last token and delivers the
// webhooks of the sequence's alerts.
func (w *watch) finish(ctx context.Context) {
	w.record(w.seq.Finish(w.promptLen - 1 + w.n))
	var n *monitor.Notifier
	for i, e := range w.events {
		if !e.Notify() {
			continue
		}
		rule, ok := w.rules.Rule(e.Rule)
		if !ok {
			continue
		}
		d, err := monitor.NewDelivery(rule, monitor.Payload{ID: int64(i + 1), Model: "limbic generate", Time: time.Now(), Event: e})
		if err != nil {
			w.logf("webhook of %s: %v\n", e.Rule, err)
			continue
		}
		if n == nil {
			n = monitor.NewNotifier()
		}
		if r := n.Send(ctx, d); r.Err != nil {
			w.logf("webhook of %s %s at %d: %v after %d attempts\n", e.Rule, e.Kind, e.Pos, r.Err, r.Attempts)
		}
	}
}

func (w *watch) record(evs []monitor.Event) {
	for _, e := range evs {
		w.events = append(w.events, e)
		w.logf("\nalert: %s %s at position %d: %s %s %.3g (threshold %.3g), action %s\n",
			e.Rule, e.Kind, e.Pos, e.Key, e.Op, e.Value, e.Threshold, e.Action)
	}
}

func (w *watch) logf(format string, a ...any) {
	if w.log != nil {
		fmt.Fprintf(w.log, format, a...)
	}
}
