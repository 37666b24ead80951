package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Check reads a configuration as Parse does, but returns it even when it
// has problems (nil only when the file is not a YAML mapping), with every
// problem of every desk: check-config adds the problems of files and
// templates to the same findings and reports them all at once.
func Check(data []byte, getenv func(string) string) (*Config, *Findings) {
	f := &Findings{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		f.addYAMLError(err.Error(), nil)
		return nil, f
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} // an empty file: validation names what is missing
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		f.add(root.Line, "", "the file must be a mapping of keys (see config.example.yaml)", "")
		return nil, f
	}
	top, desks := splitDesks(root)
	var entries []*yaml.Node
	listed := desks == nil || desks.Kind == yaml.SequenceNode || desks.Tag == "!!null"
	if desks != nil && desks.Kind == yaml.SequenceNode {
		entries = desks.Content
	}
	if !listed {
		_, line := walk(root, []step{{name: "desks", index: -1}})
		f.add(line, "desks", "must be a list of desks, each a mapping of keys that override the top level", "")
	}
	f.strictDecode(data, root, listed)

	several := false
	for _, e := range entries {
		several = several || e.Kind == yaml.MappingNode
	}
	c := buildDesk(top, nil, 0, several, getenv, f)
	for i, e := range entries {
		if e.Kind != yaml.MappingNode {
			continue // named by strictDecode
		}
		c.Desks = append(c.Desks, buildDesk(top, e, i, several, getenv, f))
	}
	checkDesksApart(c.AllDesks(), f)
	return c, f
}

// splitDesks separates the desks: list from the keys every desk inherits.
func splitDesks(root *yaml.Node) (top, desks *yaml.Node) {
	top = &yaml.Node{Kind: yaml.MappingNode, Tag: root.Tag, Line: root.Line, Column: root.Column}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "desks" {
			desks = root.Content[i+1]
			continue
		}
		top.Content = append(top.Content, root.Content[i], root.Content[i+1])
	}
	return top, desks
}

// buildDesk decodes one desk from the top-level keys overlaid with its
// entry. The nodes keep their lines, so each problem is placed where the
// key is written.
func buildDesk(top, entry *yaml.Node, index int, several bool, getenv func(string) string, f *Findings) *Config {
	node := top
	if entry != nil {
		node = mergeNodes(top, entry)
	}
	var c Config
	_ = node.Decode(&c) // type errors were named, with their lines, by strictDecode
	c.src = &source{top: top, entry: entry, index: index, several: several}
	c.applyDefaults()
	if entry != nil {
		c.deriveFiles()
	}
	c.validate(getenv, f)
	return &c
}

// mergeNodes overlays over on base: mappings merge key by key, anything
// else is replaced. base and over are not changed.
func mergeNodes(base, over *yaml.Node) *yaml.Node {
	if base == nil || base.Kind != yaml.MappingNode || over.Kind != yaml.MappingNode {
		return over
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: over.Tag, Line: over.Line, Column: over.Column}
	overridden := map[string]bool{}
	for i := 0; i+1 < len(over.Content); i += 2 {
		overridden[over.Content[i].Value] = true
	}
	for i := 0; i+1 < len(base.Content); i += 2 {
		if !overridden[base.Content[i].Value] {
			out.Content = append(out.Content, base.Content[i], base.Content[i+1])
		}
	}
	for i := 0; i+1 < len(over.Content); i += 2 {
		k, v := over.Content[i], over.Content[i+1]
		for j := 0; j+1 < len(base.Content); j += 2 {
			if base.Content[j].Value == k.Value {
				v = mergeNodes(base.Content[j+1], v)
				break
			}
		}
		out.Content = append(out.Content, k, v)
	}
	return out
}

// WrittenFile is a file a desk writes, named by its key.
type WrittenFile struct {
	Key  string
	Path string
}

// WrittenFiles are the files the desk writes (the empty ones it does not
// write are left out). No two desks may share one.
func (c *Config) WrittenFiles() []WrittenFile {
	var out []WrittenFile
	for _, w := range c.writtenFileKeys() {
		if *w.path != "" {
			out = append(out, WrittenFile{Key: w.key, Path: *w.path})
		}
	}
	return out
}

func (c *Config) writtenFileKeys() []struct {
	key  string
	path *string
} {
	return []struct {
		key  string
		path *string
	}{
		{"database.path", &c.Database.Path},
		{"forwarding.postfix_map", &c.Forwarding.PostfixMap},
		{"forwarding.csv", &c.Forwarding.CSV},
		{"jobs.status_text", &c.Jobs.StatusText},
		{"jobs.status_html", &c.Jobs.StatusHTML},
	}
}

// deriveFiles gives a desk of desks: its own copy of every file it
// inherits from the top level: "-NAME" before the extension
// (/var/lib/madoguchi/forwarding.csv -> forwarding-facility.csv). An
// inherited path would have two desks overwrite each other's file.
func (c *Config) deriveFiles() {
	for _, w := range c.writtenFileKeys() {
		if *w.path == "" || *w.path == ":memory:" || c.src.written(w.key) {
			continue
		}
		ext := filepath.Ext(*w.path)
		*w.path = strings.TrimSuffix(*w.path, ext) + "-" + c.Name + ext
	}
}

