package monitor

import (
	"testing"
)

func TestEvaluatorAPI(t *testing.T) {
	rules, err := ParseRules([]byte(`
- {name: hook, emotion: angry, op: ">", threshold: 1, action: {type: webhook, url: "http://127.0.0.1:1/h"}}
- {name: halt, emotion: angry, op: ">", threshold: 5, action: {type: stop}}
- {name: calm, emotion: angry, op: ">", threshold: 1, window: 2, action: {type: regulate, steer: calm=0.05, tokens: 3}}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := NewRuleSet(rules, 7)
	if err != nil {
		t.Fatal(err)
	}
	ev := rs.NewEvaluator()
	obs := func(pos int, v float64) []Event {
		return ev.Observe(Sample{Pos: pos, Generated: true, Value: Values{{Emotion: "angry", Layer: 7, Stat: Z}: v}.Get})
	}
	if got := ev.Status(); len(got) != 3 || got[0].State != Inactive || got[0].HasValue || got[2].FiredAt != -1 {
		t.Errorf("initial Status = %+v", got)
	}
	evs := obs(0, 2)
	if len(evs) != 1 || evs[0].Rule != "hook" || !evs[0].Notify() || evs[0].Stop() || evs[0].Key.Layer != 7 {
		t.Fatalf("pos 0: %+v", evs)
	}
	if evs := obs(0, 9); evs != nil {
		t.Errorf("a repeated position was evaluated: %+v", evs)
	}
	evs = obs(1, 9)
	if len(evs) != 2 || evs[0].Rule != "halt" || !evs[0].Stop() || evs[1].Rule != "calm" || evs[1].Regulation == nil || !ev.Stopped() {
		t.Fatalf("pos 1: %+v, stopped %v", evs, ev.Stopped())
	}
	st := ev.Status()
	if st[2].State != Firing || st[2].Value != 5.5 || st[2].Regulation == nil || st[2].Regulation.From != 2 || st[2].Regulation.To != 5 {
		t.Errorf("Status after firing = %+v", st[2])
	}
	steers := ev.Steers(2)
	if len(steers) != 1 || steers[0].Spec.Emotion != "calm" || steers[0].Spec.Strength != 0.05 || steers[0].From != 2 || steers[0].To != 5 {
		t.Errorf("Steers(2) = %+v", steers)
	}
	evs = ev.Finish(1)
	if len(evs) != 3 {
		t.Fatalf("Finish = %+v", evs)
	}
	for _, e := range evs {
		if e.Kind != EventResolved || e.Reason != ReasonEnded {
			t.Errorf("Finish event %+v", e)
		}
		if e.Rule == "hook" && !e.Notify() {
			t.Error("a resolved webhook event is not notified")
		}
	}
	if ev.Steers(2) != nil || obs(2, 9) != nil || ev.Finish(2) != nil {
		t.Error("the evaluator still acts after Finish")
	}
}

func BenchmarkObserve(b *testing.B) {
	rs, err := NewRuleSet(DefaultRules(), 10)
	if err != nil {
		b.Fatal(err)
	}
	ev := rs.NewEvaluator()
	vals := func(k Key) (float64, bool) { return 0.5, true }
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Observe(Sample{Pos: i, Generated: true, Value: vals})
	}
}
