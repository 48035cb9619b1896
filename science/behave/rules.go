package behave

import (
	"fmt"
	"regexp"
	"strings"
)

// Rules is a compiled rule grader.
type Rules struct {
	scope string
	rules []rule
	def   string
}

type rule struct {
	label          string
	any, all, none []*regexp.Regexp
}

// CompileRules compiles a rules grader; errors name the field
// (grader.rules[1].any[0]).
func CompileRules(g GraderSpec) (*Rules, error) {
	r := &Rules{scope: g.Scope, def: g.Default}
	switch g.Scope {
	case "":
		r.scope = "reply"
	case "reply", "sentence", "line":
	default:
		return nil, fmt.Errorf("grader.scope %q: want reply, sentence or line", g.Scope)
	}
	if r.def == "" {
		r.def = Unclear
	}
	if len(g.Rules) == 0 {
		return nil, fmt.Errorf("grader.rules: missing (a rules grader needs at least one rule)")
	}
	for i, gr := range g.Rules {
		at := fmt.Sprintf("grader.rules[%d]", i)
		if strings.TrimSpace(gr.Label) == "" {
			return nil, fmt.Errorf("%s.label: missing", at)
		}
		if gr.Label == Unclear {
			return nil, fmt.Errorf("%s.label: %q is the label of ungraded replies; leave such replies unmatched", at, Unclear)
		}
		if len(gr.Any)+len(gr.All) == 0 {
			return nil, fmt.Errorf("%s: needs patterns under any or all", at)
		}
		var keyword bool
		switch gr.Match {
		case "", "regex":
		case "keyword":
			keyword = true
		default:
			return nil, fmt.Errorf("%s.match %q: want regex or keyword", at, gr.Match)
		}
		c := rule{label: gr.Label}
		for _, part := range []struct {
			name string
			pats []string
			dst  *[]*regexp.Regexp
		}{{"any", gr.Any, &c.any}, {"all", gr.All, &c.all}, {"none", gr.None, &c.none}} {
			for j, p := range part.pats {
				if strings.TrimSpace(p) == "" {
					return nil, fmt.Errorf("%s.%s[%d]: empty pattern", at, part.name, j)
				}
				src := p
				if keyword {
					src = `\b` + regexp.QuoteMeta(p) + `\b`
				}
				re, err := regexp.Compile("(?i)" + src)
				if err != nil {
					return nil, fmt.Errorf("%s.%s[%d]: bad regex %q: %v", at, part.name, j, p, err)
				}
				*part.dst = append(*part.dst, re)
			}
		}
		r.rules = append(r.rules, c)
	}
	return r, nil
}

// Grade returns the label of the first rule the reply (within the scope)
// matches, or the default label.
func (r *Rules) Grade(reply string) string {
	text := r.Scope(reply)
	for _, c := range r.rules {
		if c.matches(text) {
			return c.label
		}
	}
	return r.def
}

// Scope returns the part of reply the rules read.
func (r *Rules) Scope(reply string) string {
	switch r.scope {
	case "sentence":
		if i := strings.IndexAny(reply, ".!?"); i >= 0 {
			return reply[:i+1]
		}
	case "line":
		t := strings.TrimLeft(reply, "\n")
		if i := strings.IndexByte(t, '\n'); i >= 0 {
			return t[:i]
		}
		return t
	}
	return reply
}

func (c rule) matches(s string) bool {
	if len(c.any) > 0 {
		hit := false
		for _, re := range c.any {
			if re.MatchString(s) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	for _, re := range c.all {
		if !re.MatchString(s) {
			return false
		}
	}
	for _, re := range c.none {
		if re.MatchString(s) {
			return false
		}
	}
	return true
}
