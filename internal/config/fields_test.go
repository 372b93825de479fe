package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestNearest(t *testing.T) {
	fields := yamlFields(reflect.TypeFor[Provider]())
	for key, want := range map[string]string{
		"tokn_env":    "", // not a Provider field
		"api_key":     "api_key_env",
		"bsae_url":    "base_url",
		"regoin":      "region",
		"nmae":        "name",
		"completely":  "",
		"x":           "",
		"API_KEY_ENV": "api_key_env",
	} {
		if got := nearest(key, fields); got != want {
			t.Errorf("nearest(%q) = %q, want %q", key, got, want)
		}
	}
}

// FuzzParse: any input gives a config or an error, never a panic, and no
// error names a Go type.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("admin: {tokn_env: X}\nserver: {max_body_bytes: [1]}\n"))
	f.Add([]byte("a: &x {b: 1}\nproviders: [*x, {<<: *x}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse(data)
		if err != nil && (strings.Contains(err.Error(), "in type config.") || strings.Contains(err.Error(), "into config.")) {
			t.Errorf("error names a Go type: %v", err)
		}
	})
}
