package tokenizer

import (
	"slices"
	"sync"
	"testing"
)

// One Tokenizer encodes and decodes from many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	tk := stories(t)
	texts := randomTexts(13, 64)
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tk.Encode(s, true)
	}
	old := tk.cache
	tk.cache = newWordCache(8) // tiny: clears often while others read
	defer func() { tk.cache = old }()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 5; k++ {
				for i, s := range texts {
					if got := tk.Encode(s, true); !slices.Equal(got, want[i]) {
						t.Errorf("%q: %v vs %v", s, got, want[i])
						return
					}
					_ = tk.Decode(want[i])
				}
			}
		}()
	}
	wg.Wait()
}
