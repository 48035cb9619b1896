package model

import (
	"fmt"
	"math"
)

// MaxTopLogProbs is the most alternatives LogProbs lists (OpenAI's limit
// for top_logprobs).
const MaxTopLogProbs = 20

// TokenLogProb is a token with its log-probability.
type TokenLogProb struct {
	ID      int
	LogProb float64
}

// LogProbs returns the log-probability of token id under the softmax of
// logits at temperature 1 (the model's own distribution, before any
// temperature, top-k or top-p of the sampler), computed in float64, and the
// k most likely tokens, most likely first (ties: the lower id first). k = 0
// lists none; either way it takes two passes over logits. It fails on a NaN
// or +Inf logit (no distribution) or an id or k out of range; a -Inf logit
// has log-probability -Inf.
func LogProbs(logits []float32, id, k int) (float64, []TokenLogProb, error) {
	if id < 0 || id >= len(logits) {
		return 0, nil, fmt.Errorf("logprobs: token %d outside the vocabulary [0, %d)", id, len(logits))
	}
	if k < 0 || k > MaxTopLogProbs {
		return 0, nil, fmt.Errorf("logprobs: %d alternatives: want 0 to %d", k, MaxTopLogProbs)
	}
	// One pass finds the maximum and, when asked, the k largest logits (kept
	// sorted: a logit below the k-th costs one compare); a second sums.
	mx := math.Inf(-1)
	top := make([]TokenLogProb, 0, min(k, len(logits)))
	for i, l := range logits {
		x := float64(l)
		if math.IsNaN(x) || math.IsInf(x, 1) {
			return 0, nil, fmt.Errorf("logprobs: logit %d is %v", i, x)
		}
		mx = math.Max(mx, x)
		if cap(top) == 0 || len(top) == cap(top) && !(x > top[len(top)-1].LogProb) {
			continue
		}
		j := len(top)
		if j < cap(top) {
			top = append(top, TokenLogProb{})
		} else {
			j--
		}
		for j > 0 && x > top[j-1].LogProb {
			top[j] = top[j-1]
			j--
		}
		top[j] = TokenLogProb{ID: i, LogProb: x}
	}
	if math.IsInf(mx, -1) {
		return 0, nil, fmt.Errorf("logprobs: every logit is -Inf")
	}
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l) - mx)
	}
	logZ := mx + math.Log(sum)
	for i := range top {
		top[i].LogProb -= logZ
	}
	if k == 0 {
		top = nil
	}
	return float64(logits[id]) - logZ, top, nil
}
