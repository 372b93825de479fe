package api

import (
	"context"
	"errors"
	"net/http"
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

type admittedKey struct{}

func admittedFrom(r *http.Request) *admitted {
	a, _ := r.Context().Value(admittedKey{}).(*admitted)
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
			telemetry.InfoFrom(r.Context()).Dialect = dialect
			if r.Context().Err() != nil {
				telemetry.InfoFrom(r.Context()).Status = 499 // gone while queued
				return
			}
			writeError(w, r, dialect, overloadError(err))
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
				writeError(w, r, dialect, overloadError(err))
				returned = true
				return
			}
		}
		h(w, r.WithContext(context.WithValue(r.Context(), admittedKey{}, a)))
		returned = true
	})
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
