package providertest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing the
// test; Fatal stops the calling goroutine as the real one does.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failed = true
	r.msg += fmt.Sprintf(format, args...)
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.Errorf("%s", fmt.Sprint(args...))
	runtime.Goexit()
}

// record runs f with a recorder in its own goroutine, so that Fatal can
// end it.
func record(f func(tb testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestGolden(t *testing.T) {
	defer func(old bool) { *update = old }(*update)
	*update = false
	dir := t.TempDir()
	path := filepath.Join(dir, "nested", "v.json")
	v := map[string]any{"b": []int{1, 2}, "a": "x"}

	if r := record(func(tb testing.TB) { Golden(tb, path, v) }); !r.failed || !strings.Contains(r.msg, "-update") {
		t.Errorf("a missing golden file: failed %v, %q; want a failure naming -update", r.failed, r.msg)
	}

	*update = true
	r := record(func(tb testing.TB) { Golden(tb, path, v) })
	*update = false
	if r.failed {
		t.Fatalf("-update failed: %s", r.msg)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"a\": \"x\",\n  \"b\": [\n    1,\n    2\n  ]\n}\n"; string(b) != want {
		t.Errorf("-update wrote %q, want %q", b, want)
	}

	if r := record(func(tb testing.TB) { Golden(tb, path, v) }); r.failed {
		t.Errorf("an unchanged value failed: %s", r.msg)
	}
	v["a"] = "y"
	if r := record(func(tb testing.TB) { Golden(tb, path, v) }); !r.failed || !strings.Contains(r.msg, `"y"`) {
		t.Errorf("a changed value: failed %v, %q; want a diff showing the change", r.failed, r.msg)
	}
	if r := record(func(tb testing.TB) { Golden(tb, path, func() {}) }); !r.failed {
		t.Error("a value JSON cannot encode did not fail")
	}
}

func TestReadJSONAndCases(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"b.llm.json": `{"n":2}`, "a.llm.json": `{"n":1}`, "a.wire.json": `{`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	if r := record(func(tb testing.TB) { names = Cases(tb, dir, ".llm.json") }); r.failed || strings.Join(names, ",") != "a,b" {
		t.Errorf("Cases = %q (failure %q), want a,b", names, r.msg)
	}
	if r := record(func(tb testing.TB) { Cases(tb, dir, ".sse") }); !r.failed {
		t.Error("Cases found nothing and did not fail")
	}
	var v struct{ N int }
	if r := record(func(tb testing.TB) { ReadJSON(tb, filepath.Join(dir, "b.llm.json"), &v) }); r.failed || v.N != 2 {
		t.Errorf("ReadJSON = %+v (failure %q), want N 2", v, r.msg)
	}
	if r := record(func(tb testing.TB) { ReadJSON(tb, filepath.Join(dir, "a.wire.json"), &v) }); !r.failed {
		t.Error("ReadJSON of malformed JSON did not fail")
	}
	if r := record(func(tb testing.TB) { ReadFile(tb, filepath.Join(dir, "missing")) }); !r.failed {
		t.Error("ReadFile of a missing file did not fail")
	}
}
