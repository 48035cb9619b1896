package model

import (
	"context"
	"testing"
)

func BenchmarkDecodeProf(b *testing.B) {
	m, err := Load(context.Background(), Default, LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		Generate(context.Background(), m.Model, []Request{{Prompt: []int{1, 500}, Max: 128}}, nil)
	}
}
