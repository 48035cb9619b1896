package shard

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		err  string // substring of the error; "" for none
	}{
		{"0/1", Shard{0, 1}, ""},
		{"3/4", Shard{3, 4}, ""},
		{"0/1000", Shard{0, 1000}, ""},
		{"007/8", Shard{7, 8}, ""},
		{"4/4", Shard{}, "index must be from 0 to 3"},
		{"5/4", Shard{}, "index must be from 0 to 3"},
		{"0/0", Shard{}, "count must be at least 1"},
		{"0/2000000", Shard{}, "count above the maximum"},
		{"-1/4", Shard{}, `index: "-1": not a non-negative decimal number`},
		{"+1/4", Shard{}, "not a non-negative decimal number"},
		{"1/x", Shard{}, `count: "x": not a non-negative decimal number`},
		{"a/4", Shard{}, "index"},
		{" 1/4", Shard{}, "not a non-negative decimal number"},
		{"1/4/5", Shard{}, "not a non-negative decimal number"},
		{"1", Shard{}, "want I/N"},
		{"", Shard{}, "want I/N"},
		{"/4", Shard{}, "index: empty"},
		{"1/", Shard{}, "count: empty"},
		{"1/99999999999999999999", Shard{}, "too large"},
	} {
		got, err := Parse(tc.in)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.in)) {
			t.Errorf("Parse(%q) = %v, %v; want an error naming the input and containing %q", tc.in, got, err, tc.err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0/1", "3/4", "4/4", "-1/2", "1/0", "x/y", "", "/", "9999999999/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			if s != (Shard{}) {
				t.Fatalf("Parse(%q) returned %v with error %v", in, s, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse(%q) = %v, which is invalid: %v", in, s, err)
		}
		back, err := Parse(s.String())
		if err != nil || back != s {
			t.Fatalf("Parse(%q) = %v; Parse(String()) = %v, %v", in, s, back, err)
		}
	})
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		want   Shard
		wantOK bool
		err    string
	}{
		{"none", nil, Shard{}, false, ""},
		{"slurm count", map[string]string{SlurmTaskID: "2", SlurmTaskCount: "4"}, Shard{2, 4}, true, ""},
		{"slurm min/max", map[string]string{SlurmTaskID: "2", SlurmTaskMin: "0", SlurmTaskMax: "3"}, Shard{2, 4}, true, ""},
		{"slurm offset array", map[string]string{SlurmTaskID: "11", SlurmTaskMin: "10", SlurmTaskMax: "13", SlurmTaskCount: "4", SlurmTaskStep: "1"}, Shard{1, 4}, true, ""},
		{"slurm all three", map[string]string{SlurmTaskID: "0", SlurmTaskMin: "0", SlurmTaskMax: "7", SlurmTaskCount: "8"}, Shard{0, 8}, true, ""},
		{"slurm wins over k8s", map[string]string{SlurmTaskID: "1", SlurmTaskCount: "2", K8sIndex: "0", CountEnv: "5"}, Shard{1, 2}, true, ""},
		{"slurm no count", map[string]string{SlurmTaskID: "1"}, Shard{}, false, "neither $SLURM_ARRAY_TASK_COUNT"},
		{"slurm id past count", map[string]string{SlurmTaskID: "4", SlurmTaskCount: "4"}, Shard{}, false, "index must be from 0 to 3"},
		{"slurm not contiguous", map[string]string{SlurmTaskID: "3", SlurmTaskMin: "1", SlurmTaskMax: "5", SlurmTaskCount: "3"}, Shard{}, false, "not contiguous"},
		{"slurm step 2", map[string]string{SlurmTaskID: "2", SlurmTaskMin: "0", SlurmTaskMax: "6", SlurmTaskStep: "2"}, Shard{}, false, "step 1"},
		{"slurm min only", map[string]string{SlurmTaskID: "2", SlurmTaskMin: "0", SlurmTaskCount: "4"}, Shard{}, false, "only one of"},
		{"slurm max below min", map[string]string{SlurmTaskID: "2", SlurmTaskMin: "5", SlurmTaskMax: "3"}, Shard{}, false, "below $SLURM_ARRAY_TASK_MIN"},
		{"slurm id below min", map[string]string{SlurmTaskID: "2", SlurmTaskMin: "5", SlurmTaskMax: "8"}, Shard{}, false, "below the array's minimum 5"},
		{"slurm bad id", map[string]string{SlurmTaskID: "two", SlurmTaskCount: "4"}, Shard{}, false, "$SLURM_ARRAY_TASK_ID"},
		{"slurm bad count", map[string]string{SlurmTaskID: "1", SlurmTaskCount: "4x"}, Shard{}, false, "$SLURM_ARRAY_TASK_COUNT"},
		{"k8s", map[string]string{K8sIndex: "3", CountEnv: "5"}, Shard{3, 5}, true, ""},
		{"k8s no count", map[string]string{K8sIndex: "3"}, Shard{}, false, "$LIMBIC_SHARD_COUNT is not set"},
		{"k8s index past count", map[string]string{K8sIndex: "5", CountEnv: "5"}, Shard{}, false, "index must be from 0 to 4"},
		{"k8s zero count", map[string]string{K8sIndex: "0", CountEnv: "0"}, Shard{}, false, "count must be at least 1"},
		{"k8s bad index", map[string]string{K8sIndex: "-1", CountEnv: "5"}, Shard{}, false, "$JOB_COMPLETION_INDEX"},
		{"k8s bad count", map[string]string{K8sIndex: "1", CountEnv: "five"}, Shard{}, false, "$LIMBIC_SHARD_COUNT"},
	} {
		got, ok, err := FromEnv(func(k string) string { return tc.env[k] })
		if tc.err == "" {
			if err != nil || ok != tc.wantOK || got != tc.want {
				t.Errorf("%s: FromEnv = %v, %v, %v; want %v, %v, nil", tc.name, got, ok, err, tc.want, tc.wantOK)
			}
			continue
		}
		if err == nil || ok || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: FromEnv = %v, %v, %v; want an error containing %q", tc.name, got, ok, err, tc.err)
		}
	}
}

