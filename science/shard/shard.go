package shard

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// MaxCount is the largest shard count accepted: far above Slurm's default
// MaxArraySize (1001) and Kubernetes' limit on indexed completions (100,000).
const MaxCount = 1 << 20

// Environment variables read by FromEnv.
const (
	SlurmTaskID    = "SLURM_ARRAY_TASK_ID"
	SlurmTaskCount = "SLURM_ARRAY_TASK_COUNT"
	SlurmTaskMin   = "SLURM_ARRAY_TASK_MIN"
	SlurmTaskMax   = "SLURM_ARRAY_TASK_MAX"
	SlurmTaskStep  = "SLURM_ARRAY_TASK_STEP"
	K8sIndex       = "JOB_COMPLETION_INDEX"
	// CountEnv carries the shard count to Kubernetes Indexed Jobs; limbic's
	// manifests set it to the Job's completions.
	CountEnv = "LIMBIC_SHARD_COUNT"
)

// Shard is shard Index of Count: 0 ≤ Index < Count.
type Shard struct {
	Index int // 0-based
	Count int // number of shards, ≥ 1
}

// All is the single shard that selects every unit.
var All = Shard{Index: 0, Count: 1}

// String returns "I/N", the form Parse reads.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Validate reports whether 0 ≤ Index < Count ≤ MaxCount.
func (s Shard) Validate() error {
	if err := s.check(); err != nil {
		return fmt.Errorf("shard %s: %w", s, err)
	}
	return nil
}

func (s Shard) check() error {
	switch {
	case s.Count < 1:
		return fmt.Errorf("count must be at least 1")
	case s.Count > MaxCount:
		return fmt.Errorf("count above the maximum %d", MaxCount)
	case s.Index < 0 || s.Index >= s.Count:
		return fmt.Errorf("index must be from 0 to %d", s.Count-1)
	}
	return nil
}

// Parse reads "I/N": two decimal numbers, 0 ≤ I < N.
func Parse(text string) (Shard, error) {
	i, n, ok := strings.Cut(text, "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want I/N, such as 0/4", text)
	}
	idx, err := number(i)
	if err != nil {
		return Shard{}, fmt.Errorf("shard %q: index: %w", text, err)
	}
	cnt, err := number(n)
	if err != nil {
		return Shard{}, fmt.Errorf("shard %q: count: %w", text, err)
	}
	s := Shard{Index: idx, Count: cnt}
	if err := s.check(); err != nil {
		return Shard{}, fmt.Errorf("shard %q: %w", text, err)
	}
	return s, nil
}

// number parses a non-negative decimal number of at most 9 digits.
func number(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty")
	}
	if len(s) > 9 {
		return 0, fmt.Errorf("%q: too large", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q: not a non-negative decimal number", s)
		}
	}
	return strconv.Atoi(s)
}

// FromEnv returns the shard the scheduler assigned, read with getenv
// (os.Getenv in the commands): ok is false, with no error, when neither a
// Slurm job array nor a Kubernetes Indexed Job is in the environment. A
// Slurm array must be contiguous with step 1 (--array=0-N−1 or A-B); the
// shard index is the task id less the array's minimum.
func FromEnv(getenv func(string) string) (s Shard, ok bool, err error) {
	if id := getenv(SlurmTaskID); id != "" {
		s, err = slurm(getenv, id)
		return s, err == nil, err
	}
	if idx := getenv(K8sIndex); idx != "" {
		i, err := number(idx)
		if err != nil {
			return Shard{}, false, fmt.Errorf("shard from $%s: %w", K8sIndex, err)
		}
		cs := getenv(CountEnv)
		if cs == "" {
			return Shard{}, false, fmt.Errorf("shard from $%s=%s: $%s is not set (the Job's manifest must pass its completions)", K8sIndex, idx, CountEnv)
		}
		n, err := number(cs)
		if err != nil {
			return Shard{}, false, fmt.Errorf("shard from $%s: %w", CountEnv, err)
		}
		s = Shard{Index: i, Count: n}
		if err := s.Validate(); err != nil {
			return Shard{}, false, fmt.Errorf("shard from $%s=%s, $%s=%s: %w", K8sIndex, idx, CountEnv, cs, err)
		}
		return s, true, nil
	}
	return Shard{}, false, nil
}

