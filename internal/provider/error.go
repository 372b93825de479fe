package provider

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Kind classifies an upstream failure. Routing decides on it (retry,
// fallback, give up) and the edge maps it to a status in the client's
// dialect.
type Kind uint8

const (
	KindUnknown Kind = iota
	KindRateLimited
	KindOverloaded
	KindTimeout
	KindUnavailable
	KindAuth
	KindPermission
	KindBadRequest
	KindNotFound
	KindContextLength
	KindContentFiltered
	// KindBadResponse is an upstream answer the adapter could not
	// understand: a malformed frame, a stream cut before its end, a 200
	// carrying an error.
	KindBadResponse
)

var kindNames = [...]string{
	KindUnknown:         "unknown error",
	KindRateLimited:     "rate limited",
	KindOverloaded:      "overloaded",
	KindTimeout:         "timeout",
	KindUnavailable:     "unavailable",
	KindAuth:            "authentication failed",
	KindPermission:      "permission denied",
	KindBadRequest:      "bad request",
	KindNotFound:        "not found",
	KindContextLength:   "context length exceeded",
	KindContentFiltered: "content filtered",
	KindBadResponse:     "bad upstream response",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown error"
}

// Retryable reports whether another attempt, on this channel or the next,
// may succeed.
func (k Kind) Retryable() bool {
	switch k {
	case KindRateLimited, KindOverloaded, KindTimeout, KindUnavailable, KindBadResponse:
		return true
	}
	return false
}

// Error is the one error type adapters return for upstream failures.
// Message is safe to show a client; Err is the raw cause, for logs only.
type Error struct {
	Provider   string
	Kind       Kind
	Status     int
	RetryAfter time.Duration
	Message    string
	Err        error
}

func (e *Error) Error() string {
	msg := e.Provider + ": " + e.Kind.String()
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindForStatus classifies an upstream HTTP status.
func KindForStatus(status int) Kind {
	switch {
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status == http.StatusUnauthorized:
		return KindAuth
	case status == http.StatusForbidden:
		return KindPermission
	case status == http.StatusNotFound:
		return KindNotFound
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return KindTimeout
	case status == 529 || status == http.StatusServiceUnavailable:
		return KindOverloaded
	case status == http.StatusRequestEntityTooLarge:
		return KindBadRequest
	case status >= 500:
		return KindUnavailable
	case status >= 400:
		return KindBadRequest
	}
	return KindUnknown
}

// RetryAfter reads retry-after-ms and Retry-After (seconds or an HTTP
// date) from upstream headers; 0 when absent.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// TransportError classifies an error from sending a request or reading its
// answer (connection refused, reset, timeout, cancellation).
func TransportError(name string, err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	kind := KindUnavailable
	msg := "upstream unreachable"
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		kind, msg = KindTimeout, "request cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		kind, msg = KindTimeout, "upstream timed out"
	}
	return &Error{Provider: name, Kind: kind, Message: msg, Err: err}
}
