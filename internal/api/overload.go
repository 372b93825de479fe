package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"switchyard/internal/gateway"
	"switchyard/internal/overload"
	"switchyard/internal/telemetry"
)

// Admission control (internal/overload) sits in front of every model
// endpoint, before the key is checked or the body read, so that a refusal
// costs as little as the HTTP exchange itself: its dialect is known from
// the path and headers. Health, readiness and the models list are never
// admission-controlled; metrics live on the admin listener.

// overloadRetryAfter is the Retry-After of an overload refusal: a slot
// frees within milliseconds, but a client that retries at once under
// sustained overload only adds to it.
const overloadRetryAfter = time.Second

// admitKind says what a model endpoint is known to be before its body is
// read.
type admitKind uint8

const (
	// admitRequest: a request that may turn out to be a stream once its
	// body is decoded (the handler then takes a stream slot).
	admitRequest admitKind = iota
	// admitStream: a stream by its path (Bedrock's *-stream operations),
	// refused before its body is read when the streams are full.
	admitStream
)

// admitted is a request's admission, carried in its context.
type admitted struct {
	t *overload.Ticket
	// upstream is the time the request spent in attempts on channels.
	upstream time.Duration
}

// admittedFrom returns the request's admission, nil when admission
// control is off.
func admittedFrom(r *http.Request) *admitted {
	a, _ := telemetry.InfoFrom(r.Context()).Door.(*admitted)
	return a
}

// admit wraps a model endpoint's handler in admission control, refusing
// in dialect. The
// request's slots are released when the handler returns, however it
// returns (a panic, a client gone); only a handler that returned normally
// with its client still there gives the limiter a sample of the gateway's
// own delay.
func (s *Server) admit(dialect string, kind admitKind, h http.HandlerFunc) http.Handler {
	if s.limiter == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := s.limiter.Acquire(r.Context())
		if err != nil {
			info := telemetry.InfoFrom(r.Context())
			info.Dialect = dialect
			if r.Context().Err() != nil {
				info.Status = 499 // gone while queued
				return
			}
			writeRefusal(w, r, dialect, err)
			return
		}
		a := &admitted{t: t}
		returned := false
		defer func() {
			if returned && r.Context().Err() == nil {
				t.Release(a.upstream)
			} else {
				t.Abandon()
			}
		}()
		if kind == admitStream {
			if err := t.Stream(); err != nil {
				telemetry.InfoFrom(r.Context()).Dialect = dialect
				writeRefusal(w, r, dialect, err)
				returned = true
				return
			}
		}
		telemetry.InfoFrom(r.Context()).Door = a
		h(w, r)
		returned = true
	})
}

// An overload refusal must cost as little as possible: under overload the
// CPU it takes is taken from the requests being served. So the admission
// wrapper writes it from bodies rendered once per dialect and reason
// (only Anthropic's carries the request id, spliced in), with header
// values shared between responses, and it gets no access-log line of its
// own: at three times capacity that would be thousands of lines a second,
// as costly as the refusal itself. Refusals stay visible and exact in
// switchyard_admission_refusals_total, and the serve command logs one
// summary line per second while they happen. writeRefusal writes the
// same bytes writeError writes for overloadError.

// renderedRefusal is one dialect's overload refusal for one reason.
type renderedRefusal struct {
	status int
	// body is the whole body, or for Anthropic the part before the
	// request id, and tail the part after it.
	body, tail []byte
	// errorType is Bedrock's X-Amzn-Errortype.
	errorType []string
}

// refusalIDMark is how refusalID is encoded in JSON: it stands for the
// request id while the Anthropic body is rendered, and cannot occur in a
// JSON-encoded message.
const (
	refusalID     = "\x00id\x00"
	refusalIDMark = `\u0000id\u0000`
)

// Header values shared by every refusal; net/http only reads them.
var (
	refusalRetryAfter   = []string{strconv.Itoa(int(overloadRetryAfter / time.Second))}
	refusalRetryAfterMs = []string{strconv.FormatInt(overloadRetryAfter.Milliseconds(), 10)}
	refusalContentType  = []string{"application/json"}
)

