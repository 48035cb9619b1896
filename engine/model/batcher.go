package model

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/limbic-dev/limbic/engine/arch"
)

// Batcher decodes requests that arrive at any time together (continuous
// batching): one goroutine owns the model; every step it admits waiting
// requests, runs one forward call with a chunk of each new prompt and one
// token of each decoding sequence, and samples. A request whose client goes
// away (its context ends, or its callback returns false) leaves the batch at
// the next step.
type Batcher struct {
	m    *arch.Transformer
	o    BatcherOptions
	jobs chan *job

	mu      sync.Mutex
	waiting int
	active  int
	closed  bool
	done    chan struct{}
}

// BatcherOptions configure a Batcher.
type BatcherOptions struct {
	MaxSeqs     int // most sequences in a step (default 16)
	PrefillRows int // most prompt rows per step (default 256), so decoding sequences are not starved
	// OnStep, if set, is called after every step (on the batcher goroutine).
	OnStep func(StepStats)
}

// StepStats describe one batcher step.
type StepStats struct {
	Seqs        int           // sequences in the forward call
	PrefillRows int           // prompt rows
	DecodeRows  int           // generated-token rows
	Waiting     int           // requests not yet admitted
	Duration    time.Duration // forward and sampling time
}

type job struct {
	ctx     context.Context
	req     Request
	onToken func(Token) bool
	done    chan Result
	err     error

	seq     *arch.Seq
	sampler *Sampler
	fed     int // prompt tokens fed
	res     Result
	next    [1]int
}

// ErrClosed is returned for requests submitted to a closed batcher.
var ErrClosed = errors.New("batcher closed")

// NewBatcher starts a batcher on m. Close stops it.
func NewBatcher(m *arch.Transformer, o BatcherOptions) *Batcher {
	if o.MaxSeqs <= 0 {
		o.MaxSeqs = 16
	}
	if o.PrefillRows <= 0 {
		o.PrefillRows = 256
	}
	b := &Batcher{m: m, o: o, jobs: make(chan *job), done: make(chan struct{})}
	go b.loop()
	return b
}

// Close stops the batcher after failing the requests in flight with ErrClosed.
func (b *Batcher) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	close(b.jobs)
	<-b.done
}

// Load returns the number of waiting and active requests.
func (b *Batcher) Load() (waiting, active int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiting, b.active
}

// Generate submits a request and waits for it. onToken (may be nil) is
// called on the batcher goroutine for every sampled token and must return
// quickly; returning false ends the request (StopCanceled). Canceling ctx
// ends it too.
func (b *Batcher) Generate(ctx context.Context, req Request, onToken func(Token) bool) (Result, error) {
	if err := req.Sampling.Validate(); err != nil {
		return Result{}, err
	}
	if len(req.Prompt) == 0 {
		return Result{}, fmt.Errorf("empty prompt (at least one token is needed to predict the next)")
	}
	c := req.Cache
	if c == nil {
		c = b.m.NewCache()
	}
	if n := c.Len() + len(req.Prompt); n > b.m.MaxSeq {
		return Result{}, fmt.Errorf("prompt of %d tokens exceeds the context length of %d", n, b.m.MaxSeq)
	}
	for i, t := range req.Prompt {
		if t < 0 || t >= b.m.Vocab {
			return Result{}, fmt.Errorf("prompt token %d at index %d is outside the vocabulary [0, %d)", t, i, b.m.Vocab)
		}
	}
	reserve(c, req)
	j := &job{ctx: ctx, req: req, onToken: onToken, done: make(chan Result, 1),
		seq: &arch.Seq{Cache: c, Hooks: req.Hooks}, sampler: NewSampler(req.Sampling)}
	j.res.Cache = c
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return Result{}, ErrClosed
	}
	b.waiting++
	b.mu.Unlock()
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		b.mu.Lock()
		b.waiting--
		b.mu.Unlock()
		return Result{Reason: StopCanceled}, ctx.Err()
	}
	r := <-j.done
	return r, j.err
}

