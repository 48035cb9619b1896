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
// core. A decode step issues a few dozen parallel loops in quick
// succession; a spinning worker joins each at once, where waking a parked
// goroutine costs a sizable share of a small GEMV.
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

// A job is reused once its caller has seen it done (jobFree), while stale
// tickets for it may still sit in poolJobs and spinners may still hold it:
// such a late worker can only claim chunks through state, so it either finds
// the job exhausted or runs chunks of the job the struct now holds, whose
// fn and n were written before state published it.
type job struct {
	fn    func(lo, hi int)
	n     int
	state atomic.Uint64 // chunks<<32 | next chunk to claim
	left  atomic.Int32  // chunks not finished
	done  chan struct{} // receives once, from the last chunk to finish
}

var (
	jobMu   sync.Mutex
	jobFree []*job
)

func getJob() *job {
	jobMu.Lock()
	defer jobMu.Unlock()
	if n := len(jobFree); n > 0 {
		j := jobFree[n-1]
		jobFree = jobFree[:n-1]
		return j
	}
	return &job{done: make(chan struct{}, 1)}
}

func putJob(j *job) {
	j.fn = nil
	jobMu.Lock()
	defer jobMu.Unlock()
	if len(jobFree) < 256 {
		jobFree = append(jobFree, j)
	}
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
		if j := board.Load(); j != nil && j.pending() {
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

// pending reports whether the job has chunks left to claim.
func (j *job) pending() bool {
	s := j.state.Load()
	return uint32(s) < uint32(s>>32)
}

// run claims and runs chunks until none is left.
func (j *job) run() {
	for {
		s := j.state.Load()
		c, chunks := uint32(s), uint32(s>>32)
		if c >= chunks {
			return
		}
		if !j.state.CompareAndSwap(s, s+1) {
			continue
		}
		// The claim keeps the job from being reused until this chunk is
		// counted done, so fn and n are this job's.
		lo := int(int64(c) * int64(j.n) / int64(chunks))
		hi := int(int64(c+1) * int64(j.n) / int64(chunks))
		j.fn(lo, hi)
		if j.left.Add(-1) == 0 {
			j.done <- struct{}{}
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
	j := getJob()
	j.fn, j.n = fn, n
	j.left.Store(int32(chunks))
	j.state.Store(uint64(chunks) << 32)
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
	putJob(j)
}

// Loop is a parallel loop body over arguments of type A that runs without
// allocating: a closure handed to ParallelFor escapes to the heap, so Run
// instead takes a pooled task whose ParallelFor function was bound once,
// when the task was made, and sets its arguments. Declare one Loop per body,
// as a package variable:
//
//	var scaleLoop = kernels.Loop[scaleArgs]{Body: func(a *scaleArgs, lo, hi int) { … }}
//	scaleLoop.Run(n, grain, scaleArgs{x: x, s: s})
type Loop[A any] struct {
	Body func(a *A, lo, hi int)
	pool sync.Pool
}

type loopTask[A any] struct {
	args A
	fn   func(lo, hi int)
}

// Run calls Body over [0, n) split like ParallelFor, with args.
func (l *Loop[A]) Run(n, grain int, args A) {
	t, _ := l.pool.Get().(*loopTask[A])
	if t == nil {
		t = new(loopTask[A])
		t.fn = func(lo, hi int) { l.Body(&t.args, lo, hi) }
	}
	t.args = args
	ParallelFor(n, grain, t.fn)
	var zero A
	t.args = zero // drop the references
	l.pool.Put(t)
}
