package stories

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
)

// Kind says what a text is for.
type Kind string

// The kinds of text.
const (
	Emotional Kind = "emotion" // a story conveying Emotion
	Neutral   Kind = "neutral" // an emotionless text for the denoising PCA
)

// Split is a story's role in validation.
type Split string

// The splits.
const (
	Train   Split = "train"
	HeldOut Split = "heldout"
)

// DefaultHeldOut is the default fraction of emotional stories held out.
const DefaultHeldOut = 0.2

// Key identifies a story within a plan.
type Key struct {
	Kind    Kind
	Emotion string // empty for neutral texts
	Topic   string
	Index   int // 0-based, within (Kind, Emotion, Topic)
}

// ID returns the key's stable identifier: "e-" or "n-" and 16 hex digits of
// the SHA-256 of the key's fields.
func (k Key) ID() string {
	h := sha256.New()
	h.Write([]byte(k.Kind))
	h.Write([]byte{0})
	h.Write([]byte(k.Emotion))
	h.Write([]byte{0})
	h.Write([]byte(k.Topic))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(k.Index)))
	sum := h.Sum(nil)
	p := "e-"
	if k.Kind == Neutral {
		p = "n-"
	}
	return p + hex.EncodeToString(sum[:8])
}

// Story is one stored text. JSON field names are the file format.
type Story struct {
	ID           string `json:"id"`
	Kind         Kind   `json:"kind"`
	Emotion      string `json:"emotion,omitempty"`
	Topic        string `json:"topic"`
	Index        int    `json:"index"`
	Prefix       string `json:"prefix,omitempty"`        // read before Text, never averaged
	Text         string `json:"text"`                    // the story (averaged from a token offset on)
	Prompt       string `json:"prompt,omitempty"`        // what the generator was given
	PromptTokens int    `json:"prompt_tokens,omitempty"` // tokens of Prefix, when the generator knows
	Generator    string `json:"generator"`
	Seed         uint64 `json:"seed"` // the generation request's seed
	Split        Split  `json:"split,omitempty"`
}

// Key returns the story's key.
func (s *Story) Key() Key {
	return Key{Kind: s.Kind, Emotion: s.Emotion, Topic: s.Topic, Index: s.Index}
}

// Check reports a story that cannot be used: missing ID, unknown kind, an
// emotional story without an emotion, a negative index, an unknown split.
func (s *Story) Check() error {
	switch {
	case s.ID == "":
		return errors.New("story without an id")
	case s.Kind != Emotional && s.Kind != Neutral:
		return fmt.Errorf("story %s: unknown kind %q (want %q or %q)", s.ID, s.Kind, Emotional, Neutral)
	case s.Kind == Emotional && s.Emotion == "":
		return fmt.Errorf("story %s: emotional story without an emotion", s.ID)
	case s.Index < 0:
		return fmt.Errorf("story %s: negative index %d", s.ID, s.Index)
	case s.Split != "" && s.Split != Train && s.Split != HeldOut:
		return fmt.Errorf("story %s: unknown split %q", s.ID, s.Split)
	}
	return nil
}

// SplitOf assigns a story ID to the held-out split with probability heldOut,
// deterministically (FNV-1a hash of the ID). Neutral texts are never held
// out by the callers in this module; SplitOf itself does not look at kinds.
func SplitOf(id string, heldOut float64) Split {
	h := fnv.New64a()
	h.Write([]byte(id))
	u := float64(h.Sum64()>>11) / (1 << 53)
	if u < heldOut {
		return HeldOut
	}
	return Train
}

// SplitFor returns the story's recorded split, or assigns one with SplitOf
// when none is recorded. Neutral texts are always Train.
func (s *Story) SplitFor(heldOut float64) Split {
	if s.Kind == Neutral {
		return Train
	}
	if s.Split != "" {
		return s.Split
	}
	return SplitOf(s.ID, heldOut)
}

// TaskSeed derives a per-story seed from a plan seed and a story ID. Seeds are
// kept below 2^53 so that they survive JSON readers that use doubles.
func TaskSeed(planSeed uint64, id string) uint64 {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], planSeed)
	h.Write(b[:])
	h.Write([]byte(id))
	return binary.LittleEndian.Uint64(h.Sum(nil)) & (1<<53 - 1)
}
