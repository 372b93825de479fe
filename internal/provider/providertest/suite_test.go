package providertest_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/provider/openai"
	"switchyard/internal/provider/providertest"
)

// faultEnv names, in a child test process, the fault TestBrokenChannel
// injects into a working channel.
const faultEnv = "PROVIDERTEST_FAULT"

// TestRun_CatchesBrokenChannels proves that the suite fails channels that
// break the contract: each case runs one subtest of the suite, in a child
// process, against an OpenAI channel with one fault injected, and expects
// that subtest to fail for the right reason. The "none" case proves that
// the failures come from the faults.
func TestRun_CatchesBrokenChannels(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	for _, tc := range []struct {
		fault   string
		subtest string
		want    string // in the child's output; empty for a passing child
	}{
		{"none", "stream_order", ""},
		{"zero_usage", "text", "input and output tokens must be counted"},
		{"drops_stop", "stream_order", "without stop"},
		{"skips_part_zero", "stream_order", "has part index 1"},
		{"drops_system", "system_and_history", "in its system field"},
		{"drops_images", "image", "inline images in the last message"},
		{"no_tool_ids", "tools/forced", "every call needs its own"},
		{"ignores_max_tokens", "limits/max_tokens", "want the first four words"},
		{"untyped_errors", "errors/bad_request_400", "is not a *provider.Error"},
		{"rate_limit_as_unavailable", "errors/rate_limited_429", `want "rate limited"`},
		{"leaks_stream", "cancel_mid_stream/close", "the connection was not closed"},
		{"eof_on_error", "cut_stream/text", "ended with io.EOF"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			run := "^TestBrokenChannel$/^" + strings.ReplaceAll(tc.subtest, "/", "$/^") + "$"
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run="+run, "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), faultEnv+"="+tc.fault)
			out, err := cmd.CombinedOutput()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("the suite failed a working channel: %v\n%s", err, out)
			case tc.want == "":
				if !strings.Contains(string(out), "--- PASS: TestBrokenChannel/"+tc.subtest) {
					t.Errorf("subtest %s did not run:\n%s", tc.subtest, out)
				}
			case err == nil:
				t.Errorf("the suite passed a channel with fault %s:\n%s", tc.fault, out)
			case !strings.Contains(string(out), "--- FAIL: TestBrokenChannel/"+tc.subtest) || !strings.Contains(string(out), tc.want):
				t.Errorf("fault %s: want subtest %s to fail with %q; got:\n%s", tc.fault, tc.subtest, tc.want, out)
			}
		})
	}
}

// TestBrokenChannel runs the suite against an OpenAI channel with the
// fault named by the environment; TestRun_CatchesBrokenChannels runs it in
// a child process.
func TestBrokenChannel(t *testing.T) {
	fault := os.Getenv(faultEnv)
	if fault == "" {
		t.Skip("run by TestRun_CatchesBrokenChannels")
	}
	providertest.Run(t, "openai", func(t *testing.T, o providertest.Options) provider.Provider {
		return &faulty{fault: fault, Provider: openai.New(openai.Options{
			Name: "faulty", BaseURL: o.BaseURL, APIKey: o.APIKey, HTTPClient: o.HTTPClient, Timeout: o.Timeout,
		})}
	})
}

// faulty breaks a working channel in one way.
type faulty struct {
	provider.Provider
	fault string
}

func (f *faulty) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	resp, err := f.Provider.Chat(ctx, f.request(req))
	if err != nil {
		return nil, f.error(err)
	}
	switch f.fault {
	case "zero_usage":
		resp.Usage = llm.Usage{}
	case "no_tool_ids":
		for _, p := range resp.Message.Parts {
			if p.ToolCall != nil {
				p.ToolCall.ID = ""
			}
		}
	}
	return resp, nil
}

func (f *faulty) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	if f.fault == "leaks_stream" {
		ctx = context.WithoutCancel(ctx)
	}
	s, err := f.Provider.ChatStream(ctx, f.request(req))
	if err != nil {
		return nil, f.error(err)
	}
	return &faultyStream{Stream: s, fault: f.fault}, nil
}

func (f *faulty) request(req *llm.Request) *llm.Request {
	r := *req
	switch f.fault {
	case "drops_system":
		r.System = nil
	case "ignores_max_tokens":
		r.MaxTokens = 0
	case "drops_images":
		r.Messages = nil
		for _, m := range req.Messages {
			var parts []llm.Part
			for _, p := range m.Parts {
				if p.Kind != llm.PartImage {
					parts = append(parts, p)
				}
			}
			r.Messages = append(r.Messages, llm.Message{Role: m.Role, Parts: parts})
		}
	}
	return &r
}

func (f *faulty) error(err error) error {
	var pe *provider.Error
	switch {
	case f.fault == "untyped_errors":
		return errors.New(err.Error())
	case f.fault == "rate_limit_as_unavailable" && errors.As(err, &pe) && pe.Kind == provider.KindRateLimited:
		e := *pe
		e.Kind = provider.KindUnavailable
		return &e
	}
	return err
}

type faultyStream struct {
	llm.Stream
	fault string
}

func (s *faultyStream) Next() (llm.Event, error) {
	ev, err := s.Stream.Next()
	switch {
	case s.fault == "drops_stop" && err == nil && ev.Kind == llm.EventStop:
		return s.Stream.Next()
	case s.fault == "skips_part_zero" && err == nil && ev.Kind != llm.EventStart && ev.Kind != llm.EventStop:
		ev.Index++
	case s.fault == "eof_on_error" && err != nil:
		return ev, io.EOF
	}
	return ev, err
}

func (s *faultyStream) Close() error {
	if s.fault == "leaks_stream" {
		return nil
	}
	return s.Stream.Close()
}
