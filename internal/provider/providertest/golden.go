package providertest

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// update is the -update flag of every test binary that imports this
// package: Golden rewrites its files instead of comparing with them.
var update = flag.Bool("update", false, "rewrite golden files under testdata")

// Golden compares v, encoded as indented JSON with a final newline, with
// the file at path. With -update it writes the file (and its directory)
// instead, so that a reviewed diff of testdata shows what changed.
func Golden(tb testing.TB, path string, v any) {
	tb.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatalf("encoding %s: %v", path, err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		tb.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// ReadFile returns the bytes of a test input file.
func ReadFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ReadJSON decodes the JSON file at path into v.
func ReadJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	if err := json.Unmarshal(ReadFile(tb, path), v); err != nil {
		tb.Fatalf("decoding %s: %v", path, err)
	}
}

// Cases lists the base names of the files in dir whose names end in
// suffix, sorted: the inputs of a table of golden tests. A directory
// without any is a test failure, so that a mistyped suffix cannot make a
// golden test pass vacuously.
func Cases(tb testing.TB, dir, suffix string) []string {
	tb.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		tb.Fatal(err)
	}
	if len(matches) == 0 {
		tb.Fatalf("no %s cases in %s", suffix, dir)
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = strings.TrimSuffix(filepath.Base(m), suffix)
	}
	return names
}
