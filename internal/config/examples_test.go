package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestExamples loads every configuration under examples/ with the real
// loader and validator: each must be complete and valid as shipped, and
// say in its opening comment what it is for.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d examples, want the shipped set (at least 4)", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(raw, []byte("# ")) {
				t.Error("the example does not open with a comment saying what it is for")
			}
			cfg, err := Load(f)
			if err != nil {
				t.Fatalf("does not load:\n%v", err)
			}
			if len(cfg.Providers) == 0 || len(cfg.Models) == 0 {
				t.Errorf("%d providers and %d models: not a complete configuration", len(cfg.Providers), len(cfg.Models))
			}
		})
	}
}

// TestGuides_ConfigSnippets keeps the guides under docs/ true to the
// schema: every yaml block that opens with "# switchyard.yaml" decodes with
// no unknown key, and one that names providers and models is a whole
// configuration and must load.
func TestGuides_ConfigSnippets(t *testing.T) {
	guides, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, g := range guides {
		raw, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		for i, block := range yamlBlocks(string(raw)) {
			if !strings.HasPrefix(block, "# switchyard.yaml") {
				continue
			}
			checked++
			var c Config
			dec := yaml.NewDecoder(strings.NewReader(block))
			dec.KnownFields(true)
			if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
				t.Errorf("%s, config block %d: %v\n%s", filepath.Base(g), i+1, err, block)
				continue
			}
			if len(c.Providers) > 0 && len(c.Models) > 0 {
				if _, err := Parse([]byte(block)); err != nil {
					t.Errorf("%s, config block %d does not load:\n%v\n%s", filepath.Base(g), i+1, err, block)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no configuration snippet found in docs/")
	}
}

// yamlBlocks returns the bodies of the ```yaml fences in a markdown text.
func yamlBlocks(md string) []string {
	var out []string
	for {
		i := strings.Index(md, "```yaml\n")
		if i < 0 {
			return out
		}
		md = md[i+len("```yaml\n"):]
		j := strings.Index(md, "```")
		if j < 0 {
			return out
		}
		out = append(out, md[:j])
		md = md[j+3:]
	}
}
