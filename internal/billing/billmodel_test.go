package billing

import "testing"

func TestResolveModel(t *testing.T) {
	openai := []Offering{{"gpt-4o", "gpt-4o"}, {"gpt-4o-mini", "gpt-4o-mini"}}
	claude := []Offering{{"sonnet", "claude-sonnet-4-5@20250929"}, {"haiku", "claude-haiku-4-5@20251001"}}
	bedrock := []Offering{{"claude", "anthropic.claude-sonnet-4-5-20250929-v1:0"}}
	for _, tc := range []struct {
		words     string
		offerings []Offering
		want      string
	}{
		{"gpt-4o-2024-08-06, input", openai, "gpt-4o"},
		{"gpt-4o-mini-0718-Inp-glbl 1K Tokens", openai, "gpt-4o-mini"},
		{"Claude Sonnet 4.5 input tokens", claude, "sonnet"},
		{"Claude Haiku 4.5 output tokens", claude, "haiku"},
		{"claude-haiku-4-5-20251001", claude, "haiku"},
		{"USE1-Claude-input-tokens", bedrock, "claude"},
		{"USE1-Claude-input-tokens", append(bedrock, Offering{"claude-haiku", "anthropic.claude-haiku-4-5-20251001-v1:0"}), ""}, // a tie
		{"Llama 3 70B input tokens", claude, ""},
		{"4 5", claude, ""}, // digits alone name nothing
		{"", openai, ""},
		{"gpt-4o", nil, ""},
	} {
		got, ok := ResolveModel(tc.words, tc.offerings)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ResolveModel(%q) = %q, %v; want %q", tc.words, got, ok, tc.want)
		}
	}
}

func FuzzResolveModel(f *testing.F) {
	f.Add("gpt-4o-mini-0718-Inp-glbl 1K Tokens", "gpt-4o-mini")
	f.Add("USE1-Claude-input-tokens", "anthropic.claude-sonnet-4-5-20250929-v1:0")
	f.Fuzz(func(t *testing.T, words, upstream string) {
		m, ok := ResolveModel(words, []Offering{{"m", upstream}, {"n", upstream + "-x"}})
		if ok != (m != "") {
			t.Fatalf("%q, %v", m, ok)
		}
	})
}
