package config

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/config.md from the struct comments")

// TestReference keeps docs/config.md generated from the doc comments of
// the config structs: `go test ./internal/config -run TestReference -update`
// rewrites it.
func TestReference(t *testing.T) {
	got := reference(t)
	const path = "../../docs/config.md"
	if *update {
		if err := os.MkdirAll("../../docs", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./internal/config -run TestReference -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/config.md is stale; run: go test ./internal/config -run TestReference -update")
	}
}

func reference(t *testing.T) []byte {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "config.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	structs := map[string]*ast.StructType{}
	docs := map[string]string{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			if st, ok := ts.Type.(*ast.StructType); ok {
				structs[ts.Name.Name] = st
				docs[ts.Name.Name] = gd.Doc.Text()
			}
		}
	}
	var b bytes.Buffer
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Generated from the comments in `internal/config/config.go` by\n`go test ./internal/config -run TestReference -update`; do not edit by hand.\n")
	b.WriteString("`switchyard validate -config FILE` checks a file and reports every error at once.\n")
	b.WriteString("Secrets never appear in the file: fields ending in `_env` name environment variables.\n")
	seen := map[string]bool{}
	var walk func(name, path string)
	walk = func(name, path string) {
		st := structs[name]
		if st == nil || seen[name] {
			return
		}
		seen[name] = true
		title := path
		if title == "" {
			title = "top level"
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n| key | type | meaning |\n|---|---|---|\n", title, oneLine(docs[name]))
		var nested [][2]string
		for _, field := range st.Fields.List {
			if field.Tag == nil || len(field.Names) == 0 {
				continue
			}
			tag := reflect.StructTag(strings.Trim(field.Tag.Value, "`")).Get("yaml")
			key := strings.Split(tag, ",")[0]
			typ := typeName(field.Type)
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", key, typ, oneLine(field.Doc.Text()))
			elem := strings.TrimLeft(typ, "[]*")
			if structs[elem] != nil {
				child := key
				if path != "" {
					child = path + "." + key
				}
				if strings.HasPrefix(typ, "[]") {
					child += "[]"
				}
				nested = append(nested, [2]string{elem, child})
			}
		}
		for _, n := range nested {
			walk(n[0], n[1])
		}
	}
	walk("Config", "")
	return b.Bytes()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

func typeName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.StarExpr:
		return "*" + typeName(x.X)
	case *ast.ArrayType:
		return "[]" + typeName(x.Elt)
	case *ast.MapType:
		return "map[" + typeName(x.Key) + "]" + typeName(x.Value)
	}
	return "?"
}
