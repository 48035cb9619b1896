package trainwatch

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/engine/format/hfdir"
)

// TestConcurrentWriterNeverTorn: a writer puts a checkpoint in place file
// by file, the marker first and the weights (sharded) in small chunks,
// while the watcher polls as fast as it can. The checkpoint is recorded
// exactly once, and what is recorded equals the evaluation of the finished
// checkpoint.
func TestConcurrentWriterNeverTorn(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	done := e.write(t, src, 20, 0.03, hfdir.MaxShardBytes(16<<20))
	run := t.TempDir()
	e.write(t, run, 10, 0)

	// The reference: the finished checkpoint evaluated alone.
	ev, err := NewEvaluator(e.pack, EvalOptions{Probes: fewProbes})
	if err != nil {
		t.Fatal(err)
	}
	ld, err := (&Loader{Base: e.base}).Load(context.Background(), Checkpoint{Dir: done, Kind: Full})
	if err != nil {
		t.Fatal(err)
	}
	want, err := ev.Evaluate(context.Background(), ld.Model, ld.Tok)
	ld.Close()
	if err != nil {
		t.Fatal(err)
	}

	ents, err := os.ReadDir(done)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range ents {
		names = append(names, en.Name())
	}
	// The worst order: the marker and the index first, shards last.
	rank := func(n string) int {
		switch {
		case n == MarkerFile:
			return 0
		case n == IndexFile:
			return 1
		case filepath.Ext(n) == ".safetensors":
			return 3
		}
		return 2
	}
	sort.SliceStable(names, func(i, j int) bool { return rank(names[i]) < rank(names[j]) })
	dst := filepath.Join(run, "checkpoint-20")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs []string
	w, db := e.watcher(t, run, filepath.Join(t.TempDir(), "watch.db"), watchSetup{logs: &logs})
	if n, err := w.Poll(context.Background()); err != nil || n != 1 {
		t.Fatalf("checkpoint-10: %d, %v", n, err)
	}
	writerDone := make(chan error, 1)
	go func() {
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(done, n))
			if err != nil {
				writerDone <- err
				return
			}
			f, err := os.Create(filepath.Join(dst, n))
			if err != nil {
				writerDone <- err
				return
			}
			for off := 0; off < len(b); off += 1 << 20 {
				if _, err := f.Write(b[off:min(off+1<<20, len(b))]); err != nil {
					writerDone <- err
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := f.Close(); err != nil {
				writerDone <- err
				return
			}
		}
		writerDone <- nil
	}()

	polls := 0
	for finished := false; !finished; {
		select {
		case err := <-writerDone:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		if _, err := w.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		polls++
	}
	if _, err := w.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := db.Results(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Result.Step != 10 || st[1].Result.Step != 20 {
		t.Fatalf("stored %d results, want steps 10 and 20; logs %q", len(st), logs[max(0, len(logs)-5):])
	}
	got := st[1].Result.Layers[0]
	for j := range got.Z {
		if !(math.Abs(got.Z[j]-want.Layers[0].Z[j]) <= 1e-9) {
			t.Errorf("emotion %s: recorded z %g, the finished checkpoint reads %g", got.Emotions[j], got.Z[j], want.Layers[0].Z[j])
		}
	}
	t.Logf("%d polls while writing, %d torn reads logged", polls, len(logs))
	if len(logs) != 0 { // the scan let a partial checkpoint through to the loader
		t.Errorf("torn reads: %q", logs)
	}
	if polls < 3 {
		t.Errorf("only %d polls during the write: the test did not race the writer", polls)
	}
}
