// Package chat renders conversations into prompts with a model's chat
// template: the Jinja template that Hugging Face's tokenizer_config.json
// ("chat_template") or a GGUF file ("tokenizer.chat_template") carries.
//
// Templates are rendered as transformers' apply_chat_template does: Jinja
// with trim_blocks and lstrip_blocks, the variables messages,
// add_generation_prompt, bos_token and eos_token, and the functions
// raise_exception and strftime_now (plus namespace, range, the usual
// filters and Python string methods). The engine is
// github.com/ardanlabs/jinja, a pure-Go Jinja written for LLM chat
// templates; it renders the real templates of Llama 2, Llama 3/3.1/3.2,
// Mistral, Qwen2.5, Qwen3, Gemma 2/3 and SmolLM2 exactly (see the tests).
//
// Models without a template (llama2.c's stories15M, GPT-2) get Plain, a
// documented "User: ...\nAssistant:" format.
package chat

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"

	"github.com/limbic-dev/limbic/engine/tokenizer"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // "system", "user", "assistant" (templates may know others, e.g. "tool")
	Content string `json:"content"`
}

// Plain is the fallback chat template for models without one: an optional
// system text, then "User: <text>" and "Assistant: <text>" lines, and with
// add_generation_prompt a final "Assistant:" for the model to continue.
//
//	You are kind.
//
//	User: Hello
//	Assistant: Hi!
//	User: How are you?
//	Assistant:
const Plain = `{%- for message in messages -%}
{%- if message['role'] == 'system' -%}
{{ message['content'] + '\n\n' }}
{%- elif message['role'] == 'user' -%}
{{ 'User: ' + message['content'] + '\n' }}
{%- elif message['role'] == 'assistant' -%}
{{ 'Assistant: ' + message['content'] + '\n' }}
{%- else -%}
{{ message['role'] | capitalize + ': ' + message['content'] + '\n' }}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{ 'Assistant:' }}
{%- endif -%}`

// Template is a compiled chat template. It is safe for concurrent use.
type Template struct {
	src string
	t   *jinja.Template
	g   *goTemplate // an ollama (Go text/template) template instead
}

// Parse compiles a chat template: Jinja, or a Go text/template as ollama
// keeps them (see IsGoTemplate).
func Parse(src string) (*Template, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("chat template: empty")
	}
	if IsGoTemplate(src) {
		g, err := parseGo(src)
		if err != nil {
			return nil, err
		}
		return &Template{src: src, g: g}, nil
	}
	t, err := jinja.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	return &Template{src: src, t: t}, nil
}

// Source returns the template text.
func (t *Template) Source() string { return t.src }

// Options are the variables a render sees besides messages.
type Options struct {
	// AddGenerationPrompt ends the prompt with the assistant's turn header.
	AddGenerationPrompt bool
	// BOS and EOS are the texts of bos_token and eos_token.
	BOS, EOS string
	// Now is the clock of strftime_now (nil: time.Now).
	Now func() time.Time
	// Vars are further template variables (date_string, tools,
	// enable_thinking, ...). They may not replace messages,
	// add_generation_prompt, bos_token or eos_token.
	Vars map[string]any
}

// Render renders msgs.
func (t *Template) Render(msgs []Message, o Options) (string, error) {
	if t.g != nil {
		return t.g.render(msgs, o)
	}
	vals := make(map[string]jinja.Value, len(o.Vars)+6)
	for k, v := range o.Vars {
		vals[k] = jinja.FromGoValue(v)
	}
	list := make([]jinja.Value, len(msgs))
	for i, m := range msgs {
		d := jinja.NewDict()
		dd := d.AsDict()
		dd.Keys = []string{"role", "content"}
		dd.Data = map[string]jinja.Value{"role": jinja.NewString(m.Role), "content": jinja.NewString(m.Content)}
		list[i] = d
	}
	vals["messages"] = jinja.NewList(list)
	vals["add_generation_prompt"] = jinja.NewBool(o.AddGenerationPrompt)
	vals["bos_token"] = jinja.NewString(o.BOS)
	vals["eos_token"] = jinja.NewString(o.EOS)
	now := o.Now
	if now == nil {
		now = time.Now
	}
	vals["strftime_now"] = jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) != 1 || !args[0].IsString() {
			return jinja.Undefined(), errors.New("strftime_now: want one format string")
		}
		return jinja.NewString(strftime(now(), args[0].AsString())), nil
	})
	out, err := t.t.RenderValues(vals)
	if err != nil {
		return "", fmt.Errorf("chat template: %w", err)
	}
	return out, nil
}

// ForTokenizer returns the tokenizer's chat template (Plain when it has
// none) and Options carrying its BOS and EOS texts.
func ForTokenizer(tk *tokenizer.Tokenizer) (*Template, Options, error) {
	src := tk.ChatTemplate()
	if src == "" {
		src = Plain
	}
	t, err := Parse(src)
	if err != nil {
		return nil, Options{}, err
	}
	return t, Options{BOS: tk.Token(tk.BOS()), EOS: tk.Token(tk.EOS())}, nil
}

// Render renders msgs with tk's chat template (Plain when it has none).
func Render(tk *tokenizer.Tokenizer, msgs []Message, addGenerationPrompt bool) (string, error) {
	t, o, err := ForTokenizer(tk)
	if err != nil {
		return "", err
	}
	o.AddGenerationPrompt = addGenerationPrompt
	return t.Render(msgs, o)
}

// Encode renders msgs with tk's chat template and encodes the prompt,
// parsing the special tokens the template writes. BOS is put first only
// when the model expects one and the template did not already write it
// (llama.cpp's rule; templates such as Llama 3's write bos_token
// themselves).
func Encode(tk *tokenizer.Tokenizer, msgs []Message, addGenerationPrompt bool) ([]int, error) {
	prompt, err := Render(tk, msgs, addGenerationPrompt)
	if err != nil {
		return nil, err
	}
	ids := tk.Encode(prompt, false)
	if tk.DefaultAddBOS() && (len(ids) == 0 || ids[0] != tk.BOS()) {
		ids = append([]int{tk.BOS()}, ids...)
	}
	return ids, nil
}

// strftime formats t with C strftime directives (the common ones).
func strftime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			fmt.Fprintf(&b, "%02d", h)
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}
