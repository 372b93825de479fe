package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"switchyard/internal/llm"
	"switchyard/internal/provider/anthropic"
	"switchyard/internal/sse"
	"switchyard/internal/telemetry"
)

// anthropicVersion reads and checks the anthropic-version header; both
// live versions are served.
func anthropicVersion(r *http.Request) (string, error) {
	v := r.Header.Get("Anthropic-Version")
	switch v {
	case "2023-06-01", "2026-10-21":
		return v, nil
	case "":
		return "", &apiError{Status: http.StatusBadRequest, Type: typeInvalid, Message: "anthropic-version: header is required"}
	}
	return "", &apiError{Status: http.StatusBadRequest, Type: typeInvalid,
		Message: "anthropic-version: unsupported version " + quote(v) + " (supported: 2023-06-01, 2026-10-21)"}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// anthropicRequest authenticates, reads and decodes a Messages request.
func (s *Server) anthropicRequest(w http.ResponseWriter, r *http.Request) (*anthropic.MessagesRequest, *llm.Request, []byte, error) {
	if _, err := anthropicVersion(r); err != nil {
		return nil, nil, nil, err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, nil, nil, err
	}
	mr, err := anthropic.DecodeMessagesRequest(body)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := s.checkModelName(mr.Model, "model"); err != nil {
		return nil, nil, nil, err
	}
	req, err := anthropic.RequestToLLM(mr, r.Header.Get("Anthropic-Version"))
	if err != nil {
		return nil, nil, nil, err
	}
	return mr, req, body, nil
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r)
	if err != nil {
		writeError(w, r, dialectAnthropic, err)
		return
	}
	mr, req, body, err := s.anthropicRequest(w, r)
	if err != nil {
		writeError(w, r, dialectAnthropic, err)
		return
	}
	req.Raw = &llm.Raw{Dialect: anthropic.Dialect, Body: body}
	call := s.call(r, p, mr.Model, dialectAnthropic, "messages", body)
	if !req.Stream {
		resp, res, err := s.gw.Chat(r.Context(), call, req)
		setRouteHeaders(w, r, res)
		meterInfo(r, res)
		if err != nil {
			writeError(w, r, dialectAnthropic, err)
			return
		}
		writeJSON(w, http.StatusOK, anthropicResponse(resp, mr.Model, call.RequestID))
		return
	}
	// The codec keeps only the model name and the input estimate, not
	// the decoded request.
	model, estimate := mr.Model, anthropic.CountTokens(req)
	s.streamChat(w, r, call, req, func(id string) streamCodec {
		return anthropicCodec{enc: anthropic.NewStreamEncoder(model).WithID(id).WithInputEstimate(estimate)}
	})
}

// anthropicResponse renders an answer for an Anthropic client; one whose
// channel gave it no id is named after the request.
func anthropicResponse(resp *llm.Response, model, requestID string) *anthropic.MessagesResponse {
	if resp.ID == "" {
		resp.ID = requestID
	}
	return anthropic.ResponseFromLLM(resp, model)
}

// withRequestID sets the request-id header on every answer to an
// Anthropic client, as the API does (the SDKs' RequestID / _request_id),
// not only on errors.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if dialectFor(r) == dialectAnthropic {
			w.Header().Set("Request-Id", telemetry.InfoFrom(r.Context()).RequestID)
		}
		next.ServeHTTP(w, r)
	})
}

type anthropicCodec struct{ enc *anthropic.StreamEncoder }

func (c anthropicCodec) write(sw *sse.Writer, frames []anthropic.Frame) error {
	for _, f := range frames {
		if err := sw.Event(f.Event, f.Data); err != nil {
			return err
		}
	}
	return nil
}

func (c anthropicCodec) Encode(sw *sse.Writer, ev llm.Event) error {
	frames, err := c.enc.Encode(ev)
	if err != nil {
		return err
	}
	return c.write(sw, frames)
}

// KeepAlive sends a ping, which Anthropic clients skip.
func (c anthropicCodec) KeepAlive(sw *sse.Writer) error {
	return c.write(sw, []anthropic.Frame{anthropic.PingFrame()})
}

// Done has nothing to add: message_stop was the stop event's frame.
func (c anthropicCodec) Done(*sse.Writer) error { return nil }

func (c anthropicCodec) Fail(sw *sse.Writer, e *apiError) error {
	return c.write(sw, []anthropic.Frame{anthropic.ErrorFrame(anthropicErrorType(e), e.Message)})
}

func (s *Server) handleCountTokens(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r)
	if err != nil {
		writeError(w, r, dialectAnthropic, err)
		return
	}
	if _, err := anthropicVersion(r); err != nil {
		writeError(w, r, dialectAnthropic, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, r, dialectAnthropic, err)
		return
	}
	// count_tokens takes a Messages body without max_tokens.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		writeError(w, r, dialectAnthropic, &apiError{Status: http.StatusBadRequest, Type: typeInvalid, Message: "body: must be a JSON object"})
		return
	}
	if _, ok := m["max_tokens"]; !ok {
		m["max_tokens"] = json.RawMessage("1")
	}
	body, _ = json.Marshal(m)
	mr, err := anthropic.DecodeMessagesRequest(body)
	if err == nil {
		err = s.checkModelName(mr.Model, "model")
	}
	if err != nil {
		writeError(w, r, dialectAnthropic, err)
		return
	}
	req, err := anthropic.RequestToLLM(mr, r.Header.Get("Anthropic-Version"))
	if err != nil {
		writeError(w, r, dialectAnthropic, err)
		return
	}
	if _, ok := s.gw.Router().Catalog().Lookup(mr.Model); !ok {
		writeError(w, r, dialectAnthropic, &apiError{Status: http.StatusNotFound, Type: typeNotFound, Message: "model: " + mr.Model + " not found"})
		return
	}
	n, err := s.countTokens(w, r, s.call(r, p, mr.Model, dialectAnthropic, "count_tokens", nil), req)
	if err != nil {
		writeError(w, r, dialectAnthropic, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"input_tokens": n})
}

// anthropicErrorType names e's type in Anthropic's words.
func anthropicErrorType(e *apiError) string {
	switch e.Type {
	case typeAuth:
		return "authentication_error"
	case typePermission:
		return "permission_error"
	case typeNotFound:
		return "not_found_error"
	case typeTooLarge:
		return "request_too_large"
	case typeRateLimit:
		return "rate_limit_error"
	case typeOverloaded:
		return "overloaded_error"
	case typeTimeout:
		return "timeout_error"
	case typeUpstream, typeInternal:
		return "api_error"
	}
	return "invalid_request_error"
}

// anthropicStatus maps overload to Anthropic's 529, which its SDKs retry.
func anthropicStatus(e *apiError) int {
	if e.Type == typeOverloaded && e.Status == http.StatusServiceUnavailable {
		return 529
	}
	return e.Status
}

type anthropicErrorBody struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

func anthropicError(e *apiError, requestID string) anthropicErrorBody {
	var b anthropicErrorBody
	b.Type = "error"
	b.Error.Type = anthropicErrorType(e)
	b.Error.Message = e.Message
	b.RequestID = requestID
	return b
}

// isAnthropicPath reports whether a path belongs to the Anthropic API.
func isAnthropicPath(p string) bool { return strings.HasPrefix(p, "/v1/messages") }
