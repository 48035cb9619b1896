package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/limbic-dev/limbic/engine/hub"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/train"
	"github.com/limbic-dev/limbic/engine/train/checkpoint"
	"github.com/limbic-dev/limbic/engine/train/data"
	"github.com/limbic-dev/limbic/internal/atomicfile"
	"github.com/limbic-dev/limbic/science/chatdata"
	"github.com/limbic-dev/limbic/science/pipeline"
	"github.com/limbic-dev/limbic/science/stories"
)

// chatModelName is the model the chat recipe builds: stories15M fine-tuned
// on Human/Assistant dialogues made from its own labelled stories.
const chatModelName = "stories15m-chat"

// chatRecipe is how stories15m-chat is made. Every field is part of what
// the model is: a change makes another model (and another work directory).
type chatRecipe struct {
	Seed     uint64   `json:"seed"`
	Emotions []string `json:"emotions,omitempty"` // nil: the pipeline's default emotions
	Topics   []string `json:"topics,omitempty"`   // nil: the pipeline's children's topics
	PerTopic int      `json:"per_topic"`          // base-model stories per (emotion, topic)
	Epochs   float64  `json:"epochs"`
	Steps    int      `json:"steps,omitempty"` // when set, instead of Epochs
	// StoryRequests and AllowOtherWords are chatdata.Options' (zero: its
	// defaults).
	StoryRequests   float64 `json:"story_requests,omitempty"`
	AllowOtherWords bool    `json:"allow_other_words,omitempty"`
	Batch           int     `json:"batch"`
	SeqLen          int     `json:"seq_len"`
	LR              float64 `json:"lr"`
	MinLR           float64 `json:"min_lr"`
	Warmup          int     `json:"warmup"`
	Threads         int     `json:"threads"` // the result is the same bytes for a given count
}

// recipeStoryTokens is the length of the base model's stories the recipe's
// dialogues are made from.
const recipeStoryTokens = 40

// defaultChatRecipe fits in about 15 minutes on 2 cores.
var defaultChatRecipe = chatRecipe{Seed: 1, PerTopic: 4, Epochs: 3, Batch: 8, SeqLen: 256, LR: 5e-4, MinLR: 5e-5, Warmup: 20, Threads: 2}

func init() {
	model.RegisterRecipe(model.Recipe{Name: chatModelName,
		Description: "stories15M fine-tuned on Human/Assistant dialogues from its own stories (limbic tune --recipe chat)",
		Build: func(ctx context.Context, dir string) error {
			_, err := buildChatModel(ctx, dir, defaultChatRecipe, os.Stderr)
			return err
		}})
}

// chatWorkDir holds the recipe's stories, dialogues and training run, so an
// interrupted build resumes where it stopped.
func chatWorkDir() string { return filepath.Join(hub.Home(), "recipes", chatModelName) }

