package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/format/peft"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
	"github.com/limbic-dev/limbic/engine/train"
	"github.com/limbic-dev/limbic/engine/train/checkpoint"
	"github.com/limbic-dev/limbic/engine/train/data"
)

// tuneModel is the model limbic tune fits and what it saves of it.
type tuneModel struct {
	train.Trainable
	// Full returns the full weights under Hugging Face names and layout,
	// with the config that describes them (full fine-tuning).
	Full func() (arch.Config, []*tensor.Tensor, error)
	// Adapter returns the LoRA matrices under PEFT's names, in the Hugging
	// Face layout (LoRA runs).
	Adapter func() ([]*tensor.Tensor, error)
}

// tuneModelOptions are the model options of limbic tune (train.Options).
type tuneModelOptions struct {
	Recompute bool
	LoRA      *tuneLoRA // nil: full fine-tuning
}

// tuneLoRA mirrors train.LoRAConfig.
type tuneLoRA struct {
	Rank           int
	Alpha, Dropout float64
	Targets        []string
	Seed           uint64
}

// newTrainable builds the trainable model from a loaded one: the engine's
// backward pass (engineTrainable); tests replace it with a toy model.
var newTrainable = engineTrainable

// tuneConfig is what a run was asked to do; it is stored in every
// checkpoint, and --resume requires the same (see sameRun).
type tuneConfig struct {
	Model       string   `json:"model"`
	Data        string   `json:"data"`
	Steps       int      `json:"steps"`
	Epochs      float64  `json:"epochs,omitempty"`
	Batch       int      `json:"batch"`
	GradAccum   int      `json:"grad_accum"`
	SeqLen      int      `json:"seq_len"`
	LR          float64  `json:"lr"`
	MinLR       float64  `json:"min_lr"`
	Warmup      int      `json:"warmup"`
	WeightDecay float64  `json:"weight_decay"`
	Clip        float64  `json:"clip"`
	Val         float64  `json:"val"`
	ValEvery    int      `json:"val_every"`
	SaveEvery   int      `json:"save_every"`
	Seed        uint64   `json:"seed"`
	Threads     int      `json:"threads"`
	Recompute   bool     `json:"recompute"`
	LoRARank    int      `json:"lora_rank,omitempty"`
	LoRAAlpha   float64  `json:"lora_alpha,omitempty"`
	LoRADropout float64  `json:"lora_dropout,omitempty"`
	LoRATargets []string `json:"lora_targets,omitempty"`
	AppendEOS   bool     `json:"append_eos"`
	// ChatTemplate is the template given with --chat-template (its text).
	ChatTemplate string `json:"chat_template,omitempty"`
}

