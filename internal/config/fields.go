package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The YAML decoder names Go types in its errors ("field tokn_env not found
// in type config.Admin", "cannot unmarshal !!str `x` into int"), which
// mean nothing to an operator. fieldErrors walks the document against the
// Config type instead, naming each unknown field by its YAML path with the
// nearest known field, and records the path of every value so that the
// decoder's type errors can be restated by path.

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// docPaths is the result of walking a document.
type docPaths struct {
	unknown []error
	byLine  map[int]string // line of a scalar -> its YAML path (the first, in a flow mapping)
}

func walkDocument(root *yaml.Node) docPaths {
	d := docPaths{byLine: map[int]string{}}
	if root != nil && root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		d.walk(root.Content[0], reflect.TypeFor[Config](), "")
	}
	return d
}

func (d *docPaths) walk(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" && n.Kind == yaml.ScalarNode {
		if _, seen := d.byLine[n.Line]; !seen {
			d.byLine[n.Line] = path
		}
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue // a merge key: the merged mapping is checked where it is defined
			}
			p := join(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("%s: unknown field", p)
				if s := nearest(k.Value, fields); s != "" {
					msg += "; did you mean " + s + "?"
				}
				d.unknown = append(d.unknown, fmt.Errorf("%s", msg))
				d.byLine[k.Line] = p
				continue
			}
			d.walk(v, ft, p)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, e := range n.Content {
			d.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps a struct's YAML keys to their types, inlined structs
// included, by the rules of the YAML decoder (the tag's name, else the
// lower-cased field name).
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range yamlFields(ft) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// nearest returns the known field closest to a misspelt one, or "" when
// none is close: within a third of the longer name's length, at least one
// edit, and never more than three. A field the key begins (api_key for
// api_key_env) is close too: the secret itself was written where the name
// of its variable belongs.
func nearest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 0
	for f := range fields {
		d := editDistance(strings.ToLower(key), f)
		if strings.HasPrefix(f, strings.ToLower(key)+"_") {
			d = 1
		}
		limit := min(max(max(len(key), len(f))/3, 1), 3)
		if d <= limit && (best == "" || d < bestD || (d == bestD && f < best)) {
			best, bestD = f, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance, so a swapped pair of letters counts as one edit.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

var (
	notFoundRe = regexp.MustCompile(`^line \d+: field \S+ not found in type `)
	typeErrRe  = regexp.MustCompile("^line (\\d+): cannot unmarshal !!?(\\S*)(?: `(.*)`)? into (\\S+)$")
	// goTypeRe finds a Go type a decoder message names, for the messages
	// typeErrRe does not restate.
	goTypeRe = regexp.MustCompile(` (into|in type) \*?(\[\])*config\.\w+`)
)

// restate rewrites one of the decoder's type errors in YAML terms; ok is
// false for an unknown-field error, which the walk reports instead.
func (d *docPaths) restate(msg string) (out string, ok bool) {
	if notFoundRe.MatchString(msg) {
		return "", false
	}
	m := typeErrRe.FindStringSubmatch(msg)
	if m == nil {
		return goTypeRe.ReplaceAllString(msg, ""), true
	}
	var line int
	fmt.Sscan(m[1], &line)
	where := "line " + m[1]
	if p, ok := d.byLine[line]; ok {
		where = p + " (line " + m[1] + ")"
	}
	want := "a value of another kind"
	switch goType := m[4]; {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		want = "an integer"
	case strings.HasPrefix(goType, "float"):
		want = "a number"
	case goType == "bool":
		want = "true or false"
	case goType == "string":
		want = "a string"
	case strings.HasPrefix(goType, "[]"):
		want = "a list"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "config."):
		want = "a mapping"
	}
	got := m[3]
	switch m[2] {
	case "seq":
		got = "a list"
	case "map":
		got = "a mapping"
	default:
		if got == "" { // the decoder gives no value for some kinds and tags
			got = "an empty or untyped value"
		} else {
			got = fmt.Sprintf("%q", got)
		}
	}
	return fmt.Sprintf("%s: want %s, got %s", where, want, got), true
}
