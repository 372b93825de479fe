package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	openaisdk "github.com/openai/openai-go/v3"

	"switchyard/internal/admin"
	"switchyard/internal/overload"
	"switchyard/internal/syncbuf"
	"switchyard/internal/telemetry"
)

// overloadDoors ask through each front door with its official SDK (no
// retries) and check an overload refusal in its dialect.
var overloadDoors = []struct {
	name  string
	ask   func(t *testing.T, url string, key *admin.Issued, stream bool, retries int) (http.Header, error)
	check func(t *testing.T, err error)
}{
	{"openai_chat", askLimitOpenAI, func(t *testing.T, err error) {
		var e *openaisdk.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T) is not an openai.Error", err, err)
		}
		if e.StatusCode != http.StatusServiceUnavailable || e.Type != "server_error" || e.Code != "overloaded" || e.Message == "" {
			t.Errorf("error %d type %q code %q message %q, want 503 server_error overloaded", e.StatusCode, e.Type, e.Code, e.Message)
		}
	}},
	{"anthropic_messages", askLimitAnthropic, func(t *testing.T, err error) {
		var e *anthropic.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T) is not an anthropic.Error", err, err)
		}
		if e.StatusCode != 529 || e.Type() != "overloaded_error" || e.RequestID == "" {
			t.Errorf("error %d type %q request id %q, want 529 overloaded_error with a request id", e.StatusCode, e.Type(), e.RequestID)
		}
	}},
	{"bedrock_converse", askLimitBedrock, func(t *testing.T, err error) {
		var se *types.ServiceUnavailableException
		if !errors.As(err, &se) || se.ErrorMessage() == "" {
			t.Fatalf("error %v (%T), want a ServiceUnavailableException", err, err)
		}
		var re *awshttp.ResponseError
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusServiceUnavailable {
			t.Errorf("error %v, want HTTP 503", err)
		}
		if got := re.Response.Header.Get("X-Amzn-Errortype"); !strings.HasPrefix(got, "ServiceUnavailableException:") {
			t.Errorf("x-amzn-errortype %q", got)
		}
	}},
	{"gemini_generate", askLimitGemini, checkOverloadGemini},
}

// TestOverload_RefusedInDialect holds every in-flight slot of a tiny limit
// (or, for streams, every stream slot): each front door refuses at once
// with its dialect's overload error and Retry-After, before any upstream
// call, logs the refusal as overloaded, and serves again once the slot is
// free.
func TestOverload_RefusedInDialect(t *testing.T) {
	for _, door := range overloadDoors {
		for _, what := range []string{"unary_in_flight", "stream_in_flight", "stream_streams"} {
			t.Run(door.name+"/"+what, func(t *testing.T) {
				lim := overload.New(overload.Config{MaxInFlight: 1, MaxStreams: 1, Queue: -1}, nil)
				var logs syncbuf.Buffer
				h := newHarness(t, func(c *harnessConfig) { c.admission, c.log = lim, telemetry.NewLogger(&logs, 0) })
				url, n := countingServer(t, h)
				held, err := lim.Acquire(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				stream, want := what != "unary_in_flight", overload.QueueFull
				if what == "stream_streams" {
					// An open stream holds the only stream slot, not an
					// in-flight one.
					if err := held.Stream(); err != nil {
						t.Fatal(err)
					}
					held.Opened(0)
					want = overload.StreamsFull
				}
				hdr, err := door.ask(t, url, h.key, stream, 0)
				door.check(t, err)
				if hdr.Get("Retry-After") != "1" || hdr.Get("Retry-After-Ms") != "1000" {
					t.Errorf("retry-after %q, retry-after-ms %q, want 1 and 1000", hdr.Get("Retry-After"), hdr.Get("Retry-After-Ms"))
				}
				if n.Load() != 1 {
					t.Errorf("%d requests reached the gateway, want 1 (no retries)", n.Load())
				}
				noUpstream(t, h)
				if got := lim.Stats().Refused[want]; got != 1 {
					t.Errorf("refusals for %s: %d, want 1", want, got)
				}
				// A refusal by admission control gets no access line (it is
				// counted, above, and summed up by the serve command); a
				// stream refused once its body showed it to be one is
				// refused by the handler and logged as usual (Bedrock's and
				// Gemini's streams are known by their path, so admission
				// refuses them).
				byHandler := what == "stream_streams" && door.name != "bedrock_converse" && door.name != "gemini_generate"
				if logged := strings.Contains(logs.String(), `"error":"overloaded"`); logged != byHandler {
					t.Errorf("access line for the refusal: %v, want %v:\n%s", logged, byHandler, logs.String())
				}
				if what == "stream_streams" {
					// Unary requests do not count against the streams.
					if _, err := door.ask(t, url, h.key, false, 0); err != nil {
						t.Errorf("unary beside a full stream limit: %v", err)
					}
					h.records(t, 1)
				}

				held.Release(0)
				if _, err := door.ask(t, url, h.key, stream, 0); err != nil {
					t.Fatalf("after the slot was freed: %v", err)
				}
				h.records(t, 1)
				settled(t, lim)
			})
		}
	}
}

// TestOverload_HealthNeverRefused checks health and readiness while every
// slot is held.
func TestOverload_HealthNeverRefused(t *testing.T) {
	lim := overload.New(overload.Config{MaxInFlight: 1, Queue: -1}, nil)
	h := newHarness(t, func(c *harnessConfig) { c.admission = lim })
	if _, err := lim.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d while overloaded, want 200", path, resp.StatusCode)
		}
	}
}

