package model

import (
	"context"
	"testing"
)

// BenchmarkDecode generates 128 tokens greedily with the embedded model,
// with its weights copied into the model's own (huge-page) memory, the
// default, and run straight from the mapped checkpoint (LoadOptions.Mmap).
// It reports tokens per second; `limbic bench` is the llama-bench-like
// counterpart.
func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		name string
		mmap bool
	}{{"resident", false}, {"mmap", true}} {
		b.Run(c.name, func(b *testing.B) {
			m, err := Load(context.Background(), Default, LoadOptions{Mmap: c.mmap})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			req := []Request{{Prompt: []int{1, 500}, Max: 128}}
			if _, err := Generate(context.Background(), m.Transformer, req, nil); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			toks := 0
			for i := 0; i < b.N; i++ {
				res, err := Generate(context.Background(), m.Transformer, req, nil)
				if err != nil {
					b.Fatal(err)
				}
				toks += len(res[0].IDs)
			}
			b.ReportMetric(float64(toks)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}

// BenchmarkGenerateBatch samples 40 tokens for 32 prompts decoded together
// (temperature 1, the story pipeline's setting) and reports tokens per
// second over the batch.
func BenchmarkGenerateBatch(b *testing.B) {
	m, err := Load(context.Background(), Default, LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	reqs := make([]Request, 32)
	for i := range reqs {
		reqs[i] = Request{Prompt: []int{1, 500 + i, 600}, Max: 40, Sampling: Sampling{Temp: 1, Seed: uint64(i + 1)}}
	}
	b.ResetTimer()
	toks := 0
	for i := 0; i < b.N; i++ {
		res, err := Generate(context.Background(), m.Transformer, reqs, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			toks += len(r.IDs)
		}
	}
	b.ReportMetric(float64(toks)/b.Elapsed().Seconds(), "tok/s")
}
