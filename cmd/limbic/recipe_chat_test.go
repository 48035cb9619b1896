package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/limbic-dev/limbic/engine/hub"
	"github.com/limbic-dev/limbic/engine/train/checkpoint"
	"github.com/limbic-dev/limbic/science/catalog"
	"github.com/limbic-dev/limbic/science/chatdata"
)

// tinyChatRecipe is the chat recipe at a size a test can build in seconds.
func tinyChatRecipe() chatRecipe {
	return chatRecipe{Seed: 3, Emotions: []string{"happy", "sad", "afraid"}, Topics: catalog.ChildTopics()[:4], PerTopic: 4,
		Steps: 4, Batch: 4, SeqLen: 128, LR: 5e-4, MinLR: 5e-5, Warmup: 1, Threads: 2}
}

// withHome points LIMBIC_HOME at a fresh home sharing the embedded model.
func withHome(t *testing.T) string {
	t.Helper()
	emb, err := hub.EnsureEmbedded(context.Background(), hub.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(emb, filepath.Join(home, "models", "stories15m")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LIMBIC_HOME", home)
	return home
}

// TestChatRecipeSmall builds a tiny stories15m-chat twice in two homes (the
// same bytes; the second home starts from the first's stories, whose
// determinism science/stories tests), checks that a second build in the same home trains nothing,
// that the model carries the recipe's template, and that fine-tuning
// lowered the loss on the held-out dialogues below the base model's.
func TestChatRecipeSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a model")
	}
	ctx := context.Background()
	r := tinyChatRecipe()
	var weights [2][]byte
	var firstWork string
	for i := range weights {
		withHome(t)
		if i == 1 {
			if err := os.CopyFS(filepath.Join(chatWorkDir(), "stories"), os.DirFS(filepath.Join(firstWork, "stories"))); err != nil {
				t.Fatal(err)
			}
		}
		dir := filepath.Join(t.TempDir(), "model")
		work, err := buildChatModel(ctx, dir, r, io.Discard)
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		if weights[i], err = os.ReadFile(filepath.Join(dir, "model.safetensors")); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			break
		}
		firstWork = work
		// Built again in the same home: the last checkpoint is reused.
		last, _ := checkpoint.Latest(filepath.Join(work, "tune"))
		st, _ := os.Stat(last)
		if _, err := buildChatModel(ctx, dir, r, io.Discard); err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		last2, _ := checkpoint.Latest(filepath.Join(work, "tune"))
		st2, _ := os.Stat(last2)
		if last2 != last || st == nil || st2 == nil || !st2.ModTime().Equal(st.ModTime()) {
			t.Errorf("second build retrained: last checkpoint %s then %s", last, last2)
		}
		// Other settings in the same work directory are refused.
		other := r
		other.Seed++
		if _, err := buildChatModel(ctx, dir, other, io.Discard); err == nil {
			t.Errorf("a build with another seed over the same work directory succeeded")
		}

		m, err := loadTextModelRef(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if m.Tok.ChatTemplate() != chatdata.Template {
			t.Errorf("installed model's chat template is not the recipe's")
		}
		chatEv, err := evalChatModel(ctx, m, work, 6)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		base, err := loadTextModelRef(ctx, "stories15m")
		if err != nil {
			t.Fatal(err)
		}
		baseEv, err := evalChatModel(ctx, base, work, 6)
		base.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("val loss: base %.4f, tuned %.4f; feel held-out %d/%d, hand %d/%d, stopped %d/%d",
			baseEv.ValLoss, chatEv.ValLoss, chatEv.HeldOut.Correct.K, chatEv.HeldOut.Correct.N,
			chatEv.Hand.Correct.K, chatEv.Hand.Correct.N, chatEv.HeldOut.Stopped.K, chatEv.HeldOut.Stopped.N)
		if !(chatEv.ValLoss < baseEv.ValLoss) || math.IsNaN(chatEv.ValLoss) {
			t.Errorf("validation loss after tuning %v, want below the base model's %v", chatEv.ValLoss, baseEv.ValLoss)
		}
		if chatEv.HeldOut.Correct.N == 0 || chatEv.Hand.Correct.N != 6 {
			t.Errorf("evaluated %d held-out and %d hand-written items, want some and 6", chatEv.HeldOut.Correct.N, chatEv.Hand.Correct.N)
		}
	}
	if !bytes.Equal(weights[0], weights[1]) {
		t.Errorf("two builds with the same recipe wrote different weights")
	}
}
