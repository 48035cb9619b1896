package model

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/limbic-dev/limbic/engine/arch"
)

// refGenerate is Generate's decode loop as it was before sampling went
// parallel: each live sequence sampled (by the reference sampler), told to
// onToken and appended in turn. The forward calls see the same batches, so
// the logits are the same and the tokens must be too.
func refGenerate(t *testing.T, m *arch.Transformer, reqs []Request, onToken func(Token) bool) []Result {
	t.Helper()
	res := make([]Result, len(reqs))
	seqs := make([]*arch.Seq, len(reqs))
	samplers := make([]*refSampler, len(reqs))
	for i, r := range reqs {
		c := m.NewCache()
		reserve(c, r)
		seqs[i] = &arch.Seq{Cache: c}
		samplers[i] = newRefSampler(r.Sampling)
	}
	if err := Prefill(context.Background(), m, seqs, reqs); err != nil {
		t.Fatal(err)
	}
	var live []int
	for i := range reqs {
		live = append(live, i)
	}
	one := make([]int, len(reqs))
	for len(live) > 0 {
		next := live[:0]
		for _, i := range live {
			s := seqs[i]
			id, reason := nextToken(i, &reqs[i], samplers[i].sample(s.Out), s, &res[i], m.MaxSeq, onToken)
			if reason != "" {
				res[i].Reason = reason
				continue
			}
			one[i] = id
			s.Tokens = one[i : i+1 : i+1]
			s.Logits = arch.LastLogits
			next = append(next, i)
		}
		live = next
		if len(live) == 0 {
			break
		}
		var step []*arch.Seq
		for _, i := range live {
			step = append(step, seqs[i])
		}
		if err := m.Forward(step); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

// TestGenerateMatchesSerialSampling: Generate, which samples the live
// sequences in parallel, gives the same tokens, stop reasons and callback
// order as the serial reference, for several batch sizes, seeds and
// settings (temperature only, top-k, top-p, greedy, stop ids, a callback
// that ends a sequence).
func TestGenerateMatchesSerialSampling(t *testing.T) {
	m := models(t)["llama2c"].Transformer
	settings := []Sampling{{Temp: 1}, {Temp: 0.7, TopK: 40}, {Temp: 1, TopP: 0.9}, {}, {Temp: 1.3}}
	reasons := map[string]int{}
	for _, n := range []int{1, 3, 8, 32} {
		for round := 0; round < 2; round++ {
			reqs := make([]Request, n)
			for i := range reqs {
				st := settings[(i+round)%len(settings)]
				st.Seed = uint64(1000*round + 17*i + n)
				reqs[i] = Request{Prompt: []int{1, 300 + 7*i + round, 600}, Max: 6 + (i*5+round)%17, Sampling: st}
				if i%4 == 1 {
					reqs[i].Stop = []int{13, 29889, 2} // newline, period, EOS: some sequences stop early
				}
			}
			record := func(calls *[]tokenCall) func(Token) bool {
				return func(tk Token) bool {
					*calls = append(*calls, tokenCall{tk.Seq, tk.ID, tk.Stop})
					// Sequence 2 is ended by its callback at its 4th token.
					return !(tk.Seq == 2 && countSeq(*calls, 2) == 4)
				}
			}
			var wantCalls, gotCalls []tokenCall
			want := refGenerate(t, m, reqs, record(&wantCalls))
			got, err := Generate(context.Background(), m, reqs, record(&gotCalls))
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("n=%d round=%d", n, round)
			for i := range reqs {
				if !slices.Equal(got[i].IDs, want[i].IDs) || got[i].Reason != want[i].Reason {
					t.Errorf("%s request %d (%+v): got %v %q, want %v %q", name, i, reqs[i].Sampling, got[i].IDs, got[i].Reason, want[i].IDs, want[i].Reason)
				}
			}
			if !slices.Equal(gotCalls, wantCalls) {
				t.Errorf("%s: callback order differs:\n got %v\nwant %v", name, gotCalls, wantCalls)
			}
			if n > 2 && want[2].Reason != StopCanceled {
				t.Errorf("%s: request 2 ended with %q, want %q (its callback ends it)", name, want[2].Reason, StopCanceled)
			}
			for i := range want {
				reasons[want[i].Reason]++
			}
		}
	}
	if reasons[StopEOS] == 0 || reasons[StopLength] == 0 {
		t.Errorf("stop reasons %v: want some sequences ended by a stop id and some by length", reasons)
	}
}

// tokenCall is one onToken call as the test records it.
type tokenCall struct {
	Seq, ID int
	Stop    bool
}

func countSeq(calls []tokenCall, seq int) int {
	n := 0
	for _, c := range calls {
		if c.Seq == seq {
			n++
		}
	}
	return n
}
