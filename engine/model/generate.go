package model

import (
	"context"
	"fmt"
	"slices"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/kernels"
)

// PrefillChunk is the most prompt rows one forward call takes; longer
// prompts (or many prompts) are processed in several calls.
const PrefillChunk = 512

// Request is one sequence to generate.
type Request struct {
	Prompt   []int       // prompt ids (with BOS when wanted)
	Max      int         // most new tokens
	Sampling Sampling    // per-sequence sampling and seed
	Stop     []int       // ids that end the sequence; the stop id is not part of IDs
	Hooks    *hook.Set   // hooks for the whole generation (prompt and new tokens)
	Cache    *arch.Cache // optional: a cache whose positions precede Prompt; nil = fresh
}

// Stop reasons.
const (
	StopEOS      = "stop"     // a stop id was sampled
	StopLength   = "length"   // Max tokens generated
	StopContext  = "context"  // the context window is full
	StopCanceled = "canceled" // the callback or the context ended it
)

// Result is one sequence's outcome.
type Result struct {
	IDs    []int  // generated ids, without the stop id
	Reason string // one of the Stop* constants
	Cache  *arch.Cache
}

// Token is passed to the per-token callback.
type Token struct {
	Seq    int       // request index
	ID     int       // sampled id (a stop id too, before the sequence ends)
	Stop   bool      // the id is a stop id: the sequence ends without emitting it
	Logits []float32 // the distribution it was sampled from (valid during the call)
}

// Generate runs the requests together: prompts are prefilled in chunks, then
// every live sequence decodes one token per forward call. onToken (may be
// nil) sees each sampled token; returning false ends that sequence
// (StopCanceled). Canceling ctx ends all of them.
func Generate(ctx context.Context, m *arch.Transformer, reqs []Request, onToken func(Token) bool) ([]Result, error) {
	res := make([]Result, len(reqs))
	samplers := make([]*Sampler, len(reqs))
	seqs := make([]*arch.Seq, len(reqs))
	for i, r := range reqs {
		if err := r.Sampling.Validate(); err != nil {
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
		if len(r.Prompt) == 0 {
			return nil, fmt.Errorf("request %d: empty prompt (at least one token is needed to predict the next)", i)
		}
		c := r.Cache
		if c == nil {
			c = m.NewCache()
		}
		if n := c.Len() + len(r.Prompt); n > m.MaxSeq {
			return nil, fmt.Errorf("request %d: prompt of %d tokens exceeds the context length of %d", i, n, m.MaxSeq)
		}
		reserve(c, r)
		res[i].Cache = c
		samplers[i] = NewSampler(r.Sampling)
		seqs[i] = &arch.Seq{Cache: c, Hooks: r.Hooks}
	}
	if err := Prefill(ctx, m, seqs, reqs); err != nil {
		return nil, err
	}
	live := make([]int, 0, len(reqs))
	for i := range reqs {
		live = append(live, i)
	}
	step := make([]*arch.Seq, 0, len(reqs))
	one := make([]int, len(reqs)) // backing store of each sequence's decode token
	ids := make([]int, len(reqs))
	errs := make([]error, len(reqs))
	// Sampling (a softmax over the vocabulary per sequence) runs in parallel
	// over the live sequences; each sampler belongs to one sequence, so the
	// draws do not depend on the split.
	sample := func(lo, hi int) {
		for _, i := range live[lo:hi] {
			ids[i], errs[i] = samplers[i].Sample(seqs[i].Out)
		}
	}
	for len(live) > 0 {
		if ctx.Err() == nil {
			kernels.ParallelFor(len(live), 1, sample)
		}
		// Callbacks, stops and appends in request order, as if each
		// sequence had been sampled just before its turn.
		next := live[:0]
		for _, i := range live {
			if ctx.Err() != nil {
				res[i].Reason = StopCanceled
				continue
			}
			if errs[i] != nil {
				return nil, fmt.Errorf("request %d, new token %d: %w", i, len(res[i].IDs), errs[i])
			}
			s := seqs[i]
			id, reason := nextToken(i, &reqs[i], ids[i], s, &res[i], m.MaxSeq, onToken)
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
		step = step[:0]
		for _, i := range live {
			step = append(step, seqs[i])
		}
		if err := m.Forward(step); err != nil {
			return nil, err
		}
	}
	return res, ctx.Err()
}

// nextToken takes id, sampled from sequence seq's last logits (s.Out),
// tells onToken, appends it to res, and returns it with "" when the
// sequence goes on, or with the reason it ends (a stop id is not appended).
func nextToken(seq int, r *Request, id int, s *arch.Seq, res *Result, maxSeq int, onToken func(Token) bool) (int, string) {
	stop := slices.Contains(r.Stop, id)
	if onToken != nil && !onToken(Token{Seq: seq, ID: id, Stop: stop, Logits: s.Out}) {
		return id, StopCanceled
	}
	if stop {
		return id, StopEOS
	}
	res.IDs = append(res.IDs, id)
	switch {
	case len(res.IDs) >= r.Max:
		return id, StopLength
	case s.Cache.Len()+1 > maxSeq:
		return id, StopContext
	}
	return id, ""
}

// Prefill runs each request's prompt through the model in chunks of at most
// PrefillChunk rows per forward call, leaving the last position's logits in
// seqs[i].Out. seqs[i] carries the cache and hooks.
func Prefill(ctx context.Context, m *arch.Transformer, seqs []*arch.Seq, reqs []Request) error {
	return prefill(ctx, m, seqs, reqs, arch.LastLogits)
}

// PrefillOnly is Prefill without logits (hooks still see every position):
// the extraction path.
func PrefillOnly(ctx context.Context, m *arch.Transformer, seqs []*arch.Seq, reqs []Request) error {
	return prefill(ctx, m, seqs, reqs, arch.NoLogits)
}

func prefill(ctx context.Context, m *arch.Transformer, seqs []*arch.Seq, reqs []Request, last arch.Logits) error {
	done := make([]int, len(reqs)) // prompt tokens prefilled per request
	for {
		var batch []*arch.Seq
		budget := PrefillChunk
		for i, r := range reqs {
			left := len(r.Prompt) - done[i]
			if left <= 0 || budget == 0 {
				continue
			}
			take := min(left, budget)
			s := seqs[i]
			s.Tokens = r.Prompt[done[i] : done[i]+take]
			s.Logits = arch.NoLogits
			if take == left {
				s.Logits = last
			}
			done[i] += take
			budget -= take
			batch = append(batch, s)
		}
		if len(batch) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := m.Forward(batch); err != nil {
			return err
		}
	}
}

// reserve sizes a request's cache for its prompt and up to 1024 new tokens
// at once (rather than doubling as it fills); longer budgets grow on demand,
// so a large max_tokens does not hold memory a short answer never uses.
func reserve(c *arch.Cache, r Request) {
	c.Reserve(c.Len() + len(r.Prompt) + min(r.Max, 1024))
}
