package console

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"switchyard/internal/admin"
)

// TestHandler_ParsesTemplatesOnFirstRender: building the console costs
// next to nothing (a gateway whose console is never opened does not hold
// its parsed templates); the first page parses them, and they render.
func TestHandler_ParsesTemplatesOnFirstRender(t *testing.T) {
	build := testing.AllocsPerRun(5, func() { Handler(Options{Admin: admin.Options{Token: "t"}}) })
	h := Handler(Options{Admin: admin.Options{Token: "t"}})
	render := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/signin", nil))
		return rec
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	render()
	runtime.ReadMemStats(&after)
	first := float64(after.Mallocs - before.Mallocs)
	rec := render()
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "<form") {
		t.Fatalf("sign-in page: %d %q", rec.Code, rec.Body.String())
	}
	later := testing.AllocsPerRun(5, func() { render() })
	t.Logf("allocations: building the handler %.0f, its first page %.0f, a later page %.0f", build, first, later)
	// Parsing every page's template takes tens of thousands of
	// allocations; building the handler must not, and the first page
	// pays it once.
	if build > 2000 {
		t.Errorf("building the console made %.0f allocations, want it to parse no template", build)
	}
	if first < later+5000 {
		t.Errorf("the first page made %.0f allocations and a later one %.0f: the templates were not parsed on first use", first, later)
	}
}