func newTuneCmd() *cobra.Command {
	var (
		c       tuneConfig
		tmpl    string
		out     string
		targets string
		resume  bool
		merge   bool
		recipe  string
		rebuild bool
	)
	cmd := &cobra.Command{
		Use:   "tune --data FILE.jsonl --out DIR [flags]",
		Short: "Fine-tune a model (full or LoRA) on JSONL text or conversations",
		Long: `Tune fine-tunes the --model on a JSONL file: lines {"text": ...} train on
every token; lines {"messages": [{"role", "content"}, ...]} are rendered with
the model's chat template and train on the assistant's tokens only. Examples
are packed into rows of --seq-len tokens; --val sets whole examples aside
for a validation loss.

Training is AdamW (betas 0.9 and 0.95, eps 1e-8, decoupled weight decay on
the matrices, bias correction), gradient
clipping by global norm, a linear warm-up then a cosine decay to --min-lr,
and gradient accumulation. With --lora-rank it trains a LoRA adapter instead
of every weight.

Checkpoints are Hugging Face directories OUT/checkpoint-STEP (full weights,
or a PEFT adapter: load it with --model OUT/checkpoint-STEP or
--model BASE+OUT/checkpoint-STEP), written every --save-every steps and at
the end. --resume continues from the last complete checkpoint with the same
losses as an uninterrupted run (same flags and thread count).`,
		Example: `  limbic tune --data chats.jsonl --out runs/chat --epochs 2 --batch 8 --seq-len 256
  limbic tune --data chats.jsonl --out runs/lora --steps 500 --lora-rank 16 --lora-targets q_proj,v_proj --merge
  limbic tune --data chats.jsonl --out runs/chat --epochs 2 --batch 8 --seq-len 256 --resume
  limbic tune --recipe chat`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch recipe {
			case "":
			case "chat":
				return runChatRecipe(cmd.Context(), defaultChatRecipe, rebuild)
			default:
				return fmt.Errorf("--recipe %q: the recipes are: chat (stories15m-chat)", recipe)
			}
			c.Model = g.model
			c.LoRATargets = nil
			if targets != "" {
				for _, s := range strings.Split(targets, ",") {
					if s = strings.TrimSpace(s); s != "" {
						c.LoRATargets = append(c.LoRATargets, s)
					}
				}
			}
			if err := c.check(cmd.Flags().Changed("steps"), cmd.Flags().Changed("epochs"), out, merge); err != nil {
				return err
			}
			c.ChatTemplate = ""
			if tmpl != "" {
				b, err := os.ReadFile(tmpl)
				if err != nil {
					return fmt.Errorf("--chat-template: %w", err)
				}
				if _, err := chat.Parse(string(b)); err != nil {
					return fmt.Errorf("--chat-template %s: %w", tmpl, err)
				}
				c.ChatTemplate = string(b)
			}
			return runTune(cmd.Context(), c, out, resume, merge)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Data, "data", "", "training data: a JSONL file of {\"text\": ...} or {\"messages\": [...]} lines")
	f.StringVar(&out, "out", "", "output directory for the checkpoints (OUT/checkpoint-STEP)")
	f.IntVar(&c.Steps, "steps", 0, "optimizer steps (or give --epochs)")
	f.Float64Var(&c.Epochs, "epochs", 0, "passes over the training rows (default 1 when --steps is not given)")
	f.IntVar(&c.Batch, "batch", 8, "rows per micro-batch")
	f.IntVar(&c.GradAccum, "grad-accum", 1, "micro-batches accumulated per optimizer step")
	f.IntVar(&c.SeqLen, "seq-len", 256, "tokens per row")
	f.Float64Var(&c.LR, "lr", 3e-4, "peak learning rate")
	f.Float64Var(&c.MinLR, "min-lr", 0, "learning rate at the end of the cosine decay")
	f.IntVar(&c.Warmup, "warmup", 0, "linear warm-up steps")
	f.Float64Var(&c.WeightDecay, "weight-decay", 0.1, "AdamW's decoupled weight decay (matrices only)")
	f.Float64Var(&c.Clip, "clip", 1, "clip the global gradient norm to this (0: no clipping)")
	f.Float64Var(&c.Val, "val", 0.05, "validation split: a fraction of the examples, or a whole count (0: none)")
	f.IntVar(&c.ValEvery, "val-every", 0, "validation loss every N steps (0: only at the end)")
	f.IntVar(&c.SaveEvery, "save-every", 0, "checkpoint every N steps (0: only at the end)")
	f.Uint64Var(&c.Seed, "seed", 0, "seed of the shuffles, the validation split, LoRA's initialisation and dropout")
	f.IntVarP(&c.Threads, "threads", "t", 0, "worker threads (default: all cores; results are reproducible for a given count)")
	f.BoolVar(&c.Recompute, "recompute", false, "recompute activations in the backward pass instead of keeping them (less memory, slower)")
	f.IntVar(&c.LoRARank, "lora-rank", 0, "train a LoRA adapter of this rank instead of every weight (0: full fine-tuning)")
	f.Float64Var(&c.LoRAAlpha, "lora-alpha", 16, "LoRA's alpha (the update is scaled by alpha/rank)")
	f.Float64Var(&c.LoRADropout, "lora-dropout", 0.05, "dropout on LoRA's input")
	f.StringVar(&targets, "lora-targets", "q_proj,k_proj,v_proj,o_proj", "modules LoRA adapts, by name (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)")
	f.StringVar(&tmpl, "chat-template", "", "a Jinja chat template file to render the conversations with, saved in the checkpoints (default: the model's)")
	f.BoolVar(&c.AppendEOS, "append-eos", false, "put the tokenizer's EOS after every example")
	f.BoolVar(&resume, "resume", false, "continue from the last complete checkpoint in --out")
	f.BoolVar(&merge, "merge", false, "LoRA: also write the weights with the adapter merged to OUT/merged")
	f.StringVar(&recipe, "recipe", "", "build a model limbic ships a recipe for, then evaluate it: chat (stories15m-chat, stories15M fine-tuned on dialogues made from its own stories; also built on first use of --model stories15m-chat)")
	f.BoolVar(&rebuild, "rebuild", false, "with --recipe: build the model again even if it exists (an interrupted build resumes anyway)")
	addJSON(cmd)
	return cmd
}

