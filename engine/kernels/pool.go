package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The worker pool: persistent goroutines, one per GOMAXPROCS (read once, at
// first use), fed job tickets through a channel. ParallelFor never spawns
// goroutines.
//
// A job is split into chunks that are claimed with an atomic counter by
// whoever gets there first: the calling goroutine always claims chunks too,
// and it only ever waits for chunks that another goroutine is already
// running. So:
//   - several goroutines may call ParallelFor at once (their jobs share the
//     workers; each caller finishes its own job even if no worker is free);
//   - ParallelFor may be nested (called from inside a chunk): the inner call
//     runs on the calling worker plus any idle ones and cannot deadlock;
//   - tickets are sent without blocking: when the queue is full the caller
//     simply does more of the work itself.
var (
	poolOnce sync.Once
	poolJobs chan *job
	nWorkers int
)

type job struct {
	fn     func(lo, hi int)
	n      int
	chunks int32
	next   atomic.Int32
	left   atomic.Int32
	done   chan struct{}
}

func startPool() {
	nWorkers = runtime.GOMAXPROCS(0)
	poolJobs = make(chan *job, 64*nWorkers)
	for i := 0; i < nWorkers; i++ {
		go func() {
			for j := range poolJobs {
				j.run()
			}
		}()
	}
}

// run claims and runs chunks until none is left.
func (j *job) run() {
	for {
		c := j.next.Add(1) - 1
		if c >= j.chunks {
			return
		}
		lo := int(int64(c) * int64(j.n) / int64(j.chunks))
		hi := int(int64(c+1) * int64(j.n) / int64(j.chunks))
		j.fn(lo, hi)
		if j.left.Add(-1) == 0 {
			close(j.done)
		}
	}
}

// Workers returns the number of pool workers (GOMAXPROCS at first use).
func Workers() int {
	poolOnce.Do(startPool)
	return nWorkers
}

// ParallelFor calls fn over [0, n) split into contiguous chunks of at least
// grain items (at most 4 per worker), spread over the pool and the calling
// goroutine, and returns when all are done. fn must be safe to call
// concurrently on disjoint ranges. It may be called concurrently and nested.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	w := Workers()
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	if chunks > 4*w {
		chunks = 4 * w
	}
	if chunks <= 1 || w <= 1 {
		fn(0, n)
		return
	}
	j := &job{fn: fn, n: n, chunks: int32(chunks), done: make(chan struct{})}
	j.left.Store(int32(chunks))
	tickets := chunks - 1
	if tickets > w {
		tickets = w
	}
send:
	for i := 0; i < tickets; i++ {
		select {
		case poolJobs <- j:
		default:
			break send
		}
	}
	j.run()
	// Chunks still out are running on other goroutines: spin briefly (they
	// are usually about to finish), then block.
	for i := 0; i < 64 && j.left.Load() != 0; i++ {
		runtime.Gosched()
	}
	<-j.done
}