// renderedRefusals holds every dialect's refusal for each reason.
var renderedRefusals = func() map[string][]renderedRefusal {
	m := map[string][]renderedRefusal{}
	for _, d := range []string{dialectOpenAI, dialectAnthropic, dialectBedrock} {
		rs := make([]renderedRefusal, len(overload.Reasons))
		for i, reason := range overload.Reasons {
			e := overloadError(&overload.Error{Reason: reason})
			rr := renderedRefusal{status: e.Status}
			var v any
			switch d {
			case dialectAnthropic:
				rr.status = anthropicStatus(e)
				v = anthropicError(e, refusalID)
			case dialectBedrock:
				status, code := bedrockErrorCode(e)
				rr.status, rr.errorType = status, []string{code + bedrockErrorNamespace}
				v = bedrockErrorBody{Message: e.Message}
			default:
				v = openAIErrorBody(e)
			}
			b, err := json.Marshal(v)
			if err != nil {
				panic(err)
			}
			b = append(b, '\n') // as json.Encoder writes it
			if before, after, ok := bytes.Cut(b, []byte(refusalIDMark)); ok {
				b, rr.tail = before, after
			}
			rr.body = b
			rs[i] = rr
		}
		m[d] = rs
	}
	return m
}()

// writeRefusal answers a request refused by admission control (err is an
// *overload.Error) in its dialect, as writeError would, at a fraction of
// the cost, and marks it for the refusal summary instead of an access
// line.
func writeRefusal(w http.ResponseWriter, r *http.Request, dialect string, err error) {
	var oe *overload.Error
	if !errors.As(err, &oe) {
		writeError(w, r, dialect, overloadError(err))
		return
	}
	info := telemetry.InfoFrom(r.Context())
	rs, ok := renderedRefusals[dialect]
	if !ok {
		// A dialect without rendered bodies (Gemini's carries a status
		// name and details) is written the slow way, but is summarized
		// like the others rather than logged one line each.
		writeError(w, r, dialect, overloadError(err))
		info.ErrorKind, info.Summarized = typeOverloaded, true
		return
	}
	i := slices.Index(overload.Reasons, oe.Reason)
	if i < 0 || info.RequestID == "" {
		writeError(w, r, dialect, overloadError(err))
		return
	}
	rr := &rs[i]
	info.ErrorKind, info.Summarized = typeOverloaded, true
	h := w.Header()
	h["Retry-After"], h["Retry-After-Ms"], h["Content-Type"] = refusalRetryAfter, refusalRetryAfterMs, refusalContentType
	closeUnread(w, r)
	switch dialect {
	case dialectAnthropic:
		h.Set("Request-Id", info.RequestID)
		w.WriteHeader(rr.status)
		_, _ = w.Write(rr.body)
		_, _ = io.WriteString(w, info.RequestID)
		_, _ = w.Write(rr.tail)
		return
	case dialectBedrock:
		h["X-Amzn-Errortype"] = rr.errorType
		h.Set("X-Amzn-Requestid", awsRequestID(info.RequestID))
	}
	w.WriteHeader(rr.status)
	_, _ = w.Write(rr.body)
}

// overloadError is an overload refusal: 503 with Retry-After, rendered as
// Anthropic's 529 overloaded_error and Bedrock's
// ServiceUnavailableException.
func overloadError(err error) *apiError {
	msg := "The gateway is overloaded; retry shortly."
	var oe *overload.Error
	if errors.As(err, &oe) && oe.Reason == overload.StreamsFull {
		msg = "The gateway has as many open streams as it can serve; retry shortly."
	}
	return &apiError{Status: http.StatusServiceUnavailable, Type: typeOverloaded, Code: "overloaded",
		RetryAfter: overloadRetryAfter, Message: msg, Err: err}
}

// takeStreamSlot takes a stream slot for a request found to be a stream,
// before any upstream call; a *apiError when the streams are full.
func takeStreamSlot(r *http.Request) error {
	a := admittedFrom(r)
	if a == nil {
		return nil
	}
	if err := a.t.Stream(); err != nil {
		return overloadError(err)
	}
	return nil
}

// noteUpstream records the time a request spent on channels, from its
// gateway result.
func noteUpstream(r *http.Request, res *gateway.Result) {
	if a := admittedFrom(r); a != nil {
		a.upstream = res.Upstream
	}
}

// streamOpened frees the in-flight slot of a request whose stream is open
// (the gateway has its first upstream event): from here it holds only its
// stream slot.
func streamOpened(r *http.Request) {
	if a := admittedFrom(r); a != nil {
		a.t.Opened(a.upstream)
	}
}
