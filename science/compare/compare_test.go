package compare

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limbic-dev/limbic/engine/arch"
	"github.com/limbic-dev/limbic/engine/hook"
	"github.com/limbic-dev/limbic/engine/model"
	"github.com/limbic-dev/limbic/engine/tensor"
	"github.com/limbic-dev/limbic/engine/tokenizer"
	"github.com/limbic-dev/limbic/internal/testpack"
	"github.com/limbic-dev/limbic/science/vecpack"
)

var emotions = []string{"happy", "sad", "calm", "afraid", "angry", "proud", "brooding", "playful"}

// byteVocab is a SentencePiece vocabulary of the three specials and the 256
// byte tokens: every text encodes, byte by byte. change, when ≥ 0, renames
// that token.
func byteVocab(change int, template string) tokenizer.GGUFVocab {
	n := 3 + 256
	v := tokenizer.GGUFVocab{Model: "llama", Tokens: make([]string, n), Scores: make([]float32, n), TokenTypes: make([]int32, n), ChatTemplate: template}
	for i := range v.Tokens {
		v.Tokens[i], v.TokenTypes[i] = fmt.Sprintf("<0x%02X>", i-3), int32(tokenizer.TypeByte)
	}
	v.Tokens[0], v.Tokens[1], v.Tokens[2] = "<unk>", "<s>", "</s>"
	v.TokenTypes[0], v.TokenTypes[1], v.TokenTypes[2] = int32(tokenizer.TypeUnknown), int32(tokenizer.TypeControl), int32(tokenizer.TypeControl)
	if change >= 0 {
		v.Tokens[change], v.TokenTypes[change] = "<renamed>", int32(tokenizer.TypeNormal)
	}
	ids := []int{0, 1, 2}
	v.UnknownID, v.BOSTokenID, v.EOSTokenID = &ids[0], &ids[1], &ids[2]
	return v
}

