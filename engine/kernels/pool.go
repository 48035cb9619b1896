package kernels

import (
	"runtime"
	"sync"
)

// The worker pool: persistent goroutines, one per GOMAXPROCS, fed by a
// channel. ParallelFor never spawns goroutines per call.
var (
	poolOnce sync.Once
	poolJobs chan func()
	nWorkers int
)

func startPool() {
	nWorkers = runtime.GOMAXPROCS(0)
	poolJobs = make(chan func(), 4*nWorkers)
	for i := 0; i < nWorkers; i++ {
		go func() {
			for f := range poolJobs {
				f()
			}
		}()
	}
}

// Workers returns the number of pool workers.
func Workers() int {
	poolOnce.Do(startPool)
	return nWorkers
}

// ParallelFor calls fn over [0, n) split into contiguous chunks of at least
// grain items, spread over the pool and the calling goroutine, and returns
// when all are done. fn must be safe to call concurrently on disjoint ranges.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	w := Workers()
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	if chunks > w {
		chunks = w
	}
	if chunks <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Add(chunks - 1)
	for c := 1; c < chunks; c++ {
		lo, hi := c*n/chunks, (c+1)*n/chunks
		poolJobs <- func() { fn(lo, hi); wg.Done() }
	}
	fn(0, n/chunks)
	wg.Wait()
}
