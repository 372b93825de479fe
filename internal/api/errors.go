package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"switchyard/internal/gateway"
	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/telemetry"
)

// Neutral error types; each dialect renders them in its own words.
const (
	typeInvalid     = "invalid_request"
	typeAuth        = "authentication"
	typePermission  = "permission"
	typeNotFound    = "not_found"
	typeTooLarge    = "too_large"
	typeRateLimit   = "rate_limit"
	typeOverloaded  = "overloaded"
	typeUpstream    = "upstream"
	typeTimeout     = "timeout"
	typeInternal    = "internal"
	typeUnprocessed = "unprocessable"
)

// apiError is an error on its way to a client: a status, a neutral type,
// and a message safe to show. Err is the cause, for logs only.
type apiError struct {
	Status     int
	Type       string
	Message    string
	Param      string
	Code       string
	RetryAfter time.Duration
	// NoRetry asks SDKs not to retry (x-should-retry: false).
	NoRetry bool
	// Limit is, for a rate limit, what ran out: "tokens", or requests
	// otherwise. OpenAI names it as the error's type.
	Limit string
	Err   error
}

func (e *apiError) Error() string { return e.Message }
func (e *apiError) Unwrap() error { return e.Err }

// secretish matches things that look like credentials, so that an
// upstream message that echoes one never reaches a client.
var secretish = regexp.MustCompile(`(sk-[A-Za-z0-9_\-]{6,}|AKIA[0-9A-Z]{12,}|ASIA[0-9A-Z]{12,}|AIza[0-9A-Za-z_\-]{20,}|Bearer\s+\S+)`)

// classify is the one place where an error becomes a status and a client
// message.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ge *gateway.Error
	if errors.As(err, &ge) {
		e := &apiError{Status: gateway.StatusOf(err), Message: ge.Message, RetryAfter: ge.RetryAfter, Err: err}
		switch ge.Kind {
		case gateway.ErrRateLimited:
			e.Type, e.Code, e.Limit = typeRateLimit, "rate_limit_exceeded", ge.Limit
		case gateway.ErrBudgetExceeded:
			// Retrying before the period ends cannot help: tell SDKs so.
			e.Type, e.Code, e.NoRetry = typeRateLimit, "budget_exceeded", true
		case gateway.ErrLimitsUnavailable:
			e.Type = typeOverloaded
		case gateway.ErrModelNotFound:
			e.Type, e.Code, e.Param = typeNotFound, "model_not_found", "model"
		case gateway.ErrModelNotAllowed:
			e.Type, e.Code, e.Param = typePermission, "model_not_allowed", "model"
		case gateway.ErrNoChannel:
			e.Type = typeOverloaded
		case gateway.ErrStreamTooLarge:
			e.Type, e.Code = typeUpstream, "stream_too_large"
		default:
			e.Type = typeInvalid
		}
		return e
	}
	if errors.Is(err, llm.ErrInvalid) || errors.Is(err, llm.ErrUnsupported) {
		return &apiError{Status: http.StatusBadRequest, Type: typeInvalid, Message: err.Error(), Err: err}
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		e := &apiError{Status: gateway.StatusOf(err), RetryAfter: pe.RetryAfter, Err: err}
		msg := secretish.ReplaceAllString(pe.Message, "[redacted]")
		switch pe.Kind {
		case provider.KindRateLimited:
			e.Type, e.Code = typeRateLimit, "rate_limit_exceeded"
			e.Message = "The upstream channel is rate limiting requests; retry later."
		case provider.KindOverloaded:
			e.Type, e.Message = typeOverloaded, "The upstream channel is overloaded; retry later."
		case provider.KindTimeout:
			e.Type, e.Message = typeTimeout, "The upstream channel did not answer in time."
		case provider.KindBadRequest, provider.KindNotFound:
			e.Type, e.Message = typeInvalid, "The upstream channel rejected the request: "+msg
		case provider.KindContextLength:
			e.Type, e.Code, e.Message = typeInvalid, "context_length_exceeded", "The input is longer than the model's context window: "+msg
		case provider.KindContentFiltered:
			e.Type, e.Code, e.Message = typeInvalid, "content_filter", "The upstream channel's content filter blocked the request."
		default:
			e.Type, e.Message = typeUpstream, "The upstream channel failed to answer."
		}
		return e
	}
	return &apiError{Status: http.StatusInternalServerError, Type: typeInternal, Message: "Internal error.", Err: err}
}

// Dialects.
const (
	dialectOpenAI    = "openai"
	dialectAnthropic = "anthropic"
	dialectBedrock   = "bedrock"
)

func dialectFor(r *http.Request) string {
	switch {
	case strings.HasPrefix(r.URL.Path, "/model/"):
		return dialectBedrock
	case isGeminiRequest(r):
		return dialectGemini
	case r.Header.Get("Anthropic-Version") != "" || isAnthropicPath(r.URL.Path):
		return dialectAnthropic
	}
	return dialectOpenAI
}

// writeError renders err in the client's dialect.
func writeError(w http.ResponseWriter, r *http.Request, dialect string, err error) {
	e := classify(err)
	info := telemetry.InfoFrom(r.Context())
	info.ErrorKind, info.Refusal = e.Type, gateway.Refusal(err)
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		w.Header().Set("Retry-After-Ms", strconv.FormatInt(e.RetryAfter.Milliseconds(), 10))
	}
	if e.NoRetry {
		w.Header().Set("X-Should-Retry", "false")
	}
	w.Header().Set("Content-Type", "application/json")
	closeUnread(w, r)
	switch dialect {
	case dialectAnthropic:
		w.Header().Set("Request-Id", info.RequestID)
		w.WriteHeader(anthropicStatus(e))
		_ = json.NewEncoder(w).Encode(anthropicError(e, info.RequestID))
	case dialectBedrock:
		writeBedrockError(w, err, e, info.RequestID)
	case dialectGemini:
		writeGeminiError(w, e)
	default:
		w.WriteHeader(e.Status)
		_ = json.NewEncoder(w).Encode(openAIErrorBody(e))
	}
}

type openAIError struct {
	Error openAIErrorDetail `json:"error"`
}

type openAIErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func openAIErrorBody(e *apiError) openAIError {
	d := openAIErrorDetail{Message: e.Message}
	switch e.Type {
	case typeAuth:
		d.Type = "invalid_request_error"
	case typePermission:
		d.Type = "permission_error"
	case typeRateLimit:
		// OpenAI names what ran out: "requests" or "tokens" with the code
		// rate_limit_exceeded; a spent quota is "insufficient_quota".
		switch {
		case e.NoRetry:
			d.Type = "insufficient_quota"
		case e.Limit == "tokens":
			d.Type = "tokens"
		default:
			d.Type = "requests"
		}
	case typeOverloaded, typeUpstream, typeTimeout, typeInternal:
		d.Type = "server_error"
	default:
		d.Type = "invalid_request_error"
	}
	if e.Param != "" {
		d.Param = &e.Param
	}
	if e.Code != "" {
		d.Code = &e.Code
	}
	return openAIError{Error: d}
}

// openAIErrorType names e's type as an OpenAI stream error does.
func openAIErrorType(e *apiError) string { return openAIErrorBody(e).Error.Type }