// buildChatModel makes stories15m-chat at dir: the base model's stories
// (pipeline.Stories, the default emotions and children's topics), the
// dialogues made from them (chatdata.Build), full fine-tuning through
// limbic tune's loop, and the last checkpoint installed at dir. Every step
// resumes from what an interrupted build left. It returns the work
// directory.
func buildChatModel(ctx context.Context, dir string, r chatRecipe, log io.Writer) (string, error) {
	work := chatWorkDir()
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", err
	}
	b, _ := json.Marshal(r)
	if had, err := os.ReadFile(filepath.Join(work, "recipe.json")); err == nil && string(had) != string(b) {
		return "", fmt.Errorf("recipe: %s holds a build with other settings (%s, not %s); remove it to rebuild", work, had, b)
	}
	if err := atomicfile.WriteBytes(filepath.Join(work, "recipe.json"), 0o644, b); err != nil {
		return "", err
	}
	t0 := time.Now()
	timings := map[string]string{}
	step := func(name string, t time.Time) {
		timings[name] = time.Since(t).Round(time.Second).String()
		fmt.Fprintf(log, "%s: %s: done in %s\n", chatModelName, name, timings[name])
	}

	// 1. The base model's labelled stories.
	t := time.Now()
	base, err := loadTextModelRef(ctx, model.Default)
	if err != nil {
		return "", err
	}
	storyDir := filepath.Join(work, "stories")
	var bar *progressbar.ProgressBar
	barStage := ""
	// The stories are 40 tokens whatever the pipeline's default (the length
	// the recipe was made and measured with; a change makes another model).
	cfg := pipeline.Config{Dir: storyDir, Seed: r.Seed, PerTopic: r.PerTopic, MaxTokens: recipeStoryTokens, Emotions: r.Emotions, Topics: r.Topics,
		Progress: func(stage string, done, total int) {
			if stage != barStage { // a bar per stage (stories, then neutral texts)
				if bar != nil {
					bar.Finish()
					fmt.Fprintln(log)
				}
				bar, barStage = newBar(int64(total), chatModelName+": "+stage), stage
			}
			bar.Set(done)
		}}
	_, _, err = pipeline.Stories(ctx, base, cfg)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(log)
	}
	base.Close()
	if err != nil {
		return "", fmt.Errorf("recipe: stories: %w", err)
	}
	step("stories", t)

	// 2. Dialogues.
	t = time.Now()
	sts, err := stories.ReadAll(filepath.Join(storyDir, pipeline.StoriesFile))
	if err != nil {
		return "", err
	}
	set, err := chatdata.Build(sts, chatdata.Options{Seed: r.Seed, StoryRequests: r.StoryRequests, AllowOtherWords: r.AllowOtherWords})
	if err != nil {
		return "", fmt.Errorf("recipe: dialogues: %w", err)
	}
	dataDir := filepath.Join(work, "data")
	if err := set.WriteDir(dataDir); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "%s: %d training dialogues (%d feel, %d story, %d neutral), %d held-out feel items\n",
		chatModelName, len(set.Train), set.Counts.Feel, set.Counts.Story, set.Counts.Neutral, len(set.HeldOutItems))
	step("dialogues", t)

	// 3. Full fine-tuning (resumes from the last checkpoint).
	t = time.Now()
	out := filepath.Join(work, "tune")
	c := tuneConfig{Model: model.Default, Data: filepath.Join(dataDir, "train.jsonl"), Epochs: r.Epochs, Steps: r.Steps,
		Batch: r.Batch, GradAccum: 1, SeqLen: r.SeqLen, LR: r.LR, MinLR: r.MinLR, Warmup: r.Warmup,
		WeightDecay: 0.1, Clip: 1, SaveEvery: 100, Seed: r.Seed, Threads: r.Threads, ChatTemplate: chatdata.Template}
	last, err := checkpoint.Latest(out)
	if err != nil {
		return "", err
	}
	if c.Steps > 0 {
		c.Epochs = 0
	}
	if err := runTune(ctx, c, out, last != "", false); err != nil {
		return "", fmt.Errorf("recipe: tune: %w", err)
	}
	step("tune", t)

	// 4. Install the last checkpoint's model files at dir.
	if last, err = checkpoint.Latest(out); err != nil || last == "" {
		return "", fmt.Errorf("recipe: no complete checkpoint in %s after training (%v)", out, err)
	}
	if err := installModel(last, dir); err != nil {
		return "", err
	}
	timings["total"] = time.Since(t0).Round(time.Second).String()
	b, _ = json.MarshalIndent(timings, "", "  ")
	if err := atomicfile.WriteBytes(filepath.Join(work, "timings.json"), 0o644, b); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "%s: installed at %s (%s in all)\n", chatModelName, dir, timings["total"])
	return work, nil
}

// installModel copies a checkpoint's model files (not its trainer or
// optimizer state) to dir, through a temporary directory renamed into place.
func installModel(ckpt, dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".install-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(ckpt, f))
		if err != nil {
			return fmt.Errorf("recipe: installing %s: %w", ckpt, err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			return err
		}
	}
	return atomicfile.ReplaceDir(tmp, dir)
}

