package providertest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"switchyard/internal/fakecloud"
	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// wantError is the classification an upstream failure must get.
type wantError struct {
	// kind is the exact kind wanted; KindUnknown accepts any kind whose
	// Retryable matches retryable.
	kind      provider.Kind
	retryable bool
	// status is the upstream HTTP status the error must carry; 0 for none.
	status int
	// retryAfter requires a positive RetryAfter.
	retryAfter bool
}

// callBoth makes the same failing call non-streamed and streamed and
// returns both errors. A failure before the first byte must fail
// ChatStream itself, so that the gateway can still fall back.
func callBoth(t *testing.T, p provider.Provider, req *llm.Request) map[string]error {
	t.Helper()
	errs := map[string]error{}
	resp, err := p.Chat(callContext(t), req)
	if err == nil {
		t.Errorf("Chat succeeded with %+v; want an error", resp)
	}
	errs["Chat"] = err
	st, err := p.ChatStream(callContext(t), req)
	if err == nil {
		st.Close()
		t.Errorf("ChatStream returned a stream; an upstream that fails before answering must fail ChatStream")
	}
	errs["ChatStream"] = err
	return errs
}

// checkError checks the classification of err.
func checkError(t *testing.T, p provider.Provider, call string, err error, want wantError) *provider.Error {
	t.Helper()
	if err == nil {
		return nil
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Errorf("%s: error %v (%T) is not a *provider.Error", call, err, err)
		return nil
	}
	if pe.Provider != p.Name() {
		t.Errorf("%s: error names provider %q, want the channel's name %q", call, pe.Provider, p.Name())
	}
	switch {
	case want.kind != provider.KindUnknown && pe.Kind != want.kind:
		t.Errorf("%s: error kind %q, want %q (error: %v)", call, pe.Kind, want.kind, err)
	case pe.Kind.Retryable() != want.retryable:
		t.Errorf("%s: error kind %q has Retryable %v, want %v (error: %v)", call, pe.Kind, pe.Kind.Retryable(), want.retryable, err)
	}
	if pe.Status != want.status {
		t.Errorf("%s: error status %d, want %d", call, pe.Status, want.status)
	}
	if want.retryAfter && pe.RetryAfter <= 0 {
		t.Errorf("%s: RetryAfter %v; the upstream sent retry-after: 1", call, pe.RetryAfter)
	}
	if pe.Message == "" {
		t.Errorf("%s: error has no client message", call)
	}
	return pe
}

// errors: upstream failures are classified into the kinds routing decides
// on, for non-streamed and streamed calls alike.
func (s *suite) errors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		want   wantError
	}{
		{"rate_limited_429", 429, wantError{kind: provider.KindRateLimited, retryable: true, retryAfter: true}},
		{"server_error_500", 500, wantError{retryable: true}},
		{"unavailable_503", 503, wantError{retryable: true}},
		{"overloaded_529", 529, wantError{retryable: true}},
		{"bad_request_400", 400, wantError{kind: provider.KindBadRequest}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, p := s.channel(t)
			u.setFaults(fakecloud.Faults{FailRate: 1, FailStatus: tc.status})
			tc.want.status = tc.status
			for call, err := range callBoth(t, p, s.request(user(llm.Text("Hello?")))) {
				checkError(t, p, call, err, tc.want)
			}
		})
	}
	t.Run("bad_request_body", func(t *testing.T) {
		// Two tools with one name: every cloud refuses the body, and no
		// adapter has a reason to look.
		u, p := s.channel(t)
		req := s.request(user(llm.Text("Hello?")))
		req.Tools = append(suiteTools(), suiteTools()[0])
		for call, err := range callBoth(t, p, req) {
			checkError(t, p, call, err, wantError{kind: provider.KindBadRequest, status: 400})
		}
		if rec := u.lastRecord(t); rec.Status != 400 {
			t.Errorf("upstream answered %d; the request was meant to reach it and be refused", rec.Status)
		}
	})
	t.Run("auth", func(t *testing.T) {
		u := startUpstream(t, s.cloud)
		o := u.options(adapterTimeout)
		const wrongKey, wrongSecret = "sk-wrong-0123456789abcdef", "wrong-secret-0123456789abcdef"
		o.APIKey, o.AWSSecretAccessKey = wrongKey, wrongSecret
		p := s.build(t, o)
		for call, err := range callBoth(t, p, s.request(user(llm.Text("Hello?")))) {
			pe := checkError(t, p, call, err, wantError{kind: provider.KindAuth, status: s.cloud.authStatus})
			for _, secret := range []string{wrongKey, wrongSecret} {
				if pe != nil && (strings.Contains(pe.Error(), secret) || strings.Contains(pe.Message, secret)) {
					t.Errorf("%s: the error shows the channel's credentials: %v", call, pe)
				}
			}
		}
	})
	t.Run("timeout", func(t *testing.T) {
		u := startUpstream(t, s.cloud)
		p := s.build(t, u.options(shortTimeout))
		u.setFaults(fakecloud.Faults{HangRate: 1})
		start := time.Now()
		for call, err := range callBoth(t, p, s.request(user(llm.Text("Hello?")))) {
			checkError(t, p, call, err, wantError{kind: provider.KindTimeout, retryable: true})
		}
		if d := time.Since(start); d > 2*(shortTimeout+closeWithin) {
			t.Errorf("two calls with a %v timeout took %v", shortTimeout, d)
		}
		if st, ok := u.await(closeWithin, func(st upstreamState) bool { return st.active == 0 }); !ok {
			t.Errorf("%d hung upstream requests still running %v after the timeout: the adapter did not close them", st.active, closeWithin)
		}
	})
}
