package route

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewCatalog_Errors(t *testing.T) {
	good := func() Model { return Model{Name: "m", Offerings: []Offering{off("a", "openai", "")}} }
	for _, tc := range []struct {
		name   string
		models func() []Model
		want   string
	}{
		{"duplicate_name", func() []Model { return []Model{good(), good()} }, `model name "m" used twice`},
		{"alias_clash", func() []Model {
			a, b := good(), good()
			b.Name, b.Aliases = "n", []string{"m"}
			return []Model{a, b}
		}, `model name "m" used twice`},
		{"no_name", func() []Model { m := good(); m.Name = ""; return []Model{m} }, "name required"},
		{"no_offerings", func() []Model { m := good(); m.Offerings = nil; return []Model{m} }, "no offerings"},
		{"unknown_strategy", func() []Model { m := good(); m.Strategy = "random"; return []Model{m} }, `unknown strategy "random"`},
		{"negative_attempts", func() []Model { m := good(); m.MaxAttempts = -1; return []Model{m} }, "negative max attempts"},
		{"negative_timeout", func() []Model { m := good(); m.PerAttemptTimeout = -time.Second; return []Model{m} }, "negative per-attempt timeout"},
		{"negative_weight", func() []Model { m := good(); m.Offerings[0].Weight = -1; return []Model{m} }, "negative weight"},
		{"no_provider", func() []Model { m := good(); m.Offerings[0].Provider = ""; return []Model{m} }, "offering without provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewCatalog(tc.models())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCatalog_LookupAndNames(t *testing.T) {
	models := []Model{
		{Name: "gpt-5", Aliases: []string{"openai.gpt-5"}, Offerings: []Offering{off("a", "", "")}},
		{Name: "claude", Offerings: []Offering{off("b", "", "")}},
	}
	c, err := NewCatalog(models)
	if err != nil {
		t.Fatal(err)
	}
	models[0].Name = "changed" // the catalog keeps its own copy
	models[0].Offerings[0].Provider = "changed"
	for name, want := range map[string]string{"gpt-5": "gpt-5", "openai.gpt-5": "gpt-5", "claude": "claude"} {
		m, ok := c.Lookup(name)
		if !ok || m.Name != want || m.Offerings[0].Provider == "changed" {
			t.Errorf("Lookup(%q) = %+v, %v", name, m, ok)
		}
	}
	if _, ok := c.Lookup("nope"); ok {
		t.Error("Lookup(nope) found a model")
	}
	if diff := cmp.Diff([]string{"claude", "gpt-5", "openai.gpt-5"}, c.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	if got := len(c.Models()); got != 2 || c.Models()[0].Name != "gpt-5" {
		t.Errorf("Models() = %d models, first %q", got, c.Models()[0].Name)
	}
}

func TestModel_Defaults(t *testing.T) {
	for _, tc := range []struct {
		offerings, max, want int
	}{{1, 0, 1}, {2, 0, 2}, {5, 0, 3}, {5, 4, 4}} {
		m := Model{MaxAttempts: tc.max, Offerings: make([]Offering, tc.offerings)}
		if got := m.maxAttempts(); got != tc.want {
			t.Errorf("%d offerings, MaxAttempts %d: budget %d, want %d", tc.offerings, tc.max, got, tc.want)
		}
	}
	if got := (&Model{}).strategy(); got != StrategyPriority {
		t.Errorf("default strategy %q", got)
	}
}