// checkDesksApart refuses desks that share a name or a written file.
func checkDesksApart(desks []*Config, f *Findings) {
	type writer struct {
		desk *Config
		key  string
	}
	names := map[string]bool{}
	files := map[string]writer{}
	for _, c := range desks {
		if names[c.Name] {
			// Its derived files collide too; the name is the one thing to fix.
			f.Add(c, "name", "%q is the name of another desk; each desk needs its own (it names the desk's files and `jobs run DESK/JOB`)", c.Name)
			continue
		}
		names[c.Name] = true
		for _, w := range c.WrittenFiles() {
			if w.Path == ":memory:" {
				continue
			}
			abs, err := filepath.Abs(w.Path)
			if err != nil {
				abs = filepath.Clean(w.Path)
			}
			prev, shared := files[abs]
			if !shared {
				files[abs] = writer{c, w.Key}
				continue
			}
			line, key := prev.desk.src.place(prev.key)
			at := ""
			if line > 0 {
				at = fmt.Sprintf(", line %d", line)
			}
			if prev.desk == c {
				f.Add(c, w.Key, "%s is also this desk's %s%s; each file a desk writes must be its own", w.Path, key, at)
			} else {
				f.Add(c, w.Key, "%s is also written by desk %s (%s%s); two desks must not write one file (leave the key out of the desk's entry to get %s with -%s added)",
					w.Path, prev.desk.Name, key, at, prev.key, c.Name)
			}
		}
	}
}

// fileShape is the file as written, for the strict decode: the top-level
// keys and each entry of desks: are checked against Config's keys.
type fileShape struct {
	Config `yaml:",inline"`
	Desks  []Config `yaml:"desks"`
}

// fileShapeUnlisted is for a file whose desks: is not a list (named on
// its own): the other keys are still checked.
type fileShapeUnlisted struct {
	Config `yaml:",inline"`
	Desks  yaml.Node `yaml:"desks"`
}

// strictDecode decodes the file as written, with unknown keys refused, so
// that type errors and typos are named at their own lines (the merged
// desks are decoded without it).
func (f *Findings) strictDecode(data []byte, root *yaml.Node, desksListed bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var shape any = &fileShape{}
	if !desksListed {
		shape = &fileShapeUnlisted{}
	}
	err := dec.Decode(shape)
	if err == nil || errors.Is(err, io.EOF) {
		return
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		f.addYAMLError(err.Error(), nil)
		return
	}
	keys := keysByLine(root)
	for _, e := range te.Errors {
		f.addYAMLError(e, keys)
	}
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
var unknownField = regexp.MustCompile(`^field (\S+) not found in type`)
var deskEntry = regexp.MustCompile(`^desks\[\d+\]$`)

// addYAMLError places a decoder message ("line 77: field adress not found
// in type config.Desk") at its key.
func (f *Findings) addYAMLError(msg string, keys map[int][]keyAt) {
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		f.add(0, "", strings.TrimPrefix(msg, "yaml: "), "")
		return
	}
	line, _ := strconv.Atoi(m[1])
	rule := m[2]
	var at *keyAt
	if u := unknownField.FindStringSubmatch(rule); u != nil {
		for i, k := range keys[line] {
			if k.name == u[1] {
				at = &keys[line][i]
			}
		}
		rule = "unknown key (every key is listed in config.example.yaml)"
	} else {
		// A type error is in a value: the first key of the line that has
		// one ("limits: {max_attachments: many}" names max_attachments).
		for i := len(keys[line]) - 1; i >= 0; i-- {
			if k := keys[line][i]; k.scalar || at == nil {
				at = &keys[line][i]
			}
		}
	}
	if at == nil {
		f.add(line, "", rule, "")
		return
	}
	if deskEntry.MatchString(at.path) {
		rule = "must be a mapping of keys that override the top level (" + rule + ")"
	}
	f.add(line, at.path, rule, "")
}

// keyAt is a key of the file with its path.
type keyAt struct {
	name, path string
	scalar     bool // its value is written on the same line
}

// keysByLine lists the keys (and list items) written on each line.
func keysByLine(root *yaml.Node) map[int][]keyAt {
	out := map[int][]keyAt{}
	var visit func(n *yaml.Node, path string)
	visit = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				v := n.Content[i+1]
				out[k.Line] = append(out[k.Line], keyAt{name: k.Value, path: p, scalar: v.Kind == yaml.ScalarNode && v.Line == k.Line})
				visit(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if item.Kind == yaml.ScalarNode {
					out[item.Line] = append(out[item.Line], keyAt{path: p, scalar: true})
				}
				visit(item, p)
			}
		}
	}
	visit(root, "")
	return out
}
