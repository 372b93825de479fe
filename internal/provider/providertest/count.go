package providertest

import (
	"errors"
	"strings"
	"testing"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// countTokens: a channel whose API counts tokens (provider.TokenCounter)
// counts a request with a system prompt, history and tools as the cloud
// bills its input, which fakecloud reports as the same request's input
// usage; a wrong credential is a KindAuth error that does not show it. A
// channel that refuses to count the model (llm.ErrUnsupported) sends
// nothing, and the gateway estimates instead.
func (s *suite) countTokens(t *testing.T) {
	u, p := s.channel(t)
	tc, ok := p.(provider.TokenCounter)
	if !ok {
		t.Skipf("the %s channel has no token counting API; the gateway estimates", s.cloud.name)
	}
	req := s.request(
		user(llm.Text("My name is Ada.")),
		assistant(llm.Text("Hello Ada, nice to meet you.")),
		user(llm.Text("What is the weather in Paris today?")),
	)
	req.System = []llm.Part{llm.Text("You are a terse assistant for lighthouse keepers.")}
	req.Tools = suiteTools()
	n, err := tc.CountTokens(callContext(t), req)
	if errors.Is(err, llm.ErrUnsupported) {
		var pe *provider.Error
		if errors.As(err, &pe) {
			t.Fatalf("a refusal to count is a *provider.Error: %v", err)
		}
		if got := len(u.fake.Records()); got != 0 {
			t.Errorf("a refused count sent %d requests upstream", got)
		}
		t.Skipf("the channel does not count this model: %v", err)
	}
	if err != nil {
		t.Fatalf("CountTokens: %v", err)
	}
	want := chat(t, p, req).Usage.InputTokens
	if int64(n) != want || n <= 0 {
		t.Errorf("CountTokens = %d, want %d (the input usage of the same request)", n, want)
	}
	// Counting is not answering: fewer tokens without the tools.
	req.Tools = nil
	if m, err := tc.CountTokens(callContext(t), req); err != nil || m >= n {
		t.Errorf("without tools CountTokens = %d, %v; want fewer than %d", m, err, n)
	}

	t.Run("auth", func(t *testing.T) {
		u := startUpstream(t, s.cloud)
		o := u.options(adapterTimeout)
		const wrongKey, wrongSecret = "sk-wrong-0123456789abcdef", "wrong-secret-0123456789abcdef"
		o.APIKey, o.AWSSecretAccessKey = wrongKey, wrongSecret
		_, err := s.build(t, o).(provider.TokenCounter).CountTokens(callContext(t), s.request(user(llm.Text("Hello?"))))
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind != provider.KindAuth {
			t.Fatalf("CountTokens with a wrong credential: %v, want a KindAuth *provider.Error", err)
		}
		for _, secret := range []string{wrongKey, wrongSecret} {
			if strings.Contains(pe.Error(), secret) || strings.Contains(pe.Message, secret) {
				t.Errorf("the error shows the channel's credentials: %v", pe)
			}
		}
	})
}
