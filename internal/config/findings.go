package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Findings collects the problems of every desk of one file, each placed at
// the line of its key, so that one run of check-config (or one refused
// start) shows them all. A key written once at the top level that fails in
// several desks is reported once, naming them.
type Findings struct {
	list []finding
}

type finding struct {
	line  int    // in the file; 0 when the key is not written anywhere
	key   string // as written: "desks[0].facility.facility_list"
	rule  string // what is wrong, and the rule
	desks []string
}

// Add records a problem of desk c with key (a YAML path such as
// "forwarding.csv" or "operators[1]"); format says what is wrong and the
// rule.
func (f *Findings) Add(c *Config, key, format string, args ...any) {
	line, path := c.src.place(key)
	desk := ""
	if c.src != nil && c.src.several {
		desk = c.Name
	}
	f.add(line, path, fmt.Sprintf(format, args...), desk)
}

func (f *Findings) add(line int, key, rule, desk string) {
	for i := range f.list {
		p := &f.list[i]
		if p.line == line && p.key == key && p.rule == rule {
			if desk != "" && !contains(p.desks, desk) {
				p.desks = append(p.desks, desk)
			}
			return
		}
	}
	p := finding{line: line, key: key, rule: rule}
	if desk != "" {
		p.desks = []string{desk}
	}
	f.list = append(f.list, p)
}

// Problems are the findings in the order of the file (those of keys
// written nowhere last), or nil when there are none.
func (f *Findings) Problems() Problems {
	if f == nil || len(f.list) == 0 {
		return nil
	}
	sorted := append([]finding(nil), f.list...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i].line, sorted[j].line
		return a != 0 && (b == 0 || a < b)
	})
	out := make(Problems, 0, len(sorted))
	for _, p := range sorted {
		var sb strings.Builder
		if p.line > 0 {
			fmt.Fprintf(&sb, "line %d: ", p.line)
		}
		if p.key != "" {
			sb.WriteString(p.key + ": ")
		}
		sb.WriteString(p.rule)
		switch len(p.desks) {
		case 0:
		case 1:
			fmt.Fprintf(&sb, " (desk %s)", p.desks[0])
		default:
			fmt.Fprintf(&sb, " (desks %s)", strings.Join(p.desks, ", "))
		}
		out = append(out, sb.String())
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// source is where a desk's keys are written: its entry in desks: first,
// then the top level it inherits.
type source struct {
	top     *yaml.Node // the top-level mapping, desks: left out
	entry   *yaml.Node // this desk's entry; nil for the top-level desk
	index   int        // the entry's place in desks:
	several bool       // the file configures more than one desk
}

// place returns the line of key for this desk and its path as written.
// A key written nowhere is placed at its nearest written parent, in the
// desk's entry when the desk has one: that is where it would be added.
func (s *source) place(key string) (line int, path string) {
	if s == nil {
		return 0, key
	}
	steps := pathSteps(key)
	topDepth, topLine := walk(s.top, steps)
	if s.entry == nil {
		return topLine, key
	}
	depth, entryLine := walk(s.entry, steps)
	entryPath := fmt.Sprintf("desks[%d].%s", s.index, key)
	switch {
	case depth == len(steps):
		return entryLine, entryPath
	case topDepth == len(steps):
		return topLine, key
	case depth == 0 && topDepth == 0:
		return s.entry.Line, entryPath
	case depth >= topDepth:
		return entryLine, entryPath
	}
	return topLine, key
}

// written reports whether key is written in the desk's own entry.
func (s *source) written(key string) bool {
	if s == nil || s.entry == nil {
		return false
	}
	steps := pathSteps(key)
	depth, _ := walk(s.entry, steps)
	return depth == len(steps)
}

type step struct {
	name  string
	index int // -1 for a mapping key
}

var indexSuffix = regexp.MustCompile(`\[(\d+)\]`)

// pathSteps splits "institutions_with_staff[1].name" into its keys and
// indexes.
func pathSteps(key string) []step {
	var steps []step
	for _, part := range strings.Split(key, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			steps = append(steps, step{name: name, index: -1})
		}
		if rest != "" {
			for _, m := range indexSuffix.FindAllStringSubmatch("["+rest, -1) {
				i, _ := strconv.Atoi(m[1])
				steps = append(steps, step{index: i})
			}
		}
	}
	return steps
}

// walk follows steps from n as far as they are written and returns how
// many were, with the line of the last.
func walk(n *yaml.Node, steps []step) (depth, line int) {
	cur := n
	for _, s := range steps {
		for cur != nil && cur.Kind == yaml.AliasNode {
			cur = cur.Alias
		}
		if cur == nil {
			break
		}
		var next *yaml.Node
		if s.index < 0 {
			if cur.Kind != yaml.MappingNode {
				break
			}
			for i := 0; i+1 < len(cur.Content); i += 2 {
				if cur.Content[i].Value == s.name {
					line, next = cur.Content[i].Line, cur.Content[i+1]
					break
				}
			}
		} else if cur.Kind == yaml.SequenceNode && s.index < len(cur.Content) {
			next = cur.Content[s.index]
			line = next.Line
		}
		if next == nil {
			break
		}
		cur = next
		depth++
	}
	return depth, line
}
