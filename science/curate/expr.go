package curate

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Expr is a parsed selection expression over a document's emotion scores:
// a boolean formula that Eval decides for one document.
//
// The grammar (keywords are case-insensitive; && || ! are accepted for and,
// or, not):
//
//	expr    = or
//	or      = and { "or" and }
//	and     = not { "and" not }
//	not     = "not" not | cmp
//	cmp     = sum [ ("<" | "<=" | ">" | ">=" | "==" | "!=") sum ]
//	sum     = product { ("+" | "-") product }
//	product = unary { ("*" | "/") unary }
//	unary   = "-" unary | primary
//	primary = number | emotion | "(" expr ")"
//
// An emotion is a name of the pack (letters, digits and _; a name with
// other characters, such as "self-conscious", or one that is a keyword, is
// written in double quotes, so that calm-sad is calm minus sad). Its value is the document's mean score for that emotion
// in the metric the selection uses (z-scores by default, see Selector).
// The whole expression must be boolean: "calm" alone is an error, as is
// "calm > 1 > 0" or "calm and sad".
type Expr struct {
	src  string
	root node
	vars []string // distinct emotion names, in order of appearance
}

// node is one node of the expression tree.
type node struct {
	op          string // "num", "var", "neg", "+", "-", "*", "/", "<", …, "and", "or", "not"
	num         float64
	v           int // index into Expr.vars for "var"
	left, right *node
	boolean     bool
}

// String returns the source text.
func (e *Expr) String() string { return e.src }

// Emotions returns the emotion names the expression reads.
func (e *Expr) Emotions() []string { return append([]string(nil), e.vars...) }

// token is one lexical token: kind is "num", "ident", "op" or "eof".
type token struct {
	kind, text string
	pos        int // byte offset in the source
}

// ParseExpr parses a selection expression. Errors give the byte offset of
// the problem.
func ParseExpr(src string) (*Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, e: &Expr{src: src}}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, p.errAt(t, "unexpected %s", describe(t))
	}
	if !n.boolean {
		return nil, fmt.Errorf("expression %q: is a number, want a condition (for example %s > 1)", src, strings.TrimSpace(src))
	}
	p.e.root = *n
	return p.e, nil
}

func lex(src string) ([]token, error) {
	var out []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c >= '0' && c <= '9' || c == '.':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
				k := j + 1
				if k < len(src) && (src[k] == '+' || src[k] == '-') {
					k++
				}
				if k < len(src) && src[k] >= '0' && src[k] <= '9' {
					for k < len(src) && src[k] >= '0' && src[k] <= '9' {
						k++
					}
					j = k
				}
			}
			out = append(out, token{"num", src[i:j], i})
			i = j
		case c == '"':
			j := strings.IndexByte(src[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("expression %q: at %d: unterminated quoted name", src, i)
			}
			name := src[i+1 : i+1+j]
			if name == "" {
				return nil, fmt.Errorf("expression %q: at %d: empty quoted name", src, i)
			}
			out = append(out, token{"qident", name, i})
			i += j + 2
		case isIdent(rune(c)) || c >= 0x80:
			j := i
			for j < len(src) {
				r := rune(src[j])
				if r >= 0x80 {
					j++ // bytes of a UTF-8 letter; names are matched as strings
					continue
				}
				if !isIdent(r) && !(j > i && r >= '0' && r <= '9') {
					break
				}
				j++
			}
			out = append(out, token{"ident", src[i:j], i})
			i = j
		default:
			two := ""
			if i+1 < len(src) {
				two = src[i : i+2]
			}
			switch two {
			case "<=", ">=", "==", "!=", "&&", "||":
				out = append(out, token{"op", two, i})
				i += 2
				continue
			}
			if strings.IndexByte("<>+-*/()!", c) >= 0 {
				out = append(out, token{"op", string(c), i})
				i++
				continue
			}
			if c == '=' {
				return nil, fmt.Errorf("expression %q: at %d: '=' is not an operator (use == to compare)", src, i)
			}
			return nil, fmt.Errorf("expression %q: at %d: unexpected character %q", src, i, c)
		}
	}
	return append(out, token{"eof", "", len(src)}), nil
}

func isIdent(r rune) bool { return r == '_' || unicode.IsLetter(r) }

type parser struct {
	toks []token
	i    int
	e    *Expr
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

// keyword reports whether the next token is keyword kw (or its symbol).
func (p *parser) keyword(kw, sym string) bool {
	t := p.peek()
	return t.kind == "ident" && strings.EqualFold(t.text, kw) || t.kind == "op" && t.text == sym
}

func (p *parser) errAt(t token, f string, a ...any) error {
	return fmt.Errorf("expression %q: at %d: %s", p.e.src, t.pos, fmt.Sprintf(f, a...))
}

func describe(t token) string {
	if t.kind == "eof" {
		return "end of expression"
	}
	return fmt.Sprintf("%q", t.text)
}

func (p *parser) or() (*node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or", "||") {
		t := p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		if !l.boolean || !r.boolean {
			return nil, p.errAt(t, "or needs conditions on both sides")
		}
		l = &node{op: "or", left: l, right: r, boolean: true}
	}
	return l, nil
}

