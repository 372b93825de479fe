package usage

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestBuiltinCatalogue_Lookup(t *testing.T) {
	c := BuiltinCatalogue()
	for _, tc := range []struct {
		channel, region string
		names           []string
		want            string // entry model expected, "" for none
		input           float64
	}{
		{"openai", "", []string{"gpt-4o-mini"}, "gpt-4o-mini", 0.15},
		{"openai", "", []string{"gpt-4o-mini-2024-07-18"}, "gpt-4o-mini", 0.15},
		{"azure", "eastus", []string{"my-deployment", "gpt-4.1-mini"}, "gpt-4.1-mini", 0.40},
		{"openai", "", []string{"gpt-3.5-turbo-instruct"}, "gpt-3.5-turbo-instruct", 1.5},
		{"bedrock", "us-east-1", []string{"anthropic.claude-sonnet-4-20250514-v1:0"}, "claude-sonnet-4", 3},
		{"bedrock", "us-east-1", []string{"us.anthropic.claude-opus-4-1-20250805-v1:0"}, "claude-opus-4", 15},
		{"bedrock", "us-east-1", []string{"arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"}, "claude-haiku-4-5", 1},
		{"bedrock", "us-east-1", []string{"amazon.nova-pro-v1:0"}, "nova-pro", 0.8},
		{"bedrock", "us-west-2", []string{"us.meta.llama3-3-70b-instruct-v1:0"}, "llama3-3-70b-instruct", 0.72},
		{"bedrock", "eu-west-3", []string{"mistral.mistral-large-2402-v1:0"}, "mistral-large-2402", 4},
		{"anthropic", "", []string{"claude-opus-4-6"}, "claude-opus-4-6", 5},
		{"gemini", "", []string{"models/gemini-2.5-flash"}, "gemini-2.5-flash", 0.30},
		{"gemini", "", []string{"gemini-2.5-flash-lite"}, "gemini-2.5-flash-lite", 0.10},
		// Claude on Vertex: the global endpoint at list price, regional
		// endpoints 10% above it from Sonnet 4.5 on.
		{"vertex", "global", []string{"claude-sonnet-4-5@20250929"}, "claude-sonnet-4-5", 3},
		{"vertex", "us-east5", []string{"claude-sonnet-4-5@20250929"}, "claude-sonnet-4-5", 3.3},
		{"vertex", "us-east5", []string{"claude-3-5-haiku@20241022"}, "claude-3-5-haiku", 0.8},
		{"vertex", "europe-west4", []string{"gemini-2.5-pro"}, "gemini-2.5-pro", 1.25},
		// No entry for the channel type: a Nova price does not leak to
		// OpenAI, nor an OpenAI one to a self-hosted server.
		{"openai", "", []string{"nova-pro"}, "", 0},
		{"openai-compatible", "", []string{"gpt-4o"}, "", 0},
		{"openai", "", []string{"gpt-4omega"}, "", 0},
		{"openai", "", []string{"llama3"}, "", 0},
	} {
		e, ok := c.Lookup(tc.channel, tc.region, tc.names...)
		switch {
		case tc.want == "" && ok:
			t.Errorf("%s %v: priced as %s, want unknown", tc.channel, tc.names, e.Model)
		case tc.want != "" && (!ok || e.Model != tc.want || e.InputPerMTok != tc.input):
			t.Errorf("%s/%s %v: %+v %v, want %s at %g", tc.channel, tc.region, tc.names, e, ok, tc.want, tc.input)
		}
	}
}

// TestBuiltinCatalogue_Sources: every entry says where its figure came
// from and names a channel type the gateway has.
func TestBuiltinCatalogue_Sources(t *testing.T) {
	var f CatalogueFile
	if err := json.Unmarshal(builtinCatalogue, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) < 50 || f.AsOf == "" {
		t.Fatalf("%d entries as of %q", len(f.Entries), f.AsOf)
	}
	seen := map[string]bool{}
	for _, e := range f.Entries {
		if e.Source == "" || e.InputPerMTok <= 0 {
			t.Errorf("%s: source %q, input %g", e.Model, e.Source, e.InputPerMTok)
		}
		for _, ch := range e.Channels {
			seen[ch] = true
		}
	}
	for _, ch := range []string{"openai", "azure", "anthropic", "bedrock", "gemini", "vertex"} {
		if !seen[ch] {
			t.Errorf("no entry for channel type %s", ch)
		}
	}
}

