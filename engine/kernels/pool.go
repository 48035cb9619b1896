package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The worker pool: persistent goroutines, one per GOMAXPROCS (read once, at
// first use). ParallelFor never spawns goroutines.
//
// A job is split into chunks that are claimed with an atomic counter by
// whoever gets there first: the calling goroutine always claims chunks too,
// and it only ever waits for chunks that another goroutine is already
// running. So:
//   - several goroutines may call ParallelFor at once (their jobs share the
//     workers; each caller finishes its own job even if no worker is free);
//   - ParallelFor may be nested (called from inside a chunk): the inner call
//     runs on the calling worker plus any idle ones and cannot deadlock;
//   - helpers are asked without blocking: when none is free the caller
//     simply does more of the work itself.
//
// Workers find jobs in two ways. A worker that has just finished a chunk
// spins for up to spinTime, watching the board (the newest job) and the
// ticket channel; at most GOMAXPROCS-1 spin at once, so the caller keeps a
// core. A decode step issues a few dozen parallel loops a few microseconds
// apart, and a spinning worker joins each within a microsecond, where waking
// a parked goroutine takes several (it was a third of a small GEMV's time).
// A worker that saw no work for spinTime parks on the channel, and callers
// send it tickets only when too few workers are spinning: an idle process
// burns no CPU after spinTime.
var (
	poolOnce sync.Once
	poolJobs chan *job
	nWorkers int
	maxSpin  int32
	board    atomic.Pointer[job] // newest job, for spinning workers
	spinners atomic.Int32        // workers spinning (or running a job found while spinning)
)

const spinTime = 100 * time.Microsecond

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
	maxSpin = int32(nWorkers - 1)
	poolJobs = make(chan *job, 64*nWorkers)
	for i := 0; i < nWorkers; i++ {
		go worker()
	}
}

func worker() {
	for {
		if spinners.Add(1) <= maxSpin {
			spin()
		}
		spinners.Add(-1)
		(<-poolJobs).run()
	}
}

// spin runs whatever work shows up until spinTime passes without any.
func spin() {
	last := time.Now()
	for {
		if j := board.Load(); j != nil && j.next.Load() < j.chunks {
			j.run()
			last = time.Now()
			continue
		}
		select {
		case j := <-poolJobs:
			j.run()
			last = time.Now()
			continue
		default:
		}
		if time.Since(last) > spinTime {
			return
		}
		runtime.Gosched()
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
	board.Store(j)
	tickets := min(chunks-1, w) - int(spinners.Load())
send:
	for i := 0; i < tickets; i++ {
		select {
		case poolJobs <- j:
		default:
			break send
		}
	}
	j.run()
	board.CompareAndSwap(j, nil)
	// Chunks still out are running on other goroutines: spin briefly (they
	// are usually about to finish), then block.
	for i := 0; i < 64 && j.left.Load() != 0; i++ {
		runtime.Gosched()
	}
	<-j.done
}
