package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/limbic-dev/limbic/engine/tokenizer/chat"
)

// Record is one line of a training file: Text, or Messages.
type Record struct {
	File     string // the file it came from
	Line     int    // 1-based
	Text     string
	Messages []chat.Message // nil for a text record
}

// Where returns "FILE:LINE".
func (r Record) Where() string { return fmt.Sprintf("%s:%d", r.File, r.Line) }

// ReadFile reads a JSONL training file.
func ReadFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse reads JSONL training records from r; name is the file name errors
// give.
func Parse(name string, r io.Reader) ([]Record, error) {
	br := bufio.NewReader(r)
	var out []Record
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if t := bytes.TrimSpace(b); len(t) > 0 {
			rec, perr := parseLine(t)
			if perr != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, line, perr)
			}
			rec.File, rec.Line = name, line
			out = append(out, rec)
		}
		if err != nil {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no records (want JSON lines with \"text\" or \"messages\")", name)
	}
	return out, nil
}

func parseLine(b []byte) (Record, error) {
	var obj map[string]json.RawMessage
	if b[0] != '{' {
		return Record{}, errors.New(`not a JSON object (want {"text": ...} or {"messages": [...]})`)
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return Record{}, fmt.Errorf("invalid JSON: %v", err)
	}
	text, hasText := obj["text"]
	msgs, hasMsgs := obj["messages"]
	switch {
	case hasText && hasMsgs:
		return Record{}, errors.New(`both "text" and "messages": give one`)
	case hasText:
		var s string
		if json.Unmarshal(text, &s) != nil {
			return Record{}, fmt.Errorf(`"text" must be a string, not %s`, kind(text))
		}
		if s == "" {
			return Record{}, errors.New(`"text" is empty`)
		}
		return Record{Text: s}, nil
	case hasMsgs:
		var raw []json.RawMessage
		if json.Unmarshal(msgs, &raw) != nil {
			return Record{}, fmt.Errorf(`"messages" must be an array, not %s`, kind(msgs))
		}
		if len(raw) == 0 {
			return Record{}, errors.New(`"messages" is empty`)
		}
		out := make([]chat.Message, len(raw))
		for i, m := range raw {
			var f map[string]json.RawMessage
			if json.Unmarshal(m, &f) != nil || f == nil {
				return Record{}, fmt.Errorf(`messages[%d] must be an object with "role" and "content", not %s`, i, kind(m))
			}
			if json.Unmarshal(f["role"], &out[i].Role) != nil || out[i].Role == "" {
				return Record{}, fmt.Errorf(`messages[%d]: "role" must be a non-empty string`, i)
			}
			if json.Unmarshal(f["content"], &out[i].Content) != nil || f["content"] == nil || string(f["content"]) == "null" {
				return Record{}, fmt.Errorf(`messages[%d]: "content" must be a string`, i)
			}
		}
		return Record{Messages: out}, nil
	}
	return Record{}, errors.New(`neither "text" nor "messages"`)
}

// kind names the JSON type of a value for error messages.
func kind(b json.RawMessage) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}