// TestOverload_ReleasedOnPanicAndDisconnect checks that a handler that
// panics, and a client that goes away mid-request or while queued, give
// their slots back.
func TestOverload_ReleasedOnPanicAndDisconnect(t *testing.T) {
	lim := overload.New(overload.Config{MaxInFlight: 1, QueueTimeout: time.Minute}, nil)
	s := &Server{limiter: lim, log: slog.New(slog.DiscardHandler)}
	started := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.Handle("POST /panic", s.admit(dialectOpenAI, admitRequest, func(http.ResponseWriter, *http.Request) { panic("handler failed") }))
	mux.Handle("POST /hang", s.admit(dialectOpenAI, admitRequest, func(_ http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
	}))
	ts := httptest.NewServer(recoverer(s.log, mux))
	t.Cleanup(ts.Close)

	resp, err := http.Post(ts.URL+"/panic", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("panic answered %d, want 500", resp.StatusCode)
	}
	if got := lim.Stats().InFlight; got != 0 {
		t.Fatalf("in flight after a panic: %d", got)
	}

	// One client holds the slot and a second waits for it; both go away.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	post := func(path string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+path, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		done <- struct{}{}
	}
	go post("/hang")
	<-started
	go post("/hang")
	for lim.Stats().Queued != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	<-done
	settled(t, lim)
}

