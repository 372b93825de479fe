package providertest

import (
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// limits: an output token limit ends the answer with FinishLength after
// that many tokens, and a stop sequence ends it before the sequence, both
// streamed and not.
func (s *suite) limits(t *testing.T) {
	_, p := s.channel(t)
	const said = "Count the waves on the shore one by one until the tide turns."
	t.Run("max_tokens", func(t *testing.T) {
		req := s.request(user(llm.Text(said)))
		req.MaxTokens = 4 // fakecloud emits one token per word
		resp := chat(t, p, req)
		text, err := textOf(resp)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Echo: Count the waves "; text != want {
			t.Errorf("answer %q, want the first four words %q", text, want)
		}
		if resp.FinishReason != llm.FinishLength || resp.Usage.OutputTokens != 4 {
			t.Errorf("finish reason %q after %d output tokens, want %q after 4", resp.FinishReason, resp.Usage.OutputTokens, llm.FinishLength)
		}
		s.sameStreamed(t, p, req, resp)
	})
	t.Run("stop_sequence", func(t *testing.T) {
		req := s.request(user(llm.Text(said)))
		req.Stop = []string{"one by one"}
		resp := chat(t, p, req)
		text, err := textOf(resp)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Echo: Count the waves on the shore "; text != want {
			t.Errorf("answer %q, want it cut before the stop sequence: %q", text, want)
		}
		switch {
		case resp.FinishReason == llm.FinishStopSequence && resp.StopSequence == "one by one":
		case resp.FinishReason == llm.FinishStop && resp.StopSequence == "":
			// Chat Completions and Gemini do not say which stop ended the
			// answer.
		default:
			t.Errorf("finish reason %q with stop sequence %q, want %q with %q (or %q where the cloud does not tell)",
				resp.FinishReason, resp.StopSequence, llm.FinishStopSequence, "one by one", llm.FinishStop)
		}
		s.sameStreamed(t, p, req, resp)
	})
}

// sameStreamed checks that req streamed adds up to want.
func (s *suite) sameStreamed(t *testing.T, p provider.Provider, req *llm.Request, want *llm.Response) {
	t.Helper()
	_, got := chatStream(t, p, req)
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(llm.Response{}, "ID")); diff != "" {
		t.Errorf("streamed answer differs from the non-streamed one (-chat +stream):\n%s", diff)
	}
}

// concurrent: one channel serves calls from many goroutines at once, as
// the gateway uses it (run the suite with -race to check for data races).
func (s *suite) concurrent(t *testing.T) {
	_, p := s.channel(t)
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan string, 2*workers)
	for i := range workers {
		said := "Worker " + strings.Repeat("w", i+1) + " says hello."
		req := s.request(user(llm.Text(said)))
		wg.Go(func() {
			resp, err := p.Chat(callContext(t), req)
			if err != nil {
				errs <- "Chat: " + err.Error()
				return
			}
			if text, _ := textOf(resp); !strings.HasPrefix(text, "Echo: "+said+" ") {
				errs <- "Chat answered " + text + " to " + said
			}
		})
		wg.Go(func() {
			st, err := p.ChatStream(callContext(t), req)
			if err != nil {
				errs <- "ChatStream: " + err.Error()
				return
			}
			defer st.Close()
			evs, err := drain(st)
			if err != nil {
				errs <- "stream: " + err.Error()
				return
			}
			if text, _ := textOf(accumulate(evs)); !strings.HasPrefix(text, "Echo: "+said+" ") {
				errs <- "ChatStream answered " + text + " to " + said
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
