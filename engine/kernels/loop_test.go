package kernels

import (
	"sync"
	"sync/atomic"
	"testing"
)

type countArgs struct{ hits []atomic.Int32 }

var countLoop = Loop[countArgs]{Body: func(a *countArgs, lo, hi int) {
	for i := lo; i < hi; i++ {
		a.hits[i].Add(1)
	}
}}

// TestLoopCoversEachIndexOnce runs loops from several goroutines at once, so
// that pooled jobs are reused while stale tickets for them are still out,
// and checks that every index of every loop ran exactly once.
func TestLoopCoversEachIndexOnce(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for it := 0; it < 300; it++ {
				n := 1 + (it*37+g*11)%500
				hits := make([]atomic.Int32, n)
				countLoop.Run(n, 3, countArgs{hits: hits})
				for i := range hits {
					if got := hits[i].Load(); got != 1 {
						select {
						case errs <- "index ran more or less than once":
						default:
						}
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestLoopAllocatesNothing: a parallel loop run through a Loop, split over
// the pool, makes no heap allocation once warm.
func TestLoopAllocatesNothing(t *testing.T) {
	hits := make([]atomic.Int32, 4096)
	args := countArgs{hits: hits}
	countLoop.Run(len(hits), 1, args)
	if got := testing.AllocsPerRun(50, func() { countLoop.Run(len(hits), 1, args) }); got != 0 {
		t.Errorf("Loop.Run: %v allocations, want 0", got)
	}
}
