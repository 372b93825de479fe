package gateway

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchyard/internal/capture"
	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/store"
)

func TestChat_RecordsAttemptsAndRoute(t *testing.T) {
	a := &fakeProvider{name: "a", errs: []error{pErr(provider.KindOverloaded)}}
	b := &fakeProvider{name: "b"}
	g, led := newTestGateway(t, a, b)
	call := &Call{Model: "m", RequestID: "req1", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
	if _, _, err := g.Chat(context.Background(), call, chatReq()); err != nil {
		t.Fatal(err)
	}
	if len(led.recs) != 1 {
		t.Fatalf("ledger rows %d, want 1", len(led.recs))
	}
	r := led.recs[0]
	want := []store.Attempt{
		{Channel: "a", UpstreamModel: "up-a", Status: 503, ErrorKind: "overloaded", Fallback: "overloaded"},
		{Channel: "b", UpstreamModel: "up-b", Status: 200},
	}
	if diff := cmp.Diff(want, r.AttemptLog, cmpopts.IgnoreFields(store.Attempt{}, "Duration")); diff != "" {
		t.Errorf("attempt log (-want +got):\n%s", diff)
	}
	if r.Strategy != "priority" || len(r.Candidates) != 2 || r.Candidates[0].Channel != "a" || r.TraceID != call.TraceID ||
		r.Attempts != 2 || r.Error != "" || r.Payload != nil {
		t.Errorf("record: %+v", r)
	}
}

func TestChat_RecordsFailureMessage(t *testing.T) {
	a := &fakeProvider{name: "a", errs: []error{&provider.Error{Kind: provider.KindBadRequest,
		Message: "bad input near sk-proj-AbCdEfGhIjKlMnOpQrStUv12"}}}
	g, led := newTestGateway(t, a)
	if _, _, err := g.Chat(context.Background(), &Call{Model: "m", RequestID: "r"}, chatReq()); err == nil {
		t.Fatal("no error")
	}
	r := led.recs[0]
	if r.Status != 400 || r.Error != "bad input near [REDACTED:api_key]" || len(r.AttemptLog) != 1 || r.AttemptLog[0].Fallback != "" {
		t.Errorf("record: status %d error %q attempts %+v", r.Status, r.Error, r.AttemptLog)
	}
}

func capturing(t *testing.T) *Capture {
	t.Helper()
	p := capture.New(capture.Options{Rules: []capture.Rule{{Model: "*", SampleRate: 1}}, MaxBytes: 1 << 10})
	return &Capture{Policy: p, Body: []byte(`{"messages":[{"content":"mail jane@example.com"}]}`)}
}

func TestChat_CapturesPayload(t *testing.T) {
	g, led := newTestGateway(t, &fakeProvider{name: "a"})
	if _, _, err := g.Chat(context.Background(), &Call{Model: "m", RequestID: "r", Capture: capturing(t)}, chatReq()); err != nil {
		t.Fatal(err)
	}
	p := led.recs[0].Payload
	if p == nil || p.Request != `{"messages":[{"content":"mail [REDACTED:email]"}]}` || p.Response != "hi from a" {
		t.Errorf("payload %+v", p)
	}
}

func TestChatStream_CapturesReassembled(t *testing.T) {
	g, led := newTestGateway(t, &fakeProvider{name: "a"})
	s, _, err := g.ChatStream(context.Background(), &Call{Model: "m", RequestID: "r", Capture: capturing(t)}, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := s.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	r := led.recs[0]
	if r.Payload == nil || r.Payload.Response != "hi" || !r.Stream || len(r.AttemptLog) != 1 || r.AttemptLog[0].Status != 200 {
		t.Errorf("record %+v payload %+v", r, r.Payload)
	}
	if strings.Contains(r.Payload.Request, "jane@") {
		t.Error("request not redacted")
	}
}

// A stream passed through as bytes is captured as the client got it, up
// to the capture's bound, and cut to its cap.
func TestChatStream_CapturesPassthroughBytes(t *testing.T) {
	p := newRawProvider(100, 7)
	g, led := newRawGateway(t, p, 0)
	c := capturing(t) // cap 1 KiB
	s, _, err := g.ChatStream(context.Background(), &Call{Model: "m", RequestID: "r", Capture: c},
		&llm.Request{Raw: &llm.Raw{Dialect: "test.raw"}})
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for {
		data, err := s.NextRaw()
		got.Write(data)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	pl := led.recs[0].Payload
	if pl == nil || !pl.Truncated || len(pl.Response) != 1<<10 || !strings.HasPrefix(got.String(), pl.Response) {
		t.Fatalf("payload of a passthrough stream: %+v", pl)
	}
	if pl.ResponseBytes != int64(got.Len()) {
		t.Errorf("response bytes %d, the client got %d", pl.ResponseBytes, got.Len())
	}
}