// check validates the flags before anything is loaded.
func (c *tuneConfig) check(stepsSet, epochsSet bool, out string, merge bool) error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.Data == "":
		return errors.New("--data is required")
	case out == "":
		return errors.New("--out is required")
	case stepsSet && epochsSet:
		return errors.New("--steps and --epochs: give one")
	case stepsSet && c.Steps < 1:
		return fmt.Errorf("--steps %d: must be at least 1", c.Steps)
	case epochsSet && !(c.Epochs > 0 && finite(c.Epochs)):
		return fmt.Errorf("--epochs %v: must be a positive number", c.Epochs)
	case !(c.LR > 0 && finite(c.LR)):
		return fmt.Errorf("--lr %v: must be a positive number", c.LR)
	case !(c.MinLR >= 0 && c.MinLR <= c.LR):
		return fmt.Errorf("--min-lr %v: must be between 0 and --lr %v", c.MinLR, c.LR)
	case !(c.WeightDecay >= 0 && finite(c.WeightDecay)):
		return fmt.Errorf("--weight-decay %v: must be a number ≥ 0", c.WeightDecay)
	case !(c.Clip >= 0 && finite(c.Clip)):
		return fmt.Errorf("--clip %v: must be a number ≥ 0", c.Clip)
	case !(c.Val >= 0 && finite(c.Val)) || c.Val >= 1 && c.Val != math.Trunc(c.Val):
		return fmt.Errorf("--val %v: must be a fraction in [0, 1) or a whole count", c.Val)
	case c.LoRARank > 0 && !(c.LoRAAlpha > 0 && finite(c.LoRAAlpha)):
		return fmt.Errorf("--lora-alpha %v: must be a positive number", c.LoRAAlpha)
	case c.LoRARank > 0 && !(c.LoRADropout >= 0 && c.LoRADropout < 1):
		return fmt.Errorf("--lora-dropout %v: must be in [0, 1)", c.LoRADropout)
	case c.LoRARank > 0 && len(c.LoRATargets) == 0:
		return errors.New("--lora-targets: name at least one module")
	case merge && c.LoRARank == 0:
		return errors.New("--merge: only for LoRA runs (--lora-rank); a full fine-tuning checkpoint already holds the weights")
	}
	if !stepsSet && !epochsSet {
		c.Epochs = 1
	}
	for _, f := range []struct {
		flag   string
		v, min int
	}{{"batch", c.Batch, 1}, {"grad-accum", c.GradAccum, 1}, {"seq-len", c.SeqLen, 1}, {"warmup", c.Warmup, 0},
		{"val-every", c.ValEvery, 0}, {"save-every", c.SaveEvery, 0}, {"threads", c.Threads, 0}, {"lora-rank", c.LoRARank, 0}} {
		if err := inRange(f.flag, f.v, f.min, maxContext); err != nil {
			return err
		}
	}
	if c.LoRARank == 0 {
		c.LoRAAlpha, c.LoRADropout, c.LoRATargets = 0, 0, nil
	}
	return nil
}

