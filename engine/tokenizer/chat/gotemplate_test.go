package chat

import (
	"strings"
	"testing"
	"time"
)

func TestIsGoTemplate(t *testing.T) {
	for _, c := range []struct {
		src  string
		want bool
	}{
		{"{{ .Prompt }}", true},
		{"{{- if .System }}x{{ end }}", true},
		{"{{- range $i, $_ := .Messages }}{{ end }}", true},
		{Plain, false},
		{"{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}", false},
		{"{{ messages[0]['content'] }}", false},
	} {
		if got := IsGoTemplate(c.src); got != c.want {
			t.Errorf("IsGoTemplate(%q) = %v, want %v", c.src, got, c.want)
		}
	}
}

// An older ollama template (Llama 2's): System, Prompt and Response only,
// executed once per exchange.
const llama2Go = `[INST] <<SYS>>{{ .System }}<</SYS>>

{{ .Prompt }} [/INST] {{ .Response }}`

func TestGoTemplateLegacy(t *testing.T) {
	tpl, err := Parse(llama2Go)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{
		{"system", "Be brief."},
		{"user", "Hi"},
		{"assistant", "Hello."},
		{"user", "How are you?"},
	}
	got, err := tpl.Render(msgs, Options{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	want := "[INST] <<SYS>>Be brief.<</SYS>>\n\nHi [/INST] Hello." +
		"[INST] <<SYS>><</SYS>>\n\nHow are you? [/INST] "
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// Without the generation prompt the last exchange is shown whole (with
	// an empty reply).
	got, err = tpl.Render(msgs[:3], Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[INST] <<SYS>>Be brief.<</SYS>>\n\nHi [/INST] Hello."; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestGoTemplateResponseAppended(t *testing.T) {
	// no .Response: ollama appends it, so a transcript keeps the replies
	tpl, err := Parse("USER: {{ .Prompt }}\nBOT:")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render([]Message{{"user", "a"}, {"assistant", " b\n"}, {"user", "c"}}, Options{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "USER: a\nBOT: b\nUSER: c\nBOT:"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// A newer ollama template (Llama 3's form) ranges over .Messages.
const llama3Go = `{{- if .System }}<|start_header_id|>system<|end_header_id|>

{{ .System }}<|eot_id|>
{{- end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|start_header_id|>user<|end_header_id|>

{{ .Content }}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- else if eq .Role "assistant" }}<|start_header_id|>assistant<|end_header_id|>

{{ .Content }}{{ if not $last }}<|eot_id|>{{ end }}
{{- end }}
{{- end }}`

func TestGoTemplateMessages(t *testing.T) {
	tpl, err := Parse(llama3Go)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render(withSystem[:2], Options{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	want := "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>" +
		"<|start_header_id|>user<|end_header_id|>\n\nHow do you feel today?<|eot_id|>" +
		"<|start_header_id|>assistant<|end_header_id|>\n\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// consecutive user messages are merged
	got, err = tpl.Render([]Message{{"user", "a"}, {"user", "b"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "a\n\nb<|eot_id|>") {
		t.Errorf("merged turns: %q", got)
	}
}

func TestGoTemplateFuncsAndErrors(t *testing.T) {
	tpl, err := Parse(`{{ currentDate }} {{ json .Prompt }}{{ .Response }}`)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC) }
	got, err := tpl.Render([]Message{{"user", `say "hi"`}}, Options{AddGenerationPrompt: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if want := `2026-12-03 "say \"hi\""`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := Parse("{{ .Prompt }}{{ nosuchfunc }}"); err == nil || !strings.Contains(err.Error(), "Go text/template") {
		t.Errorf("unknown function: %v", err)
	}
	legacy, _ := Parse("{{ .Prompt }}")
	if _, err := legacy.Render([]Message{{"tool", "x"}}, Options{}); err == nil {
		t.Error("a tool message in an older template: no error")
	}
}
