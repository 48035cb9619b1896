package model

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestBatcherMatchesGenerate: requests submitted concurrently to a batcher
// give the same tokens as Generate alone (sequences are independent).
func TestBatcherMatchesGenerate(t *testing.T) {
	m := models(t)["llama2c"]
	b := NewBatcher(m.Transformer, BatcherOptions{MaxSeqs: 3, PrefillRows: 7})
	defer b.Close()
	prompts := []string{"Tom was angry.", "Once upon a time, there was a big red ball that", "Sue felt happy", "The cat", "Lily and Ben went to the park to play."}
	var wg sync.WaitGroup
	got := make([][]int, len(prompts))
	errs := make([]error, len(prompts))
	for i, p := range prompts {
		wg.Add(1)
		go func(i int, p string) {
			defer wg.Done()
			req := Request{Prompt: m.Tok.Encode(p, true), Max: 12 + i, Sampling: Sampling{Temp: 0.8, Seed: uint64(i)}}
			r, err := b.Generate(context.Background(), req, nil)
			got[i], errs[i] = r.IDs, err
		}(i, p)
	}
	wg.Wait()
	for i, p := range prompts {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		want, err := Generate(context.Background(), m.Transformer, []Request{{Prompt: m.Tok.Encode(p, true), Max: 12 + i, Sampling: Sampling{Temp: 0.8, Seed: uint64(i)}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got[i]) != fmt.Sprint(want[0].IDs) {
			t.Errorf("prompt %d: batcher %v, alone %v", i, got[i], want[0].IDs)
		}
	}
}

func TestBatcherCancel(t *testing.T) {
	m := models(t)["llama2c"]
	b := NewBatcher(m.Transformer, BatcherOptions{})
	defer b.Close()
	// The callback ends the sequence after 3 tokens.
	n := 0
	r, err := b.Generate(context.Background(), Request{Prompt: []int{1, 500}, Max: 100}, func(Token) bool { n++; return n < 3 })
	if err != nil || r.Reason != StopCanceled || len(r.IDs) != 2 {
		t.Errorf("callback cancel: %d ids, reason %s, err %v", len(r.IDs), r.Reason, err)
	}
	// A context canceled mid-generation ends the request promptly.
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	r, err = b.Generate(ctx, Request{Prompt: []int{1, 500}, Max: 200}, func(tk Token) bool {
		if tk.ID >= 0 {
			cancel()
		}
		return true
	})
	if r.Reason != StopCanceled || err == nil || len(r.IDs) > 2 || time.Since(start) > 5*time.Second {
		t.Errorf("ctx cancel: %d ids, reason %s, err %v", len(r.IDs), r.Reason, err)
	}
	if w, a := b.Load(); w != 0 || a != 0 {
		t.Errorf("load after: %d waiting, %d active", w, a)
	}
	// Bad requests are refused before they queue.
	if _, err := b.Generate(context.Background(), Request{Prompt: []int{1, m.Vocab}, Max: 1}, nil); err == nil {
		t.Error("out-of-vocabulary prompt accepted")
	}
	b.Close()
	if _, err := b.Generate(context.Background(), Request{Prompt: []int{1}, Max: 1}, nil); err != ErrClosed {
		t.Errorf("closed batcher: %v", err)
	}
}