// settled waits until lim holds no slot and has no waiter (a handler
// gives its slots back when it returns, which can be just after its
// client saw the end of the answer).
func settled(t *testing.T, lim *overload.Limiter) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := lim.Stats()
		if st.InFlight == 0 && st.Parked == 0 && st.Queued == 0 && st.Streams == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("slots not given back: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOverload_SlowChannelsDoNotHoldSlots sends 400 concurrent requests
// (a quarter of them streams) through an in-flight limit of 8 to a channel
// that holds every answer: each request gives its slot back while it waits
// on the channel, so all 400 reach the channel at once, none refused.
// Then every slot is taken and the channel answers: a request whose
// upstream call was made takes its slot back past the limit, so all are
// answered.
func TestOverload_SlowChannelsDoNotHoldSlots(t *testing.T) {
	const n = 400 // fifty times the in-flight limit
	// The queue's deadlines bind CPU contention, which the burst itself
	// causes on a small machine: they are long here, so that what is
	// proven is that the channel's wait holds no slot.
	lim := overload.New(overload.Config{MaxInFlight: 8, Queue: n, QueueTimeout: time.Minute, SustainedTimeout: time.Minute}, nil)
	gate := make(chan struct{})
	var waiting atomic.Int64
	h := newHarness(t, func(c *harnessConfig) {
		c.admission = lim
		c.cloud = func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				waiting.Add(1)
				<-gate
				next.ServeHTTP(w, r)
			})
		}
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	t.Cleanup(client.CloseIdleConnections)
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make(chan answer, n)
	for i := range n {
		stream := i%4 == 0
		go func() {
			body := fmt.Sprintf(`{"model":"via-openai","stream":%t,"messages":[{"role":"user","content":"Hello"}]}`, stream)
			req, _ := http.NewRequest(http.MethodPost, h.URL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+h.key.Secret)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers <- answer{status: resp.StatusCode, body: string(b), err: err}
		}()
	}

	// Every request reaches the channel and waits there, none answered
	// before the gate opens; one that is answers at once (say, its
	// connection to the channel failed on a machine short of everything),
	// and the test fails naming it rather than waiting for it.
	deadline := time.Now().Add(time.Minute)
	for waiting.Load() < n {
		select {
		case a := <-answers:
			close(gate)
			t.Fatalf("answered before the channel answered anyone: %d %v: %.300s; limiter %+v", a.status, a.err, a.body, lim.Stats())
		default:
		}
		if time.Now().After(deadline) {
			close(gate)
			t.Fatalf("%d of %d requests reached the channel; limiter %+v", waiting.Load(), n, lim.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The unary requests are parked; the streams hold only their stream
	// slots (a stream gives its unary slot back once it is known to be one).
	st := lim.Stats()
	if st.InFlight != 0 || st.Parked != n-n/4 || st.Streams != n/4 || st.Queued != 0 || len(nonZero(st.Refused)) != 0 {
		t.Errorf("with every request waiting on the channel: %+v", st)
	}

	// Every slot is taken: the parked requests are answered regardless.
	var held []*overload.Ticket
	for range 8 {
		tk, err := lim.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, tk)
	}
	close(gate)
	for range n {
		a := <-answers
		if a.err != nil || a.status != http.StatusOK || !strings.Contains(a.body, "choices") {
			t.Fatalf("answer %d %v: %.300s", a.status, a.err, a.body)
		}
	}
	for _, tk := range held {
		tk.Release(0)
	}
	settled(t, lim)
	if st := lim.Stats(); len(nonZero(st.Refused)) != 0 || st.Admitted != n+8 {
		t.Errorf("at the end: %+v", st)
	}
	h.records(t, n)
}

// nonZero returns the refusal counts that are not zero.
func nonZero(m map[overload.Reason]uint64) map[overload.Reason]uint64 {
	out := map[overload.Reason]uint64{}
	for r, v := range m {
		if v != 0 {
			out[r] = v
		}
	}
	return out
}

// TestOverload_RefusalRendersAsWriteError checks that the pre-rendered
// refusal is byte for byte what writeError writes for the same refusal,
// in every dialect and for every reason: status, headers and body, the
// request id spliced into Anthropic's body and Bedrock's header. It also
// checks that the refusal is marked for the summary instead of an access
// line, and that a request without an id still gets writeError's answer.
func TestOverload_RefusalRendersAsWriteError(t *testing.T) {
	for _, dialect := range []string{dialectOpenAI, dialectAnthropic, dialectBedrock} {
		for _, reason := range overload.Reasons {
			for _, id := range []string{"req_0123456789abcdef01234567", ""} {
				t.Run(fmt.Sprintf("%s/%s/id=%q", dialect, reason, id), func(t *testing.T) {
					serve := func(write func(w http.ResponseWriter, r *http.Request)) (*httptest.ResponseRecorder, *telemetry.Info) {
						info := &telemetry.Info{RequestID: id}
						r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader("{}"))
						r = r.WithContext(telemetry.WithInfo(r.Context(), info))
						w := httptest.NewRecorder()
						write(w, r)
						return w, info
					}
					err := &overload.Error{Reason: reason}
					want, _ := serve(func(w http.ResponseWriter, r *http.Request) { writeError(w, r, dialect, overloadError(err)) })
					got, info := serve(func(w http.ResponseWriter, r *http.Request) { writeRefusal(w, r, dialect, err) })
					if got.Code != want.Code || got.Body.String() != want.Body.String() {
						t.Errorf("refusal %d %q, want %d %q", got.Code, got.Body.String(), want.Code, want.Body.String())
					}
					if fmt.Sprint(got.Header()) != fmt.Sprint(want.Header()) {
						t.Errorf("headers %v, want %v", got.Header(), want.Header())
					}
					if id != "" && dialect == dialectAnthropic && !strings.Contains(got.Body.String(), `"request_id":"`+id+`"`) {
						t.Errorf("request id %s is not in the body %s", id, got.Body.String())
					}
					if info.ErrorKind != typeOverloaded || info.Summarized != (id != "") {
						t.Errorf("info error kind %q summarized %v", info.ErrorKind, info.Summarized)
					}
				})
			}
		}
	}
}
