package train

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/model"
)

// TestPeakMemory measures the peak RSS of training steps on a model given
// by LIMBIC_TRAIN_MEM="PATH[,lora=RANK][,rows=N][,len=T][,recompute]"
// (for example a directory from limbic synth). It holds two f32 buffers
// the size of the trainable parameters, as AdamW's moments would be. The
// peak is reset (/proc/self/clear_refs) after loading, so it counts
// training, not the engine's load of the checkpoint.
func TestPeakMemory(t *testing.T) {
	spec := os.Getenv("LIMBIC_TRAIN_MEM")
	if spec == "" {
		t.Skip("set LIMBIC_TRAIN_MEM=PATH[,lora=RANK][,rows=N][,len=T][,recompute] to measure")
	}
	parts := strings.Split(spec, ",")
	rows, length, rank, recompute := 8, 256, 0, false
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		n, _ := strconv.Atoi(v)
		switch k {
		case "lora":
			rank = n
		case "rows":
			rows = n
		case "len":
			length = n
		case "recompute":
			recompute = true
		default:
			t.Fatalf("unknown option %q", p)
		}
	}
	em, err := model.Load(context.Background(), parts[0], model.LoadOptions{Mmap: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg, ts, err := em.HFTensors()
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Recompute: recompute}
	if rank > 0 {
		o.LoRA = &LoRAConfig{Rank: rank, Alpha: float64(2 * rank), Dropout: 0.05, Targets: moduleNames, Seed: 1}
	}
	m, err := New(cfg, ts, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after New: RSS %s", rssNow())
	ts = nil
	em.Close()
	em = nil
	debug.FreeOSMemory()
	t.Logf("after closing the engine's model: RSS %s", rssNow())
	n := 0
	for _, p := range m.Params() {
		n += len(p.Data)
	}
	adam := [2][]float32{make([]float32, n), make([]float32, n)}
	for _, a := range adam {
		for i := range a {
			a[i] = 1
		}
	}
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("cannot reset the peak RSS: %v", err)
	}
	var b Batch
	for r := 0; r < rows; r++ {
		in, tg := make([]int, length), make([]int, length)
		for j := range in {
			in[j], tg[j] = (r*7919+j*104729)%cfg.Vocab, (r*31+j*17+1)%cfg.Vocab
		}
		b.Inputs, b.Targets = append(b.Inputs, in), append(b.Targets, tg)
	}
	for step := 0; step < 2; step++ {
		if _, _, err := m.Accumulate(b, 1, uint64(step)); err != nil {
			t.Fatal(err)
		}
		t.Logf("after step %d: RSS %s", step, rssNow())
	}
	status, _ := os.ReadFile("/proc/self/status")
	var hwm, rss string
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = strings.TrimSpace(v)
		}
	}
	t.Logf("%s: %d trainable values (%s), %d×%d tokens, recompute %v: peak RSS %s (now %s)",
		parts[0], n, fmt.Sprintf("%.1f M", float64(n)/1e6), rows, length, recompute, hwm, rss)
	_ = adam[0][0] + adam[1][0]
}

// rssNow returns VmRSS from /proc/self/status.
func rssNow() string {
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