func slurm(getenv func(string) string, id string) (Shard, error) {
	env := func(name string) (int, bool, error) {
		v := getenv(name)
		if v == "" {
			return 0, false, nil
		}
		n, err := number(v)
		if err != nil {
			return 0, false, fmt.Errorf("shard from $%s: %w", name, err)
		}
		return n, true, nil
	}
	task, _, err := env(SlurmTaskID)
	if err != nil {
		return Shard{}, err
	}
	if step, ok, err := env(SlurmTaskStep); err != nil {
		return Shard{}, err
	} else if ok && step != 1 {
		return Shard{}, fmt.Errorf("shard from Slurm: $%s=%d, want an array with step 1 (--array=0-N)", SlurmTaskStep, step)
	}
	lo, hasMin, err := env(SlurmTaskMin)
	if err != nil {
		return Shard{}, err
	}
	hi, hasMax, err := env(SlurmTaskMax)
	if err != nil {
		return Shard{}, err
	}
	count, hasCount, err := env(SlurmTaskCount)
	if err != nil {
		return Shard{}, err
	}
	if hasMin != hasMax {
		return Shard{}, fmt.Errorf("shard from Slurm: only one of $%s and $%s is set", SlurmTaskMin, SlurmTaskMax)
	}
	if hasMin && hi < lo {
		return Shard{}, fmt.Errorf("shard from Slurm: $%s=%d below $%s=%d", SlurmTaskMax, hi, SlurmTaskMin, lo)
	}
	switch {
	case hasMin && hasCount && hi-lo+1 != count:
		return Shard{}, fmt.Errorf("shard from Slurm: array %d-%d has %d tasks but $%s=%d: the array is not contiguous (want --array=0-%d)", lo, hi, hi-lo+1, SlurmTaskCount, count, count-1)
	case hasMin:
		count = hi - lo + 1
	case hasCount:
		lo = 0
	default:
		return Shard{}, fmt.Errorf("shard from Slurm: $%s=%s but neither $%s nor $%s and $%s is set", SlurmTaskID, id, SlurmTaskCount, SlurmTaskMin, SlurmTaskMax)
	}
	if task < lo {
		return Shard{}, fmt.Errorf("shard from Slurm: $%s=%d below the array's minimum %d", SlurmTaskID, task, lo)
	}
	s := Shard{Index: task - lo, Count: count}
	if err := s.Validate(); err != nil {
		return Shard{}, fmt.Errorf("shard from Slurm ($%s=%d): %w", SlurmTaskID, task, err)
	}
	return s, nil
}

// Range returns the half-open block [lo, hi) of n units in canonical order
// that this shard owns: blocks are contiguous, in shard order, cover 0..n
// exactly once and differ in size by at most one. n < 0 counts as 0.
func (s Shard) Range(n int) (lo, hi int) {
	if n <= 0 || s.Validate() != nil {
		return 0, 0
	}
	return s.boundary(n, s.Index), s.boundary(n, s.Index+1)
}

// boundary returns i·n/Count without overflow (0 ≤ i ≤ Count).
func (s Shard) boundary(n, i int) int {
	hi, lo := bits.Mul64(uint64(i), uint64(n))
	q, _ := bits.Div64(hi, lo, uint64(s.Count)) // hi < Count since i ≤ Count
	return int(q)
}

// Owns reports whether the unit with this key belongs to the shard: exactly
// one shard of a count owns each key, whatever the other keys are.
func (s Shard) Owns(key string) bool {
	if s.Validate() != nil {
		return false
	}
	return Hash(key)%uint64(s.Count) == uint64(s.Index)
}

// Hash is the stable 64-bit hash Owns uses: FNV-1a over the key's bytes,
// then SplitMix64's finalizer so the low bits, which the modulo keeps, mix
// well even for keys that differ in one trailing character. It never
// changes between versions: resumed runs rely on it.
func Hash(key string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// Resolve returns the shard a task runs: flag ("I/N", from --shard) when
// not empty, else the scheduler's (FromEnv), else All. A flag that
// disagrees with a scheduler's environment is an error, so a job array of
// one size never runs tasks told another; with a flag, an environment that
// cannot be read is ignored.
func Resolve(flag string, getenv func(string) string) (Shard, error) {
	env, ok, err := FromEnv(getenv)
	if flag == "" {
		if err != nil {
			return Shard{}, err
		}
		if !ok {
			return All, nil
		}
		return env, nil
	}
	s, perr := Parse(flag)
	if perr != nil {
		return Shard{}, fmt.Errorf("--shard: %w", perr)
	}
	if err == nil && ok && env.Count != s.Count {
		return Shard{}, fmt.Errorf("--shard %s: the scheduler runs %d tasks (%s)", s, env.Count, env)
	}
	return s, nil
}

// Set parses "I/N" into s, so that *Shard serves as a command-line flag.
func (s *Shard) Set(text string) error {
	v, err := Parse(text)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Type names the flag's value in usage lines.
func (*Shard) Type() string { return "I/N" }