// gpt2Config is a small GPT-2 (biases everywhere) over the byte vocabulary.
func gpt2Config(t *testing.T, d int) arch.Config {
	t.Helper()
	fam, err := arch.Lookup("gpt2")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := fam.FromHF(map[string]any{"model_type": "gpt2", "vocab_size": 259.0, "n_embd": float64(d), "n_layer": 3.0, "n_head": 4.0, "n_positions": 256.0})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// writeModel writes a seeded random GPT-2 as a GGUF file, with edit applied
// to its tensors first, and loads it.
func writeModel(t *testing.T, name string, cfg arch.Config, v tokenizer.GGUFVocab, edit func(ts []*tensor.Tensor)) *model.Model {
	t.Helper()
	ts, err := arch.RandomTensors(cfg, 3, tensor.F32)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(ts)
	}
	path := filepath.Join(t.TempDir(), name+".gguf")
	if err := model.WriteGGUF(path, cfg, ts, &v, tensor.F32); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(context.Background(), path, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// plant adds c·u to the MLP output bias of block layer: the residual after
// that block moves by exactly c·u at every position.
func plant(t *testing.T, layer int, c float64, u []float32) func([]*tensor.Tensor) {
	return func(ts []*tensor.Tensor) {
		name := fmt.Sprintf("transformer.h.%d.mlp.c_proj.bias", layer)
		for i, x := range ts {
			if x.Name != name {
				continue
			}
			b, err := x.F32()
			if err != nil {
				t.Fatal(err)
			}
			nb := make([]float32, len(b))
			for k := range b {
				nb[k] = b[k] + float32(c)*u[k]
			}
			ts[i] = tensor.FromF32(x.Name, x.Shape, nb)
			return
		}
		t.Fatalf("no tensor %s", name)
	}
}

// meanNorm is the mean residual norm after block layer on the last token
// of the shipped prompts.
func meanNorm(t *testing.T, m *model.Model, layer int) float64 {
	t.Helper()
	var s float64
	ps := DefaultPrompts()
	for _, p := range ps {
		ids, err := Encode(m, p)
		if err != nil {
			t.Fatal(err)
		}
		hs := &hook.Set{}
		hs.Add(hook.Block(layer, hook.ResidPost), func(a *hook.Act) {
			if r := len(ids) - 1 - a.Pos; r >= 0 && r < a.Rows {
				var q float64
				for _, x := range a.Row(r) {
					q += float64(x) * float64(x)
				}
				s += math.Sqrt(q)
			}
		})
		if err := m.Transformer.Forward([]*arch.Seq{{Cache: m.NewCache(), Tokens: ids, Hooks: hs}}); err != nil {
			t.Fatal(err)
		}
	}
	return s / float64(len(ps))
}

func TestPlantedChangeComesOutOnTop(t *testing.T) {
	const d, layer = 64, 1
	cfg := gpt2Config(t, d)
	pack := testpack.Random(testpack.Options{Emotions: emotions, D: d, Layers: cfg.Layers, Seed: 5, BestLayer: layer})
	a := writeModel(t, "base", cfg, byteVocab(-1, ""), nil)
	c := meanNorm(t, a, layer)
	if !(c > 0) {
		t.Fatalf("mean residual norm %v", c)
	}
	for _, planted := range []string{"brooding", "calm"} {
		u, err := pack.Unit(layer, planted, vecpack.Denoised)
		if err != nil {
			t.Fatal(err)
		}
		b := writeModel(t, "post-"+planted, cfg, byteVocab(-1, ""), plant(t, layer, c, u))
		res, err := Run(context.Background(), a, b, pack, Options{Layer: -1})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.Layer, layer; got != want {
			t.Errorf("%s: layer %d, want the best layer %d", planted, got, want)
		}
		if got, want := len(res.Emotions), len(emotions); got != want {
			t.Fatalf("%s: %d emotions, want %d", planted, got, want)
		}
		top := res.Emotions[0]
		t.Logf("planted %s: top %s %+.4f, next %s %+.4f, r_profiles %s, r_change %s", planted, top.Emotion, top.Diff, res.Emotions[1].Emotion, res.Emotions[1].Diff, res.RProfiles, res.RChange)
		if got, want := top.Emotion, planted; got != want {
			t.Errorf("planted %s: top emotion %s (diff %+.4f), want %s", planted, got, top.Diff, want)
		}
		// The planted one rises by far the most: c = ‖h‖ makes its cosine
		// grow by about 0.5; a random other direction moves by about
		// |u·v| ≈ 1/√d of that.
		if !(top.Diff >= 0.3) {
			t.Errorf("planted %s: diff %+.4f, want ≥ 0.3", planted, top.Diff)
		}
		if second := res.Emotions[1]; !(top.Diff >= 2*math.Abs(second.Diff)) {
			t.Errorf("planted %s: diff %+.4f not twice the next (%s %+.4f)", planted, top.Diff, second.Emotion, second.Diff)
		}
		for _, r := range res.Emotions {
			if d := r.Diff - (r.B - r.A); !(math.Abs(d) <= 1e-12) {
				t.Errorf("%s: diff %v, b − a %v", r.Emotion, r.Diff, r.B-r.A)
			}
		}
		// A shift that does not depend on the prompt: the change vectors of
		// the two groups agree.
		if !(float64(res.RChange) >= 0.9) {
			t.Errorf("planted %s: r_change %v, want ≥ 0.9 for a constant shift", planted, res.RChange)
		}
		if !(math.Abs(float64(res.RProfiles)) <= 1) {
			t.Errorf("planted %s: r_profiles %v, want a correlation", planted, res.RProfiles)
		}
	}
}

func TestSameModelNoChange(t *testing.T) {
	const d = 64
	cfg := gpt2Config(t, d)
	pack := testpack.Random(testpack.Options{Emotions: emotions, D: d, Layers: cfg.Layers, Seed: 5, BestLayer: -1})
	a := writeModel(t, "a", cfg, byteVocab(-1, ""), nil)
	b := writeModel(t, "b", cfg, byteVocab(-1, ""), nil)
	res, err := Run(context.Background(), a, b, pack, Options{Layer: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Layer, 2; got != want { // nearest two-thirds of 3 layers
		t.Errorf("layer %d, want %d", got, want)
	}
	for _, r := range res.Emotions {
		if !(r.Diff == 0) || !(r.A == r.B) {
			t.Errorf("%s: a %v, b %v, diff %v: want no change", r.Emotion, r.A, r.B, r.Diff)
		}
	}
	if got := float64(res.RProfiles); !(math.Abs(got-1) <= 1e-9) {
		t.Errorf("r_profiles %v, want 1", got)
	}
	if !math.IsNaN(float64(res.RChange)) {
		t.Errorf("r_change %v, want undefined (no change at all)", res.RChange)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(res); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if v, ok := back["r_change"]; !ok || v != nil {
		t.Errorf("JSON r_change %v (present %v), want null", v, ok)
	}
	rows, _ := back["emotions"].([]any)
	if len(rows) != len(emotions) {
		t.Fatalf("JSON has %d emotions, want %d", len(rows), len(emotions))
	}
	for _, k := range []string{"emotion", "a", "b", "diff"} {
		if _, ok := rows[0].(map[string]any)[k]; !ok {
			t.Errorf("JSON emotion row lacks %q", k)
		}
	}
}

func TestRefusesIncompatibleModels(t *testing.T) {
	cfg := gpt2Config(t, 64)
	a := writeModel(t, "a", cfg, byteVocab(-1, ""), nil)
	pack := testpack.Random(testpack.Options{Emotions: emotions, D: 64, Layers: cfg.Layers, Seed: 5, BestLayer: 1})
	tests := []struct {
		name string
		b    *model.Model
		want []string
	}{
		{"tokenizer", writeModel(t, "tok", cfg, byteVocab(100, ""), nil), []string{"different tokenizers", "token 100", "<renamed>"}},
		{"width", writeModel(t, "narrow", gpt2Config(t, 32), byteVocab(-1, ""), nil), []string{"width", "64", "32"}},
	}
	for _, tt := range tests {
		_, err := Run(context.Background(), a, tt.b, pack, Options{Layer: -1})
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tt.name, err, w)
			}
		}
	}
}

func TestMixedProtocolsAreNamed(t *testing.T) {
	cfg := gpt2Config(t, 64)
	tmpl := "{% for m in messages %}User: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}Bot:{% endif %}"
	a := writeModel(t, "base", cfg, byteVocab(-1, ""), nil)
	b := writeModel(t, "chat", cfg, byteVocab(-1, tmpl), nil)
	p := Prompt{Group: Neutral, Text: "Hi"}
	for _, tt := range []struct {
		m    *model.Model
		want string
	}{{a, "Human: Hi\n\nAssistant:"}, {b, "User: Hi\nBot:"}} {
		ids, err := Encode(tt.m, p)
		if err != nil {
			t.Fatal(err)
		}
		// The byte vocabulary has no "▁" piece: SentencePiece's space marker
		// comes back as itself.
		if got := strings.TrimPrefix(strings.ReplaceAll(tt.m.Tok.Decode(ids), "▁", " "), " "); got != tt.want {
			t.Errorf("%s: prompt %q, want %q", tt.m.Name, got, tt.want)
		}
	}
	pack := testpack.Random(testpack.Options{Emotions: emotions, D: 64, Layers: cfg.Layers, Seed: 5, BestLayer: 1})
	res, err := Run(context.Background(), a, b, pack, Options{Layer: 1, Prompts: []Prompt{p, {Group: Challenging, Text: "You lied."}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.A.Protocol+"/"+res.B.Protocol, "base/chat"; got != want {
		t.Errorf("protocols %s, want %s", got, want)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "prompted differently") {
		t.Errorf("notes %q, want one saying the models were prompted differently", res.Notes)
	}
}
