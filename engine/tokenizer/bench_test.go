package tokenizer

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// storyText makes n story-like paragraphs (TinyStories-style words and
// punctuation; some rare words so the cache also misses).
func storyText(n int) []string {
	r := rand.New(rand.NewPCG(42, 7))
	words := strings.Fields(`Once upon a time there was a little girl named Lily She loved to play outside in the park
		One day she saw a big red ball under a tree and her mom said Tom was happy sad angry afraid because the dog ran away
		They went home together and had a nice dinner with cake The sun was shining birds sang Mia felt calm proud lonely
		excited jealous grateful curious when her friend Ben shared his toys with her`)
	rare := []string{"supercalifragilistic", "Zorblax", "naïve", "café", "日本", "🙂", "1234", "x=1;y=2"}
	out := make([]string, n)
	for i := range out {
		var sb strings.Builder
		for k := 0; k < 120; k++ {
			if k > 0 {
				sb.WriteByte(' ')
			}
			if r.IntN(50) == 0 {
				sb.WriteString(rare[r.IntN(len(rare))])
				sb.WriteString(strings.Repeat("q", r.IntN(3)))
			} else {
				sb.WriteString(words[r.IntN(len(words))])
			}
			switch r.IntN(12) {
			case 0:
				sb.WriteString(".")
			case 1:
				sb.WriteString(",")
			case 2:
				sb.WriteString("!\n")
			}
		}
		out[i] = sb.String()
	}
	return out
}

func benchEncode(b *testing.B, tk *Tokenizer, cold bool) {
	old := tk.cache
	defer func() { tk.cache = old }()
	texts := storyText(64)
	var bytes, tokens int
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if cold {
			tk.cache = newWordCache(1 << 16)
		}
		s := texts[i%len(texts)]
		tokens += len(tk.Encode(s, true))
		bytes += len(s)
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
	b.SetBytes(int64(bytes / max(b.N, 1)))
}

func BenchmarkEncodeStories15M(b *testing.B)     { benchEncode(b, stories(b), false) }
func BenchmarkEncodeStories15MCold(b *testing.B) { benchEncode(b, stories(b), true) }
func BenchmarkEncodeGPT2(b *testing.B)           { benchEncode(b, hfFamily(b, "gpt2"), false) }
func BenchmarkEncodeLlama3(b *testing.B)         { benchEncode(b, hfFamily(b, "llama3"), false) }
func BenchmarkEncodeQwen3(b *testing.B)          { benchEncode(b, hfFamily(b, "qwen3"), false) }
func BenchmarkEncodeLlama3Cold(b *testing.B)     { benchEncode(b, hfFamily(b, "llama3"), true) }

func BenchmarkDecodeStories15M(b *testing.B) {
	tk := stories(b)
	var ids [][]int
	for _, s := range storyText(16) {
		ids = append(ids, tk.Encode(s, true))
	}
	tokens := 0
	for i := 0; b.Loop(); i++ {
		x := ids[i%len(ids)]
		_ = tk.Decode(x)
		tokens += len(x)
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}
