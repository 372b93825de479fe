package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// errorCode resolves an AWS error code the way the AWS SDKs do: the
// X-Amzn-ErrorType header first ("Code:uri" → "Code"), then the body's
// __type ("namespace#Code" → "Code"), then its code member.
func errorCode(h http.Header, body exceptionBody) string {
	code := h.Get("X-Amzn-ErrorType")
	if code == "" {
		code = body.Type
	}
	if code == "" {
		code = body.Code
	}
	code, _, _ = strings.Cut(code, ":")
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	return strings.TrimSpace(code)
}

// kindForCode classifies an AWS error code; ok is false for codes it does
// not know. Exception frame types ("throttlingException") are matched
// without regard to the case of their first letter.
func kindForCode(code, message string) (provider.Kind, bool) {
	switch strings.ToLower(code) {
	case "throttlingexception", "servicequotaexceededexception", "toomanyrequestsexception":
		return provider.KindRateLimited, true
	case "serviceunavailableexception":
		return provider.KindOverloaded, true
	case "internalserverexception", "internalfailure", "modelnotreadyexception", "modelerrorexception", "modelstreamerrorexception":
		return provider.KindUnavailable, true
	case "modeltimeoutexception":
		return provider.KindTimeout, true
	case "validationexception", "conflictexception", "serializationexception":
		if contextTooLong(message) {
			return provider.KindContextLength, true
		}
		return provider.KindBadRequest, true
	case "accessdeniedexception":
		return provider.KindPermission, true
	case "unrecognizedclientexception", "invalidsignatureexception", "incompletesignatureexception",
		"missingauthenticationtokenexception", "expiredtokenexception":
		return provider.KindAuth, true
	case "resourcenotfoundexception":
		return provider.KindNotFound, true
	}
	return provider.KindUnknown, false
}

// contextTooLong recognizes the ValidationException messages Bedrock's
// models use for an input that does not fit the context window ("Input is
// too long for requested model.", "prompt is too long: ...", "...exceeds
// the context window...").
func contextTooLong(message string) bool {
	m := strings.ToLower(message)
	for _, s := range []string{"too long", "context window", "context length", "too many input tokens", "maximum context", "too many tokens"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// clientMessage is the text shown to the gateway's client for an upstream
// error: the upstream's own words where they help the client fix the
// request, a generic phrase where they might reveal the gateway's AWS
// account (access-denied messages name IAM roles).
func clientMessage(kind provider.Kind, upstream string) string {
	switch kind {
	case provider.KindBadRequest, provider.KindContextLength, provider.KindNotFound, provider.KindContentFiltered:
		if upstream != "" {
			return upstream
		}
	}
	switch kind {
	case provider.KindRateLimited:
		return "upstream rate limit exceeded"
	case provider.KindOverloaded:
		return "upstream overloaded"
	case provider.KindTimeout:
		return "upstream model timed out"
	case provider.KindAuth, provider.KindPermission:
		return "upstream rejected the gateway's credentials"
	case provider.KindNotFound:
		return "upstream model not found"
	case provider.KindBadRequest:
		return "upstream rejected the request"
	}
	return "upstream error"
}

// httpError classifies a non-200 answer. body is the (capped) body read.
func httpError(name string, resp *http.Response, body []byte, now time.Time) *provider.Error {
	var eb exceptionBody
	_ = json.Unmarshal(body, &eb) // a body that is not JSON leaves the header and the status to go on
	code := errorCode(resp.Header, eb)
	kind, ok := kindForCode(code, eb.Message)
	if !ok {
		kind = provider.KindForStatus(resp.StatusCode)
	}
	detail := strings.TrimSpace(eb.Message)
	if detail == "" && len(body) > 0 && !json.Valid(body) {
		detail = strings.TrimSpace(string(body))
	}
	return &provider.Error{
		Provider:   name,
		Kind:       kind,
		Status:     resp.StatusCode,
		RetryAfter: provider.RetryAfter(resp.Header, now),
		Message:    clientMessage(kind, eb.Message),
		Err:        fmt.Errorf("status %d %s: %s", resp.StatusCode, code, detail),
	}
}

// streamError classifies an error met while reading a stream: an
// exception frame by its type, a network failure as a transport error, and
// anything else (a cut or malformed stream, content the canonical model
// cannot carry) as a bad response.
func streamError(name string, err error) *provider.Error {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe // classified already: an Anthropic error event in Claude's invoke stream
	}
	var ee *ExceptionError
	if errors.As(err, &ee) {
		kind, ok := kindForCode(ee.Type, ee.Message)
		if !ok {
			kind = provider.KindUnavailable
		}
		return &provider.Error{Provider: name, Kind: kind, Message: clientMessage(kind, ee.Message), Err: err}
	}
	var ne net.Error
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		return provider.TransportError(name, err)
	}
	msg := "malformed upstream stream"
	if errors.Is(err, llm.ErrUnsupported) {
		msg = "upstream sent content the gateway cannot relay"
	} else if errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "upstream stream ended early"
	}
	return &provider.Error{Provider: name, Kind: provider.KindBadResponse, Message: msg, Err: err}
}
