package api

import (
	"github.com/limbic-dev/limbic/science/steer"

	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxSteerStrength bounds the magnitude of a steering strength, as
// everywhere else (steer.MaxStrength). Strengths are in units of the
// emotion vector's mean activation norm, where 1 already swamps the
// residual stream.
const MaxSteerStrength = steer.MaxStrength

// checkStrength rejects a steering strength that is not finite or is
// beyond MaxSteerStrength.
func checkStrength(x float64) error {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return fmt.Errorf("strength %v: want a finite number", x)
	}
	if math.Abs(x) > MaxSteerStrength {
		return fmt.Errorf("strength %v: want a magnitude of at most %v", x, MaxSteerStrength)
	}
	return nil
}

// decode reads a JSON body under the size limit and the body deadline and
// decodes it with decodeBody.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)) == nil
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	body, err := io.ReadAll(r.Body)
	if deadline && err == nil {
		// Clear it: a deadline left on the connection would cancel the
		// request's context while a long generation streams.
		rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		// The rest of the body is not read: the connection cannot be
		// reused (and net/http would otherwise wait to drain it).
		w.Header().Set("Connection", "close")
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &mbe):
			return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", msg: fmt.Sprintf("request body over the limit of %d bytes", s.cfg.MaxBody)}
		case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
			return &apiError{status: http.StatusRequestTimeout, typ: "invalid_request_error", msg: fmt.Sprintf("request body not received within %v", s.cfg.BodyTimeout)}
		}
		return badRequest("reading the body: %v", err)
	}
	return decodeBody(body, v)
}

// decodeBody decodes a request body into v (a *ChatRequest or
// *CompletionRequest). Every error is an *apiError with a 4xx status whose
// message names the field at fault. Fields v does not have are accepted
// only when they are OpenAI fields given their neutral value (unsupported);
// any other is rejected, as OpenAI rejects unknown arguments.
func decodeBody(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return jsonError("", err)
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(body, &keys) != nil {
		return nil // null: every field absent
	}
	known := jsonFields(reflect.TypeOf(v).Elem())
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if known[k] {
			continue
		}
		neutral, ok := unsupported[k]
		if !ok {
			return badParam(k, "unrecognized request argument %q", k)
		}
		if !neutral(bytes.TrimSpace(keys[k])) {
			return badParam(k, "%s is not supported by this server (only %s)", k, neutralDesc[k])
		}
	}
	return nil
}

var fieldsCache sync.Map // reflect.Type → map[string]bool

// jsonFields returns the JSON names of a struct type's fields.
func jsonFields(t reflect.Type) map[string]bool {
	if m, ok := fieldsCache.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = true
	}
	fieldsCache.Store(t, m)
	return m
}

// unsupported are OpenAI request fields this server does not implement,
// each with a test for the value that asks for nothing (accepted and
// ignored); neutralDesc says which that is, for the error message.
var (
	unsupported = map[string]func(json.RawMessage) bool{}
	neutralDesc = map[string]string{}
)

func init() {
	add := func(desc string, ok func(json.RawMessage) bool, names ...string) {
		for _, n := range names {
			unsupported[n], neutralDesc[n] = ok, desc
		}
	}
	is := func(vals ...string) func(json.RawMessage) bool {
		return func(b json.RawMessage) bool { return slices.Contains(vals, string(b)) }
	}
	zero := func(b json.RawMessage) bool {
		var f float64
		return string(b) == "null" || json.Unmarshal(b, &f) == nil && f == 0
	}
	emptyObj := func(b json.RawMessage) bool {
		var m map[string]json.RawMessage
		return string(b) == "null" || json.Unmarshal(b, &m) == nil && len(m) == 0
	}
	emptyArr := func(b json.RawMessage) bool {
		var a []json.RawMessage
		return string(b) == "null" || json.Unmarshal(b, &a) == nil && len(a) == 0
	}
	anyString := func(b json.RawMessage) bool {
		var s string
		return string(b) == "null" || json.Unmarshal(b, &s) == nil
	}
	textFormat := func(b json.RawMessage) bool {
		var f struct {
			Type string `json:"type"`
		}
		return string(b) == "null" || json.Unmarshal(b, &f) == nil && f.Type == "text" && emptyObjBut(b, "type")
	}
	add("0", zero, "frequency_penalty", "presence_penalty")
	add("false", is("null", "false"), "store")
	add("{}", emptyObj, "logit_bias", "metadata")
	add("[]", emptyArr, "tools", "functions")
	add(`"none"`, is("null", `"none"`), "tool_choice", "function_call")
	add("true or false", is("null", "true", "false"), "parallel_tool_calls")
	add(`{"type": "text"}`, textFormat, "response_format")
	add(`"auto" or "default"`, is("null", `"auto"`, `"default"`), "service_tier")
	add(`["text"]`, is("null", `["text"]`), "modalities")
	add("null", is("null"), "audio", "prediction", "web_search_options", "reasoning_effort", "verbosity")
	add("a string", anyString, "prompt_cache_key", "safety_identifier")
	add(`""`, is("null", `""`), "suffix")
	add("1", is("null", "1"), "best_of")
}

// emptyObjBut reports whether the JSON object b has no key but those given.
func emptyObjBut(b json.RawMessage, keys ...string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	for k := range m {
		if !slices.Contains(keys, k) {
			return false
		}
	}
	return true
}

// decodeStrict decodes b into v rejecting unknown fields; errors are
// *apiErrors whose field names start with prefix.
func decodeStrict(b []byte, v any, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(prefix, err)
	}
	return nil
}

// jsonError turns an encoding/json error into a 400 that names the field
// in the request's terms, without Go type names; prefix is the path of the
// value being decoded ("limbic").
func jsonError(prefix string, err error) error {
	var ae *apiError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	join := func(field string) string {
		switch {
		case prefix == "":
			return field
		case field == "":
			return prefix
		}
		return prefix + "." + field
	}
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &se):
		return badRequest("malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		field := join(te.Field)
		what := field
		if what == "" {
			what = "request body"
		}
		return badParam(field, "%s: want %s, got %s", what, jsonKind(te.Type), te.Value)
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name = join(strings.Trim(name, `"`))
		return badParam(name, "unknown field %q", name)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badParam(prefix, "%s: incomplete JSON", join(""))
	}
	msg = strings.TrimPrefix(msg, "json: ")
	if prefix != "" {
		return badParam(prefix, "%s: %s", prefix, msg)
	}
	return badRequest("invalid request: %s", msg)
}

// jsonKind names what a Go type holds in JSON terms.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a valid value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number in range"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a valid value"
}