// sameRun reports how a checkpoint's tune config differs from c.
func sameRun(saved json.RawMessage, c tuneConfig) error {
	var s tuneConfig
	if err := json.Unmarshal(saved, &s); err != nil {
		return fmt.Errorf("the checkpoint's tune_config: %w", err)
	}
	a, _ := json.Marshal(s)
	b, _ := json.Marshal(c)
	if string(a) == string(b) {
		return nil
	}
	var ma, mb map[string]any
	json.Unmarshal(a, &ma)
	json.Unmarshal(b, &mb)
	var diffs []string
	for k, v := range mb {
		if fmt.Sprint(ma[k]) != fmt.Sprint(v) {
			diffs = append(diffs, fmt.Sprintf("%s %v (the checkpoint has %v)", k, v, ma[k]))
		}
	}
	for k, v := range ma {
		if _, ok := mb[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s unset (the checkpoint has %v)", k, v))
		}
	}
	return fmt.Errorf("--resume needs the flags the run started with: %s", strings.Join(diffs, "; "))
}

// tuneData reads, tokenizes, splits and packs the training data.
func tuneData(c tuneConfig, enc *data.Encoder, recs []data.Record) (*data.Set, []train.Batch, error) {
	exs := make([]data.Example, 0, len(recs))
	for _, r := range recs {
		ex, err := enc.Encode(r)
		if err != nil {
			return nil, nil, err
		}
		exs = append(exs, ex)
	}
	trainEx, valEx, err := data.Split(exs, c.Val, c.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("--val: %w", err)
	}
	rows, err := data.Pack(trainEx, c.SeqLen)
	if err != nil {
		return nil, nil, err
	}
	set, err := data.NewSet(rows, c.Batch, c.GradAccum, c.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", c.Data, err)
	}
	var val []train.Batch
	if len(valEx) > 0 {
		vrows, err := data.Pack(valEx, c.SeqLen)
		if err != nil {
			return nil, nil, err
		}
		val = data.Batches(vrows, c.Batch)
	}
	return set, val, nil
}

// adapterBase is the base model an adapter names: an absolute path for a
// local model, the ref itself otherwise (stories15m, ORG/NAME).
func adapterBase(ref string) string {
	if _, err := os.Stat(ref); err == nil {
		if abs, err := filepath.Abs(ref); err == nil {
			return abs
		}
	}
	return ref
}

func runTune(ctx context.Context, c tuneConfig, out string, resume, merge bool) error {
	return runTuneTo(ctx, c, out, resume, merge, os.Stdout, g.jsonOut)
}

