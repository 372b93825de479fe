package telemetry

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a longer name", 10, "a longe..."},
		{"ééééé", 8, "éé..."}, // never half a UTF-8 sequence
	} {
		if got := truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	long := strings.Repeat("é", 1000)
	if got := truncate(long, maxLoggedModel); len(got) > maxLoggedModel || !utf8.ValidString(got) {
		t.Errorf("truncated to %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}

func TestLabels(t *testing.T) {
	for in, want := range map[string]string{"openai": "openai", "anthropic": "anthropic", "bedrock": "bedrock", "gemini": "gemini", "": "unknown", "gemini-made-up": "unknown"} {
		if got := dialectLabel(in); got != want {
			t.Errorf("dialectLabel(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int]string{200: "200", 431: "431", 499: "499", 0: "unknown", 99: "unknown", 1000: "unknown"} {
		if got := statusLabel(in); got != want {
			t.Errorf("statusLabel(%d) = %q, want %q", in, got, want)
		}
	}
}
