package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/model"
)

type generateLP struct {
	PromptIDs []int `json:"prompt_ids"`
	IDs       []int `json:"ids"`
	Logprobs  []struct {
		ID      int     `json:"id"`
		Text    string  `json:"text"`
		Logprob float64 `json:"logprob"`
		Top     []struct {
			ID      int     `json:"id"`
			Logprob float64 `json:"logprob"`
		} `json:"top"`
	} `json:"logprobs"`
}

// TestGenerateLogprobs: generate --logprobs K --json reports, for every
// generated token sampled at temperature 0.9, the log-prob and the K most
// likely tokens of the model's own softmax (temperature 1), checked against
// an independent forward pass over prompt and generated ids; the text table
// shows the same numbers.
func TestGenerateLogprobs(t *testing.T) {
	const k = 3
	args := []string{"generate", "-p", "Once upon a time", "-n", "10", "--temp", "0.9", "--seed", "5", "--logprobs", fmt.Sprint(k)}
	var g generateLP
	out := limbic(t, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(g.IDs) == 0 || len(g.Logprobs) != len(g.IDs) {
		t.Fatalf("%d ids, %d logprobs: want as many, at least one", len(g.IDs), len(g.Logprobs))
	}
	m, err := model.Load(context.Background(), model.Default, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	seq := &arch.Seq{Cache: m.NewCache(), Tokens: append(slices.Clone(g.PromptIDs), g.IDs...), Logits: arch.AllLogits}
	if err := m.Forward([]*arch.Seq{seq}); err != nil {
		t.Fatal(err)
	}
	const tol = 1e-3
	for j, e := range g.Logprobs {
		row := seq.Out[(len(g.PromptIDs)-1+j)*m.Vocab : (len(g.PromptIDs)+j)*m.Vocab]
		mx := math.Inf(-1)
		for _, l := range row {
			mx = math.Max(mx, float64(l))
		}
		var sum float64
		for _, l := range row {
			sum += math.Exp(float64(l) - mx)
		}
		ref := make([]float64, len(row))
		for i, l := range row {
			ref[i] = float64(l) - mx - math.Log(sum)
		}
		sorted := slices.Clone(ref)
		slices.Sort(sorted)
		slices.Reverse(sorted)
		if e.ID != g.IDs[j] {
			t.Errorf("token %d: logprobs id %d, ids has %d", j, e.ID, g.IDs[j])
		}
		if d := math.Abs(e.Logprob - ref[g.IDs[j]]); !(d <= tol) {
			t.Errorf("token %d: log-prob %v, the model's softmax gives %v", j, e.Logprob, ref[g.IDs[j]])
		}
		if len(e.Top) != k {
			t.Fatalf("token %d: %d alternatives, want %d", j, len(e.Top), k)
		}
		for r, a := range e.Top {
			if d := math.Abs(a.Logprob - sorted[r]); !(d <= tol) {
				t.Errorf("token %d rank %d: log-prob %v, the model's rank %d is %v", j, r, a.Logprob, r, sorted[r])
			}
			if d := math.Abs(a.Logprob - ref[a.ID]); !(d <= tol) {
				t.Errorf("token %d rank %d: token %d at %v, the model's softmax gives %v", j, r, a.ID, a.Logprob, ref[a.ID])
			}
		}
	}

	// The text table: a row per token with the same log-prob.
	table := limbic(t, args...)
	_, rows, ok := strings.Cut(table, "alternatives\n")
	if !ok {
		t.Fatalf("no logprobs table in %q", table)
	}
	lines := strings.Split(strings.TrimRight(rows, "\n"), "\n")
	if len(lines) != len(g.Logprobs) {
		t.Fatalf("%d table rows, want %d:\n%s", len(lines), len(g.Logprobs), rows)
	}
	for j, line := range lines {
		if want := fmt.Sprintf("%.4f", g.Logprobs[j].Logprob); !strings.Contains(line, want) || !strings.HasPrefix(strings.TrimSpace(line), fmt.Sprint(j)+" ") {
			t.Errorf("row %d %q: want index %d and log-prob %s", j, line, j, want)
		}
	}
}

// TestGenerateLogprobsRange: --logprobs outside 0..20 is a one-line error
// naming the flag.
func TestGenerateLogprobsRange(t *testing.T) {
	for _, k := range []string{"-1", "21"} {
		out, err := exec.Command(bin, "generate", "-p", "x", "-n", "1", "--logprobs", k).CombinedOutput()
		if s := string(out); err == nil || !strings.HasPrefix(s, "limbic: ") || !strings.Contains(s, "--logprobs") {
			t.Errorf("--logprobs %s: %v, output %q; want an error naming --logprobs", k, err, s)
		}
	}
}