// runChatRecipe is limbic tune --recipe chat: build stories15m-chat (or
// finish an interrupted build; a built model is kept unless rebuild), then
// evaluate it beside the base model and write WORK/eval.json.
func runChatRecipe(ctx context.Context, r chatRecipe, rebuild bool) error {
	dir := model.RecipeDir(chatModelName)
	_, err := os.Stat(filepath.Join(dir, "config.json"))
	if rebuild || err != nil {
		if _, err := buildChatModel(ctx, dir, r, os.Stderr); err != nil {
			return err
		}
	}
	work := chatWorkDir()
	var evals []*chatEval
	for _, ref := range []string{model.Default, chatModelName} {
		m, err := loadTextModelRef(ctx, ref)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s: evaluating %s\n", chatModelName, ref)
		ev, err := evalChatModel(ctx, m, work, 0)
		m.Close()
		if err != nil {
			return fmt.Errorf("evaluating %s: %w", ref, err)
		}
		evals = append(evals, ev)
	}
	b, _ := json.MarshalIndent(map[string]any{"recipe": r, "model": dir, "evals": evals}, "", "  ")
	if err := atomicfile.WriteBytes(filepath.Join(work, "eval.json"), 0o644, b); err != nil {
		return err
	}
	if g.jsonOut {
		fmt.Println(string(b))
		return nil
	}
	fmt.Printf("%s at %s (work: %s)\n\n", chatModelName, dir, work)
	fmt.Printf("%-16s %-26s %-26s %-26s %s\n", "model", "feel, held-out (correct)", "feel, hand-written", "ends its turn (held-out)", "val loss")
	for _, ev := range evals {
		r := func(x chatdata.Rate) string {
			return fmt.Sprintf("%3d/%-3d %5.1f%% [%4.1f, %4.1f]", x.K, x.N, 100*x.P, 100*x.Lo, 100*x.Hi)
		}
		fmt.Printf("%-16s %-26s %-26s %-26s %.4f\n", ev.Model, r(ev.HeldOut.Correct), r(ev.Hand.Correct), r(ev.HeldOut.Stopped), ev.ValLoss)
	}
	return nil
}

// chatEval is what `limbic tune --recipe chat` reports on a model: the
// feel question on held-out model-written stories and on hand-written ones,
// and the loss on the held-out dialogues.
type chatEval struct {
	Model    string          `json:"model"`
	HeldOut  chatdata.Result `json:"heldout"`
	Hand     chatdata.Result `json:"hand"`
	ValLoss  float64         `json:"val_loss"`
	ValToks  int             `json:"val_tokens"`
	Duration string          `json:"duration"`
}

// evalChatModel scores m (with the recipe's template when it has none) on
// the recipe's held-out items and dialogues in work; maxItems > 0 keeps the
// first maxItems items of each feel set (tests).
func evalChatModel(ctx context.Context, m *model.Model, work string, maxItems int) (*chatEval, error) {
	t0 := time.Now()
	if m.Tok.ChatTemplate() == "" {
		m.Tok.SetChatTemplate(chatdata.Template)
	}
	items, err := chatdata.ReadItems(filepath.Join(work, "data", "feel-heldout.jsonl"))
	if err != nil {
		return nil, err
	}
	hand, err := chatdata.HandItems()
	if err != nil {
		return nil, err
	}
	if maxItems > 0 {
		items, hand = items[:min(maxItems, len(items))], hand[:min(maxItems, len(hand))]
	}
	ev := &chatEval{Model: m.Name}
	if ev.HeldOut, err = chatdata.Feel(ctx, m, items, chatdata.FeelOptions{}); err != nil {
		return nil, err
	}
	if ev.Hand, err = chatdata.Feel(ctx, m, hand, chatdata.FeelOptions{}); err != nil {
		return nil, err
	}
	recs, err := data.ReadFile(filepath.Join(work, "data", "valid.jsonl"))
	if err != nil {
		return nil, err
	}
	enc, err := data.NewEncoder(m.Tok)
	if err != nil {
		return nil, err
	}
	exs := make([]data.Example, 0, len(recs))
	for _, r := range recs {
		ex, err := enc.Encode(r)
		if err != nil {
			return nil, err
		}
		exs = append(exs, ex)
	}
	rows, err := data.Pack(exs, defaultChatRecipe.SeqLen)
	if err != nil {
		return nil, err
	}
	tm, err := engineTrainable(m, tuneModelOptions{})
	if err != nil {
		return nil, err
	}
	if ev.ValLoss, ev.ValToks, err = train.Validate(ctx, tm, data.Batches(rows, 8)); err != nil {
		return nil, err
	}
	ev.Duration = time.Since(t0).Round(time.Second).String()
	return ev, nil
}