// runTuneTo is runTune writing its summary (and, with jsonOut, a JSON line
// per step) to stdout instead of the process's standard output.
func runTuneTo(ctx context.Context, c tuneConfig, out string, resume, merge bool, stdout io.Writer, jsonOut bool) error {
	if c.Threads > 0 {
		runtime.GOMAXPROCS(c.Threads)
	}
	recs, err := data.ReadFile(c.Data)
	if err != nil {
		return err
	}
	var loaded *checkpoint.Loaded
	modelRef := c.Model
	if resume {
		dir, err := checkpoint.Latest(out)
		if err != nil {
			return err
		}
		if dir == "" {
			return fmt.Errorf("--resume: no complete checkpoint in %s", out)
		}
		if loaded, err = checkpoint.Load(dir); err != nil {
			return err
		}
		defer loaded.Close()
		if err := sameRun(loaded.TuneConfig, c); err != nil {
			return err
		}
		if loaded.Adapter == nil {
			modelRef = dir // full fine-tuning: the checkpoint holds the weights
		}
	} else if last, err := checkpoint.Latest(out); err != nil {
		return err
	} else if last != "" {
		return fmt.Errorf("--out %s already holds %s: use --resume to continue it, or another --out", out, filepath.Base(last))
	}
	m, err := loadTextModelRef(ctx, modelRef)
	if err != nil {
		return err
	}
	defer m.Close()
	if c.ChatTemplate != "" {
		m.Tok.SetChatTemplate(c.ChatTemplate)
	}
	enc, err := data.NewEncoder(m.Tok)
	if err != nil {
		return err
	}
	enc.AppendEOS = c.AppendEOS
	set, val, err := tuneData(c, enc, recs)
	if err != nil {
		return err
	}
	asked := c // as stored in checkpoints (and compared on --resume)
	if c.Epochs > 0 {
		c.Steps = set.StepsFor(c.Epochs)
	}
	mo := tuneModelOptions{Recompute: c.Recompute}
	if c.LoRARank > 0 {
		mo.LoRA = &tuneLoRA{Rank: c.LoRARank, Alpha: c.LoRAAlpha, Dropout: c.LoRADropout, Targets: c.LoRATargets, Seed: c.Seed}
	}
	tm, err := newTrainable(m, mo)
	if err != nil {
		return err
	}
	var st *train.State
	if loaded != nil {
		if err := loaded.Restore(tm.Params()); err != nil {
			return err
		}
		st = loaded.State
	}
	cfg := train.Config{Steps: c.Steps, GradAccum: c.GradAccum,
		Schedule: train.Schedule{LR: c.LR, Min: c.MinLR, Warmup: c.Warmup, Total: c.Steps},
		Beta1:    0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: c.WeightDecay, Clip: c.Clip,
		ValEvery: c.ValEvery, SaveEvery: c.SaveEvery, Seed: c.Seed}
	var last string
	save := func(_ context.Context, s *train.State) error {
		ck := checkpoint.Checkpoint{Tokenizer: m.Tok, State: s, Params: tm.Params(), TuneConfig: asked}
		if c.LoRARank > 0 {
			ts, err := tm.Adapter()
			if err != nil {
				return err
			}
			ck.Adapter = &checkpoint.AdapterFiles{Config: peft.NewConfig(adapterBase(c.Model), c.LoRARank, c.LoRAAlpha, c.LoRADropout, c.LoRATargets), Tensors: ts}
			ck.StoreParams = true
		} else {
			hc, ts, err := tm.Full()
			if err != nil {
				return err
			}
			if ck.ConfigJSON, err = checkpoint.ConfigJSON(hc, m.Tok); err != nil {
				return err
			}
			ck.Tensors = ts
		}
		dir, err := checkpoint.Write(out, ck)
		last = dir
		return err
	}
	var jsonW io.Writer
	if jsonOut {
		jsonW = stdout
	}
	bar := newBar(int64(c.Steps), "tune")
	if st != nil {
		bar.Set(st.Step)
	}
	final, err := train.Run(ctx, cfg, tm, set, train.RunOptions{Val: val, Resume: st, Save: save, JSON: jsonW,
		Progress: func(p train.Progress) {
			bar.Describe(fmt.Sprintf("tune: loss %.4f  %.0f tok/s", p.Loss, p.TokensPerSec))
			bar.Set(p.Step)
		}})
	bar.Finish()
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	if last == "" { // resumed at the end: nothing left to train
		last = checkpoint.Dir(out, final.Step)
	}
	summary := map[string]any{"steps": final.Step, "epoch": final.Epoch, "checkpoint": last}
	if n := len(final.Log); n > 0 {
		summary["loss"] = final.Log[n-1].Loss
	}
	if n := len(final.Val); n > 0 {
		summary["val_loss"] = final.Val[n-1].Loss
	}
	if merge {
		mdir := filepath.Join(out, "merged")
		mm, err := loadModelRef(ctx, c.Model+"+"+last)
		if err != nil {
			return fmt.Errorf("--merge: %w", err)
		}
		err = mm.ExportHF(mdir, true)
		mm.Close()
		if err != nil {
			return fmt.Errorf("--merge: %w", err)
		}
		summary["merged"] = mdir
	}
	if jsonOut {
		b, _ := json.Marshal(summary)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "trained %d steps (epoch %.2f): loss %.4f", final.Step, final.Epoch, summary["loss"])
	if v, ok := summary["val_loss"]; ok {
		fmt.Fprintf(stdout, ", validation loss %.4f", v)
	}
	fmt.Fprintf(stdout, "\ncheckpoint: %s\n", last)
	if merge {
		fmt.Fprintf(stdout, "merged: %s\n", summary["merged"])
	}
	return nil
}