func (p *parser) and() (*node, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.keyword("and", "&&") {
		t := p.next()
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		if !l.boolean || !r.boolean {
			return nil, p.errAt(t, "and needs conditions on both sides")
		}
		l = &node{op: "and", left: l, right: r, boolean: true}
	}
	return l, nil
}

func (p *parser) not() (*node, error) {
	if p.keyword("not", "!") {
		t := p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		if !x.boolean {
			return nil, p.errAt(t, "not needs a condition")
		}
		return &node{op: "not", left: x, boolean: true}, nil
	}
	return p.cmp()
}

func (p *parser) cmp() (*node, error) {
	l, err := p.sum()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	switch t.text {
	case "<", "<=", ">", ">=", "==", "!=":
		if t.kind != "op" {
			return l, nil
		}
	default:
		return l, nil
	}
	p.next()
	r, err := p.sum()
	if err != nil {
		return nil, err
	}
	if l.boolean || r.boolean {
		return nil, p.errAt(t, "%s compares numbers, not conditions", t.text)
	}
	switch n := p.peek(); n.text {
	case "<", "<=", ">", ">=", "==", "!=":
		if n.kind == "op" {
			return nil, p.errAt(n, "comparisons do not chain: write a < b and b < c")
		}
	}
	return &node{op: t.text, left: l, right: r, boolean: true}, nil
}

func (p *parser) sum() (*node, error) {
	l, err := p.product()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.kind == "op" && (t.text == "+" || t.text == "-"); t = p.peek() {
		p.next()
		r, err := p.product()
		if err != nil {
			return nil, err
		}
		if l.boolean || r.boolean {
			return nil, p.errAt(t, "%s needs numbers on both sides", t.text)
		}
		l = &node{op: t.text, left: l, right: r}
	}
	return l, nil
}

func (p *parser) product() (*node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.kind == "op" && (t.text == "*" || t.text == "/"); t = p.peek() {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		if l.boolean || r.boolean {
			return nil, p.errAt(t, "%s needs numbers on both sides", t.text)
		}
		l = &node{op: t.text, left: l, right: r}
	}
	return l, nil
}

func (p *parser) unary() (*node, error) {
	if t := p.peek(); t.kind == "op" && t.text == "-" {
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if x.boolean {
			return nil, p.errAt(t, "- needs a number")
		}
		return &node{op: "neg", left: x}, nil
	}
	return p.primary()
}

func (p *parser) primary() (*node, error) {
	t := p.next()
	switch t.kind {
	case "num":
		v, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, p.errAt(t, "bad number %q", t.text)
		}
		return &node{op: "num", num: v}, nil
	case "ident", "qident":
		if t.kind == "ident" {
			switch strings.ToLower(t.text) {
			case "and", "or", "not":
				return nil, p.errAt(t, "unexpected %q (a name that is a keyword is written in double quotes)", t.text)
			}
		}
		for i, v := range p.e.vars {
			if v == t.text {
				return &node{op: "var", v: i}, nil
			}
		}
		p.e.vars = append(p.e.vars, t.text)
		return &node{op: "var", v: len(p.e.vars) - 1}, nil
	case "op":
		if t.text == "(" {
			x, err := p.or()
			if err != nil {
				return nil, err
			}
			if c := p.next(); c.kind != "op" || c.text != ")" {
				return nil, p.errAt(c, "want ) to close the ( at %d, got %s", t.pos, describe(c))
			}
			return x, nil
		}
	}
	return nil, p.errAt(t, "want a number, an emotion or (, got %s", describe(t))
}

// Bind resolves the expression's emotion names against a list of emotions
// (a pack's), returning the index of each of Emotions() in the list, or an
// error naming an unknown emotion.
func (e *Expr) Bind(emotions []string) ([]int, error) {
	idx := make([]int, len(e.vars))
	for i, v := range e.vars {
		idx[i] = -1
		for j, name := range emotions {
			if name == v {
				idx[i] = j
				break
			}
		}
		if idx[i] < 0 {
			return nil, fmt.Errorf("expression %q: unknown emotion %q (the pack has %s)", e.src, v, strings.Join(emotions, ", "))
		}
	}
	return idx, nil
}

// Eval decides the expression for one document; vals[i] is the value of
// the i-th name of Emotions(). A comparison with NaN is false (and its not
// is true), as in IEEE arithmetic.
func (e *Expr) Eval(vals []float64) bool { return e.root.truth(vals) }

func (n *node) truth(vals []float64) bool {
	switch n.op {
	case "and":
		return n.left.truth(vals) && n.right.truth(vals)
	case "or":
		return n.left.truth(vals) || n.right.truth(vals)
	case "not":
		return !n.left.truth(vals)
	}
	a, b := n.left.value(vals), n.right.value(vals)
	switch n.op {
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "==":
		return a == b
	case "!=":
		return a != b
	}
	panic("curate: truth of a numeric node " + n.op)
}

func (n *node) value(vals []float64) float64 {
	switch n.op {
	case "num":
		return n.num
	case "var":
		return vals[n.v]
	case "neg":
		return -n.left.value(vals)
	}
	a, b := n.left.value(vals), n.right.value(vals)
	switch n.op {
	case "+":
		return a + b
	case "-":
		return a - b
	case "*":
		return a * b
	case "/":
		return a / b
	}
	panic("curate: value of a boolean node " + n.op)
}
