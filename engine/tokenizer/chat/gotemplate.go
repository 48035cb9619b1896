package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	gotpl "text/template"
	"text/template/parse"
	"time"
)

// ollama's chat templates are Go text/template programs over the fields
// System, Prompt, Response and Messages (each with Role and Content), rather
// than Jinja. A template that has no Jinja statement ({% ... %}) but does
// use a Go template action on a field ({{ .Prompt }}, {{ if .System }},
// {{ range .Messages }}) is taken to be one (IsGoTemplate) and rendered as
// ollama renders it:
//
//   - a template that uses .Messages is executed once over the whole
//     conversation, with System the system messages' text;
//   - an older template (System, Prompt and Response only) is executed once
//     per exchange, each user message with the assistant reply after it,
//     and the outputs joined; for the last exchange without a reply, the
//     output is cut where {{ .Response }} would go, which leaves the
//     assistant's header for the model to continue (a template that never
//     shows .Response has it appended at its end, as ollama does);
//   - consecutive messages of one role are merged, joined by a blank line.

var goAction = regexp.MustCompile(`\{\{-?(?:\s*|[^}]*?[\s($])\.[A-Z]`)

// IsGoTemplate reports whether src is a Go text/template chat template (as
// ollama's store keeps them) rather than Jinja.
func IsGoTemplate(src string) bool {
	return !strings.Contains(src, "{%") && goAction.MatchString(src)
}

// goFuncs are the template functions ollama's templates call.
func goFuncs(now func() time.Time) gotpl.FuncMap {
	return gotpl.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"currentDate":   func() string { return now().Format("2006-01-02") },
		"yesterdayDate": func() string { return now().AddDate(0, 0, -1).Format("2006-01-02") },
		// Tool definitions are not passed (Tools is always empty), so the
		// TypeScript rendering of a tool's parameters is never reached.
		"toTypeScriptType": func(any) string { return "" },
	}
}

// goTemplate is a parsed ollama template.
type goTemplate struct {
	t        *gotpl.Template
	messages bool // the template reads .Messages
}

// goMessage is a message as ollama's templates see it.
type goMessage struct {
	Role, Content string
	ToolCalls     []any
}

// goData is the value a template is executed on.
type goData struct {
	System, Prompt, Response, Suffix string
	Messages                         []goMessage
	Tools                            []any
	Think                            bool
	ThinkLevel                       string
	IsThinkSet                       bool
}

func parseGo(src string) (*goTemplate, error) {
	t, err := gotpl.New("chat").Option("missingkey=zero").Funcs(goFuncs(time.Now)).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("chat template (Go text/template): %w", err)
	}
	g := &goTemplate{t: t, messages: usesField(t.Tree.Root, "Messages")}
	if !g.messages && !usesField(t.Tree.Root, "Response") {
		// As ollama does: an older template that never shows the reply
		// has it appended at the end.
		return parseGo(src + "{{ .Response }}")
	}
	return g, nil
}

// usesField reports whether the tree reads .name anywhere.
func usesField(n parse.Node, name string) bool {
	found := false
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		if n == nil || found {
			return
		}
		switch x := n.(type) {
		case *parse.ListNode:
			if x == nil {
				return
			}
			for _, c := range x.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(x.Pipe)
		case *parse.PipeNode:
			if x == nil {
				return
			}
			for _, c := range x.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range x.Args {
				walk(a)
			}
		case *parse.FieldNode:
			found = found || (len(x.Ident) > 0 && x.Ident[0] == name)
		case *parse.VariableNode:
			found = found || (len(x.Ident) > 1 && x.Ident[1] == name)
		case *parse.ChainNode:
			walk(x.Node)
		case *parse.IfNode:
			walk(x.Pipe)
			walk(x.List)
			walk(x.ElseList)
		case *parse.RangeNode:
			walk(x.Pipe)
			walk(x.List)
			walk(x.ElseList)
		case *parse.WithNode:
			walk(x.Pipe)
			walk(x.List)
			walk(x.ElseList)
		case *parse.TemplateNode:
			walk(x.Pipe)
		}
	}
	walk(n)
	return found
}

// responseMark stands in for the reply in the last exchange of an older
// template; the output is cut there.
const responseMark = "\x00limbic-response\x00"

func (g *goTemplate) render(msgs []Message, o Options) (string, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	t, err := g.t.Clone()
	if err != nil {
		return "", err
	}
	t.Funcs(goFuncs(now))
	exec := func(d goData) (string, error) {
		var b strings.Builder
		if err := t.Execute(&b, d); err != nil {
			return "", fmt.Errorf("chat template: %w", err)
		}
		return b.String(), nil
	}
	msgs = collate(msgs)
	var system []string
	for _, m := range msgs {
		if m.Role == "system" {
			system = append(system, m.Content)
		}
	}
	if g.messages {
		d := goData{System: strings.Join(system, "\n\n")}
		for _, m := range msgs {
			d.Messages = append(d.Messages, goMessage{Role: m.Role, Content: m.Content})
		}
		return exec(d)
	}
	var out strings.Builder
	var cur goData
	pending := false // cur has content not yet rendered
	for _, m := range msgs {
		switch m.Role {
		case "system":
			cur.System = m.Content
			pending = true
		case "user":
			if cur.Prompt != "" {
				// Two user turns in a row: the first gets an empty reply.
				s, err := exec(cur)
				if err != nil {
					return "", err
				}
				out.WriteString(s)
				cur = goData{}
			}
			cur.Prompt = m.Content
			pending = true
		case "assistant":
			cur.Response = m.Content
			s, err := exec(cur)
			if err != nil {
				return "", err
			}
			out.WriteString(s)
			cur, pending = goData{}, false
		default:
			return "", fmt.Errorf("chat template: role %q is not one an ollama template without .Messages can show", m.Role)
		}
	}
	if pending || o.AddGenerationPrompt {
		if !o.AddGenerationPrompt {
			s, err := exec(cur)
			if err != nil {
				return "", err
			}
			out.WriteString(s)
			return out.String(), nil
		}
		cur.Response = responseMark
		s, err := exec(cur)
		if err != nil {
			return "", err
		}
		i := strings.Index(s, responseMark)
		if i < 0 {
			// .Response is read, but only inside a branch not taken.
			return "", errors.New("chat template: it does not show .Response here, so there is no place for the reply")
		}
		out.WriteString(s[:i])
	}
	return out.String(), nil
}

// collate merges consecutive messages of the same role, as ollama does.
func collate(msgs []Message) []Message {
	var out []Message
	for _, m := range msgs {
		if n := len(out); n > 0 && out[n-1].Role == m.Role {
			out[n-1].Content += "\n\n" + m.Content
			continue
		}
		out = append(out, m)
	}
	return out
}
