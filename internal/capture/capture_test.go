package capture

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestChoose(t *testing.T) {
	p := New(Options{
		Rules: []Rule{
			{Key: "key_quiet", SampleRate: 0},               // this key never, although its tenant is captured
			{Tenant: "acme", Model: "gpt-*", SampleRate: 1}, // acme's GPT traffic always
			{Model: "claude-*", SampleRate: 0.5},            // half of everyone's Claude traffic
		},
		NeverTenants: []string{"bank"},
		Random:       func() float64 { return 0.4 },
	})
	for _, tc := range []struct {
		tenant, key, model string
		want               bool
	}{
		{"acme", "key_a", "gpt-5", true},
		{"acme", "key_quiet", "gpt-5", false}, // first match wins
		{"acme", "key_a", "nova-pro", false},  // no rule matches
		{"other", "key_b", "gpt-5", false},
		{"other", "key_b", "claude-sonnet", true}, // 0.4 < 0.5
		{"bank", "key_c", "claude-sonnet", false}, // never, whatever the rules say
	} {
		if got := p.Choose(tc.tenant, tc.key, tc.model); got != tc.want {
			t.Errorf("Choose(%q, %q, %q) = %v, want %v", tc.tenant, tc.key, tc.model, got, tc.want)
		}
	}
	above := New(Options{Rules: []Rule{{Model: "*", SampleRate: 0.5}}, Random: func() float64 { return 0.6 }})
	if above.Choose("t", "k", "m") {
		t.Error("a draw above the sample rate captured")
	}
}

func TestChoose_OffByDefault(t *testing.T) {
	for _, o := range []Options{{}, {Rules: []Rule{{Tenant: "acme", SampleRate: 0}}}} {
		p := New(o)
		if p != nil {
			t.Errorf("New(%+v) = %v, want nil (nothing can be captured)", o, p)
		}
		if p.Choose("acme", "k", "m") {
			t.Errorf("a nil policy captured")
		}
	}
}

func TestChoose_SampleRates(t *testing.T) {
	n := 0
	p := New(Options{Rules: []Rule{{Tenant: "t", SampleRate: 0.25}}, Random: func() float64 {
		n++
		return float64(n%100) / 100
	}})
	got := 0
	for range 1000 {
		if p.Choose("t", "k", "m") {
			got++
		}
	}
	if got != 250 {
		t.Errorf("captured %d of 1000 at rate 0.25 with evenly spread draws, want 250", got)
	}
}

func TestPayload(t *testing.T) {
	p := New(Options{Rules: []Rule{{Model: "*", SampleRate: 1}}, MaxBytes: 64})
	small := p.Payload([]byte(`{"q":"mail me at a@b.io"}`), []byte("ok"))
	if small.Truncated || small.Request != `{"q":"mail me at [REDACTED:email]"}` || small.Response != "ok" || small.RequestBytes != 25 {
		t.Errorf("small payload = %+v", small)
	}
	// Past the cap: cut, and said so; the sizes are those received.
	long := strings.Repeat("é", 100) // 200 bytes
	got := p.Payload([]byte(long), nil)
	if !got.Truncated || len(got.Request) > 64 || !utf8.ValidString(got.Request) || got.RequestBytes != 200 {
		t.Errorf("long payload: truncated %v, %d bytes, valid %v, request_bytes %d", got.Truncated, len(got.Request),
			utf8.ValidString(got.Request), got.RequestBytes)
	}
	// A key straddling the point where a huge body is cut before
	// redaction is dropped rather than kept in part.
	key := "sk-proj-AbCdEfGhIjKlMnOpQrStUv12"
	body := strings.Repeat("x ", (64+slack-10)/2) + key + strings.Repeat(" y", 5000)
	got = p.Payload([]byte(body), nil)
	if strings.Contains(got.Request, "sk-proj") {
		t.Errorf("a split key survived: %q", got.Request[len(got.Request)-20:])
	}
	big := New(Options{Rules: []Rule{{Model: "*", SampleRate: 1}}, MaxBytes: 1 << 20})
	got = big.Payload([]byte(body), nil)
	if strings.Contains(got.Request, "sk-proj") || got.Truncated {
		t.Errorf("under a large cap: truncated %v, key kept %v", got.Truncated, strings.Contains(got.Request, "sk-proj"))
	}
}

func TestDropSplitToken(t *testing.T) {
	for in, want := range map[string]string{
		"hello sk-proj-AbCd":            "hello",
		`{"k":"sk-proj-AbCd`:            `{"k`,
		"card 4111 1111 11":             "card",
		"no delimiter" + "x":            "no",
		strings.Repeat("z", 300) + "ab": strings.Repeat("z", 46),
	} {
		if got := string(dropSplitToken([]byte(in))); got != want {
			t.Errorf("dropSplitToken(%q) = %q, want %q", in, got, want)
		}
	}
}
