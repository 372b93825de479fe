package usage

import "testing"

func TestListPrice(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string // key expected, "" for none
	}{
		{[]string{"gpt-4o-mini"}, "gpt-4o-mini"},
		{[]string{"gpt-4o-mini-2024-07-18"}, "gpt-4o-mini"},
		{[]string{"gpt-4o"}, "gpt-4o"},
		{[]string{"anthropic.claude-sonnet-4-20250514-v1:0"}, "claude-sonnet-4"},
		{[]string{"us.anthropic.claude-opus-4-1-20250805-v1:0"}, "claude-opus-4"},
		{[]string{"arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"}, "claude-haiku-4"},
		{[]string{"openai.gpt-5-v1:0"}, "gpt-5"},
		{[]string{"models/gemini-2.5-flash"}, "gemini-2.5-flash"},
		{[]string{"gemini-2.5-flash-lite"}, "gemini-2.5-flash-lite"},
		{[]string{"my-deployment", "gpt-4.1-mini"}, "gpt-4.1-mini"},
		{[]string{"gpt-4omega"}, ""},
		{[]string{"llama3"}, ""},
	} {
		got, ok := ListPrice(tc.names...)
		if tc.want == "" {
			if ok {
				t.Errorf("%v: priced %+v, want unknown", tc.names, got)
			}
			continue
		}
		if !ok || got != listPrices[tc.want] {
			t.Errorf("%v: %+v %v, want %s", tc.names, got, ok, tc.want)
		}
	}
}