func (b *Batcher) loop() {
	defer close(b.done)
	var queue, active []*job
	open := true
	for open || len(queue) > 0 || len(active) > 0 {
		// Wait for work when idle; otherwise take what has arrived.
		if len(queue) == 0 && len(active) == 0 {
			j, ok := <-b.jobs
			if !ok {
				return
			}
			queue = append(queue, j)
		}
	drain:
		for open {
			select {
			case j, ok := <-b.jobs:
				if !ok {
					open = false
					break drain
				}
				queue = append(queue, j)
			default:
				break drain
			}
		}
		if !open {
			for _, j := range active {
				b.finish(j, StopCanceled, ErrClosed)
			}
			for _, j := range queue {
				b.mu.Lock()
				b.waiting--
				b.mu.Unlock()
				j.err, j.res.Reason = ErrClosed, StopCanceled
				j.done <- j.res
			}
			return
		}
		// Admit waiting requests.
		for len(active) < b.o.MaxSeqs && len(queue) > 0 {
			active = append(active, queue[0])
			queue[0] = nil // let finished jobs be collected
			queue = queue[1:]
			b.mu.Lock()
			b.waiting--
			b.active++
			b.mu.Unlock()
		}
		active = b.step(active, len(queue))
	}
}

// step runs one forward call over the active jobs and returns those still running.
func (b *Batcher) step(active []*job, waiting int) []*job {
	start := time.Now()
	var batch []*arch.Seq
	var in []*job
	budget := b.o.PrefillRows
	st := StepStats{Waiting: waiting}
	live := active[:0]
	for _, j := range active {
		if err := j.ctx.Err(); err != nil {
			b.finish(j, StopCanceled, err)
			continue
		}
		live = append(live, j)
		s := j.seq
		if left := len(j.req.Prompt) - j.fed; left > 0 {
			if budget == 0 {
				continue
			}
			take := min(left, budget)
			s.Tokens = j.req.Prompt[j.fed : j.fed+take]
			s.Logits = arch.NoLogits
			if take == left {
				s.Logits = arch.LastLogits
			}
			j.fed += take
			budget -= take
			st.PrefillRows += take
		} else {
			s.Tokens = j.next[:]
			s.Logits = arch.LastLogits
			st.DecodeRows++
		}
		batch = append(batch, s)
		in = append(in, j)
	}
	clear(active[len(live):]) // drop references to canceled jobs
	active = live
	if len(batch) == 0 {
		return active
	}
	if err := b.m.Forward(batch); err != nil {
		for _, j := range in {
			b.finish(j, StopCanceled, err)
		}
		return slices.DeleteFunc(active, func(j *job) bool { return slices.Contains(in, j) })
	}
	ended := map[*job]bool{}
	for _, j := range in {
		if j.seq.Logits != arch.LastLogits {
			continue // mid-prompt
		}
		id, err := j.sampler.Sample(j.seq.Out)
		if err != nil {
			b.finish(j, StopCanceled, fmt.Errorf("new token %d: %w", len(j.res.IDs), err))
			ended[j] = true
			continue
		}
		id, reason := nextToken(0, &j.req, id, j.seq, &j.res, b.m.MaxSeq, j.onToken)
		if reason != "" {
			b.finish(j, reason, nil)
			ended[j] = true
			continue
		}
		j.next[0] = id
	}
	st.Seqs = len(batch)
	st.Duration = time.Since(start)
	if b.o.OnStep != nil {
		b.o.OnStep(st)
	}
	return slices.DeleteFunc(active, func(j *job) bool { return ended[j] })
}

func (b *Batcher) finish(j *job, reason string, err error) {
	b.mu.Lock()
	b.active--
	b.mu.Unlock()
	j.res.Reason = reason
	j.err = err
	j.done <- j.res
}