func TestRangeCovers(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 16, 171, 1000} {
		for _, count := range []int{1, 2, 3, 4, 7, 16, 200} {
			next, minSize, maxSize := 0, math.MaxInt, 0
			for i := range count {
				lo, hi := Shard{i, count}.Range(n)
				if lo != next || hi < lo {
					t.Fatalf("n=%d: shard %d/%d = [%d,%d), want it to start at %d", n, i, count, lo, hi, next)
				}
				next = hi
				minSize, maxSize = min(minSize, hi-lo), max(maxSize, hi-lo)
			}
			if next != n {
				t.Errorf("n=%d count=%d: blocks end at %d, want %d", n, count, next, n)
			}
			if maxSize-minSize > 1 {
				t.Errorf("n=%d count=%d: block sizes from %d to %d, want a spread of at most 1", n, count, minSize, maxSize)
			}
		}
	}
	if lo, hi := (Shard{1, 3}).Range(math.MaxInt); lo != math.MaxInt/3 || hi != 2*(math.MaxInt/3) {
		// MaxInt = 3q+1, so the blocks are [0,q), [q,2q), [2q,3q+1).
		t.Errorf("Range(MaxInt) of 1/3 = [%d,%d), want [%d,%d) (no overflow)", lo, hi, math.MaxInt/3, 2*(math.MaxInt/3))
	}
	if lo, hi := (Shard{}).Range(10); lo != 0 || hi != 0 {
		t.Errorf("invalid shard's Range = [%d,%d), want empty", lo, hi)
	}
}

func TestOwnsPartition(t *testing.T) {
	const units = 20000
	for _, count := range []int{1, 2, 3, 8, 13} {
		sizes := make([]int, count)
		for u := range units {
			key := fmt.Sprintf("afraid/topic-%d/%d", u%97, u)
			owners := 0
			for i := range count {
				if (Shard{i, count}).Owns(key) {
					owners++
					sizes[i]++
				}
			}
			if owners != 1 {
				t.Fatalf("count %d: key %q owned by %d shards, want 1", count, key, owners)
			}
		}
		// Binomial spread: a shard's size is within 5 standard deviations.
		p := 1 / float64(count)
		sd := math.Sqrt(units * p * (1 - p))
		for i, n := range sizes {
			if d := math.Abs(float64(n) - units*p); !(d <= 5*sd+0.5) {
				t.Errorf("count %d: shard %d owns %d of %d keys, want %.0f ± %.0f", count, i, n, units, units*p, 5*sd)
			}
		}
	}
	if (Shard{}).Owns("x") || (Shard{2, 2}).Owns("x") {
		t.Error("an invalid shard owns a key")
	}
}

// TestHashStable pins Hash on a few keys: shards of a resumed run must
// select what they selected before, on every machine and every version.
// The values are FNV-1a 64 (whose published test vectors give the first
// stage: "" → cbf29ce484222325, "a" → af63dc4c8601ec8c) through
// SplitMix64's finalizer, computed here independently of Hash.
func TestHashStable(t *testing.T) {
	mix := func(h uint64) uint64 {
		h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
		h = (h ^ h>>27) * 0x94d049bb133111eb
		return h ^ h>>31
	}
	for _, tc := range []struct {
		key string
		fnv uint64
	}{{"", 0xcbf29ce484222325}, {"a", 0xaf63dc4c8601ec8c}, {"foobar", 0x85944171f73967e8}} {
		if got, want := Hash(tc.key), mix(tc.fnv); got != want {
			t.Errorf("Hash(%q) = %#x, want %#x", tc.key, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	slurm := map[string]string{SlurmTaskID: "1", SlurmTaskCount: "4"}
	for _, tc := range []struct {
		name string
		flag string
		env  map[string]string
		want Shard
		err  string
	}{
		{"nothing", "", nil, All, ""},
		{"flag", "2/3", nil, Shard{2, 3}, ""},
		{"env", "", slurm, Shard{1, 4}, ""},
		{"flag and env agree", "1/4", slurm, Shard{1, 4}, ""},
		{"flag picks another index", "3/4", slurm, Shard{3, 4}, ""},
		{"flag and env disagree", "1/8", slurm, Shard{}, "the scheduler runs 4 tasks"},
		{"bad flag", "4/4", nil, Shard{}, "--shard"},
		{"bad env", "", map[string]string{K8sIndex: "1"}, Shard{}, "LIMBIC_SHARD_COUNT"},
	} {
		got, err := Resolve(tc.flag, func(k string) string { return tc.env[k] })
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("%s: Resolve = %v, %v; want %v", tc.name, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: Resolve = %v, %v; want an error containing %q", tc.name, got, err, tc.err)
		}
	}
	var s Shard
	if err := s.Set("1/2"); err != nil || s != (Shard{1, 2}) {
		t.Errorf("Set(1/2) = %v, %v", s, err)
	}
	if err := s.Set("2/2"); err == nil || s != (Shard{1, 2}) {
		t.Errorf("Set(2/2) = %v, %v; want an error and s unchanged", s, err)
	}
}