func TestPriceBook_Precedence(t *testing.T) {
	file, err := ParseCatalogue([]byte(`{"as_of":"2026-12-05","entries":[
		{"channels":["openai"],"model":"gpt-4o","input_per_mtok":2,"output_per_mtok":8,"source":"negotiated"}]}`), "prices.json")
	if err != nil {
		t.Fatal(err)
	}
	b := &PriceBook{File: file, BuiltIn: BuiltinCatalogue()}
	own := Price{InputPerMTok: 1, OutputPerMTok: 2}
	for _, tc := range []struct {
		name       string
		configured Price
		free       bool
		model      string
		wantKind   string
		wantInput  float64
	}{
		{"offering_wins", own, false, "gpt-4o", "offering", 1},
		{"file_over_catalogue", Price{}, false, "gpt-4o", "file", 2},
		{"catalogue", Price{}, false, "gpt-4o-mini", "catalogue", 0.15},
		{"free", Price{}, true, "gpt-4o", "free", 0},
		{"unpriced", Price{}, false, "my-finetune", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, src := b.Resolve(tc.configured, tc.free, "openai", "", tc.model)
			if src.Kind != tc.wantKind || p.InputPerMTok != tc.wantInput {
				t.Errorf("Resolve = %+v from %s, want input %g from %q", p, src, tc.wantInput, tc.wantKind)
			}
		})
	}
	if _, src := b.Resolve(Price{}, false, "openai", "", "gpt-4o"); src.String() != "file prices.json (as of 2026-12-05, gpt-4o)" {
		t.Errorf("source = %q", src)
	}
}

func TestParseCatalogue_Errors(t *testing.T) {
	for name, body := range map[string]string{
		"not_json":      `[`,
		"no_date":       `{"entries":[]}`,
		"no_model":      `{"as_of":"2026-01-01","entries":[{"channels":["openai"],"input_per_mtok":1}]}`,
		"no_channels":   `{"as_of":"2026-01-01","entries":[{"model":"m","input_per_mtok":1}]}`,
		"negative_rate": `{"as_of":"2026-01-01","entries":[{"channels":["openai"],"model":"m","output_per_mtok":-1}]}`,
	} {
		if _, err := ParseCatalogue([]byte(body), name); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming the catalogue", name, err)
		}
	}
}

func TestFromLiteLLM(t *testing.T) {
	data, err := os.ReadFile("testdata/litellm_prices.json")
	if err != nil {
		t.Fatal(err)
	}
	f, skipped, err := FromLiteLLM(data, "2026-12-07", "testdata/litellm_prices.json")
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 3 {
		t.Errorf("skipped %d, want 3 (sample_spec, an image model, a provider without a channel)", skipped)
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCatalogue(b, "converted")
	if err != nil {
		t.Fatalf("the converted catalogue does not load: %v", err)
	}
	for _, tc := range []struct {
		channel, region, model string
		want                   Price
	}{
		{"openai", "", "gpt-4o", Price{InputPerMTok: 2.5, OutputPerMTok: 10, CachedInputPerMTok: 1.25}},
		{"anthropic", "", "claude-sonnet-4-5-20250929", Price{InputPerMTok: 3, OutputPerMTok: 15, CachedInputPerMTok: 0.3, CacheWritePerMTok: 3.75}},
		{"bedrock", "eu-west-1", "anthropic.claude-3-haiku-20240307-v1:0", Price{InputPerMTok: 0.3, OutputPerMTok: 1.5}},
		{"vertex", "us-east5", "claude-sonnet-4-5@20250929", Price{InputPerMTok: 3.3, OutputPerMTok: 16.5}},
	} {
		e, ok := c.Lookup(tc.channel, tc.region, tc.model)
		if !ok || e.Price() != tc.want {
			t.Errorf("%s/%s %s: %+v %v, want %+v", tc.channel, tc.region, tc.model, e.Price(), ok, tc.want)
		}
	}
}

func FuzzParseCatalogue(f *testing.F) {
	f.Add(builtinCatalogue)
	f.Add([]byte(`{"as_of":"x","entries":[{"channels":["a"],"model":"-","input_per_mtok":1e308}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCatalogue(data, "fuzz")
		if err != nil {
			return
		}
		c.Lookup("openai", "", "gpt-4o-mini-2024", "x@y", "")
	})
}

func FuzzFromLiteLLM(f *testing.F) {
	if b, err := os.ReadFile("testdata/litellm_prices.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"a/b/c":{"litellm_provider":"bedrock","input_cost_per_token":1e-300}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, _, err := FromLiteLLM(data, "2026-01-01", "fuzz")
		if err != nil {
			return
		}
		b, err := json.Marshal(cf)
		if err != nil {
			t.Fatal(err)
		}
		// What the converter writes, the catalogue reads back.
		if _, err := ParseCatalogue(b, "fuzz"); err != nil && len(cf.Entries) > 0 {
			t.Fatalf("converted catalogue does not load: %v", err)
		}
	})
}
