package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"switchyard/internal/auth"
	"switchyard/internal/gateway"
	"switchyard/internal/llm"
	"switchyard/internal/provider/anthropic"
	"switchyard/internal/provider/bedrock"
	"switchyard/internal/telemetry"
)

// The Amazon Bedrock Runtime front door serves Converse, ConverseStream,
// InvokeModel, InvokeModelWithResponseStream and CountTokens at the paths
// the AWS SDKs build from an endpoint override (POST /model/{modelId}/…).
// Clients authenticate with SigV4, signed with the AWS-style key pair issued
// with every gateway key, or with the gateway key itself as a Bedrock API key
// (Authorization: Bearer). Errors follow restJson1: the code in
// X-Amzn-ErrorType and {"message"} in the body; once a stream has started
// they are modeled exception frames.

// AWSAuthenticator resolves the access key id of a SigV4-signed request to
// the key's secret access key and its principal. auth.Authenticator
// implements it.
type AWSAuthenticator interface {
	AWSSecret(ctx context.Context, accessKeyID string) (secret string, p *auth.Principal, err error)
}

const (
	// invokeAnthropicVersion is the anthropic_version an InvokeModel body
	// for an Anthropic model carries instead of the anthropic-version header.
	invokeAnthropicVersion = "bedrock-2023-05-31"
	// invokeMessagesVersion is the Messages API version whose rules such a
	// body follows (sampling parameters allowed).
	invokeMessagesVersion = "2023-06-01"

	eventStreamContentType = "application/vnd.amazon.eventstream"

	// X-Amzn-ErrorType namespaces: Bedrock's modeled errors, and the AWS
	// service framework's authentication errors.
	bedrockErrorNamespace = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
	coralErrorNamespace   = ":http://internal.amazon.com/coral/com.amazon.coral.service/"

	msgInvalidModelID = "The provided model identifier is invalid."
	msgInvalidToken   = "The security token included in the request is invalid."
)

// Bedrock's modeled error codes (restJson1 shape names).
const (
	codeValidation         = "ValidationException"
	codeAccessDenied       = "AccessDeniedException"
	codeResourceNotFound   = "ResourceNotFoundException"
	codeThrottling         = "ThrottlingException"
	codeServiceUnavailable = "ServiceUnavailableException"
	codeInternalServer     = "InternalServerException"
	codeModelTimeout       = "ModelTimeoutException"
	codeQuotaExceeded      = "ServiceQuotaExceededException"
)

// awsError is an error whose AWS error code is fixed by where it arose (a
// SigV4 failure, an invalid model id) rather than derived from its neutral
// type. It unwraps to the apiError that carries the status, the message
// and the access-log type.
type awsError struct {
	code string
	err  *apiError
}

func (e *awsError) Error() string { return e.code + ": " + e.err.Message }
func (e *awsError) Unwrap() error { return e.err }

// bedrockErrorCode names e as a Bedrock client expects, with the status
// that goes with it.
func bedrockErrorCode(e *apiError) (status int, code string) {
	// A spent budget is a quota, not throttling: AWS SDKs retry a
	// ThrottlingException (they do not read x-should-retry), and a retry
	// before the period ends cannot pass. The status stays 429, as in the
	// other dialects; the SDKs resolve the code from X-Amzn-ErrorType.
	if e.Code == "budget_exceeded" {
		return http.StatusTooManyRequests, codeQuotaExceeded
	}
	switch e.Type {
	case typeAuth, typePermission:
		return http.StatusForbidden, codeAccessDenied
	case typeNotFound:
		return http.StatusNotFound, codeResourceNotFound
	case typeRateLimit:
		return http.StatusTooManyRequests, codeThrottling
	case typeOverloaded:
		return http.StatusServiceUnavailable, codeServiceUnavailable
	case typeTimeout:
		return http.StatusRequestTimeout, codeModelTimeout
	case typeUpstream, typeInternal:
		return http.StatusInternalServerError, codeInternalServer
	case typeTooLarge:
		if e.Status == http.StatusRequestHeaderFieldsTooLarge {
			return e.Status, codeValidation
		}
		return http.StatusRequestEntityTooLarge, codeValidation
	}
	// A body that did not arrive in time keeps its 408, and net/http's
	// own refusals of a transfer encoding or protocol version their 501
	// and 505.
	switch e.Status {
	case http.StatusRequestTimeout, http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return e.Status, codeValidation
	}
	return http.StatusBadRequest, codeValidation
}

type bedrockErrorBody struct {
	Message string `json:"message"`
}

// writeBedrockError renders err, already classified as e, the way AWS
// restJson1 services do. The SDKs read the code from X-Amzn-ErrorType
// before the body.
func writeBedrockError(w http.ResponseWriter, err error, e *apiError, requestID string) {
	status, code := bedrockErrorCode(e)
	var ae *awsError
	if errors.As(err, &ae) {
		status, code = e.Status, ae.code
	}
	ns := bedrockErrorNamespace
	switch code {
	case bedrock.CodeInvalidSignature, bedrock.CodeUnrecognizedClient, bedrock.CodeMissingAuthenticationToken, bedrock.CodeIncompleteSignature:
		ns = coralErrorNamespace
	}
	h := w.Header()
	h.Set("X-Amzn-Errortype", code+ns)
	h.Set("X-Amzn-Requestid", awsRequestID(requestID))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(bedrockErrorBody{Message: e.Message})
}

// awsRequestID writes the gateway's request id ("req_" and 24 hex digits)
// in the UUID form AWS gives its request ids, with the same digits (left
// padded with zeros), so that an id a Bedrock client reports is found in
// the gateway's logs. An id of another form is hashed into one.
func awsRequestID(id string) string {
	digits := strings.TrimPrefix(id, "req_")
	if _, err := hex.DecodeString(digits); err != nil || digits == "" || len(digits) > 32 {
		sum := sha256.Sum256([]byte(id))
		digits = hex.EncodeToString(sum[:16])
	}
	d := strings.Repeat("0", 32-len(digits)) + strings.ToLower(digits)
	return d[:8] + "-" + d[8:12] + "-" + d[12:16] + "-" + d[16:20] + "-" + d[20:]
}

// streamExceptionType names the modeled exception that reports e inside an
// event stream. ConverseStream has no modelTimeoutException member;
// InvokeModelWithResponseStream does.
func streamExceptionType(e *apiError, invoke bool) string {
	switch e.Type {
	case typeRateLimit:
		return "throttlingException"
	case typeOverloaded:
		return "serviceUnavailableException"
	case typeTimeout:
		if invoke {
			return "modelTimeoutException"
		}
		return "modelStreamErrorException"
	case typeUpstream:
		return "modelStreamErrorException"
	case typeInternal:
		return "internalServerException"
	}
	return "validationException"
}

// bedrockOp is one model operation of the Runtime API.
type bedrockOp uint8

const (
	opConverse bedrockOp = iota + 1
	opConverseStream
	opInvoke
	opInvokeStream
)

func (op bedrockOp) stream() bool { return op == opConverseStream || op == opInvokeStream }
func (op bedrockOp) invoke() bool { return op == opInvoke || op == opInvokeStream }

// endpoint names the operation in gateway.Call and the usage ledger.
func (op bedrockOp) endpoint() string {
	if op.invoke() {
		return "invoke"
	}
	return "converse"
}

// handleBedrock returns the handler of one model operation.
func (s *Server) handleBedrock(op bedrockOp) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.serveBedrock(w, r, op) }
}

func (s *Server) serveBedrock(w http.ResponseWriter, r *http.Request, op bedrockOp) {
	start := s.now()
	w.Header().Set("X-Amzn-Requestid", awsRequestID(telemetry.InfoFrom(r.Context()).RequestID))
	p, body, err := s.bedrockAuth(w, r)
	if err != nil {
		writeError(w, r, dialectBedrock, err)
		return
	}
	model, err := s.bedrockModel(r)
	if err != nil {
		writeError(w, r, dialectBedrock, err)
		return
	}
	var req *llm.Request
	if op.invoke() {
		req, err = invokeRequest(r.Header, body, model)
	} else {
		req, err = converseRequest(body)
	}
	if err != nil {
		writeError(w, r, dialectBedrock, err)
		return
	}
	req.Model, req.Stream = model, op.stream()
	call := s.call(r, p, model, dialectBedrock, op.endpoint(), body)
	if op.stream() {
		var codec eventStreamCodec
		if op.invoke() {
			codec = &invokeStreamCodec{enc: anthropic.NewStreamEncoder(model).WithID(call.RequestID).WithInputEstimate(anthropic.CountTokens(req)), start: start, now: s.now}
		} else {
			codec = &converseStreamCodec{enc: bedrock.NewStreamEncoder(), start: start, now: s.now}
		}
		s.streamEvents(w, r, call, req, codec)
		return
	}
	resp, res, err := s.gw.Chat(r.Context(), call, req)
	setRouteHeaders(w, r, res)
	meterInfo(r, res)
	if err != nil {
		writeError(w, r, dialectBedrock, err)
		return
	}
	latency := s.now().Sub(start)
	if op.invoke() {
		h := w.Header()
		h.Set("X-Amzn-Bedrock-Input-Token-Count", strconv.FormatInt(resp.Usage.InputTokens, 10))
		h.Set("X-Amzn-Bedrock-Output-Token-Count", strconv.FormatInt(resp.Usage.OutputTokens, 10))
		h.Set("X-Amzn-Bedrock-Invocation-Latency", strconv.FormatInt(latency.Milliseconds(), 10))
		writeJSON(w, http.StatusOK, anthropicResponse(resp, model, call.RequestID))
		return
	}
	writeJSON(w, http.StatusOK, bedrock.ResponseFromLLM(resp, latency))
}

// bedrockAuth authenticates a Bedrock request and returns its body, which
// a SigV4 signature covers. A Bearer token is a gateway key used as a
// Bedrock API key; anything else must be a valid SigV4 Authorization.
// Every refusal is a 403 with the code AWS would send; a credential store
// that cannot answer is a 503.
func (s *Server) bedrockAuth(w http.ResponseWriter, r *http.Request) (*auth.Principal, []byte, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, nil, &awsError{code: bedrock.CodeMissingAuthenticationToken,
			err: &apiError{Status: http.StatusForbidden, Type: typeAuth, Message: "Missing Authentication Token"}}
	}
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		p, err := s.auth.Authenticate(r.Context(), strings.TrimSpace(h[7:]))
		if err != nil {
			return nil, nil, bedrockKeyError(err)
		}
		if e := s.checkSource(r, p); e != nil {
			return nil, nil, &awsError{code: codeAccessDenied, err: e}
		}
		body, err := s.readBody(w, r)
		if err != nil {
			return nil, nil, err
		}
		notePrincipal(r, p)
		return p, body, nil
	}
	// SigV4: everything but the signature itself is checked from the
	// headers, and the access key looked up, before the body is read, so
	// an unauthenticated client never holds the connection with a slow
	// body. When the client sent the payload hash (X-Amz-Content-Sha256,
	// as the JavaScript SDK does) the signature is checked before the
	// body too; otherwise it covers the body's hash and waits for it.
	sig, err := bedrock.CheckSigV4Header(r, s.now(), s.regionAllowed)
	if err != nil {
		return nil, nil, sigV4Refusal(err)
	}
	if s.aws == nil {
		return nil, nil, sigV4Refusal(&bedrock.SigV4Error{Code: bedrock.CodeUnrecognizedClient, Message: msgInvalidToken})
	}
	secret, p, err := s.aws.AWSSecret(r.Context(), sig.AccessKeyID())
	if err != nil {
		if !authRefusal(err) {
			return nil, nil, authError(err)
		}
		// A revoked or expired key is reported as unknown, as AWS does
		// for a deactivated access key: the signer has not yet proven
		// that it holds the secret, so it learns nothing about the key.
		return nil, nil, sigV4Refusal(&bedrock.SigV4Error{Code: bedrock.CodeUnrecognizedClient, Message: msgInvalidToken})
	}
	checked, err := sig.VerifyClaimedHash(r, secret)
	if checked && err != nil {
		return nil, nil, sigV4Refusal(err)
	}
	// The source is checked once the signer has proven it holds the
	// secret (before the body when the signature could be checked
	// without it), so that an allow-list refusal says nothing about an
	// access key to whoever merely knows its ID.
	if checked {
		if e := s.checkSource(r, p); e != nil {
			return nil, nil, &awsError{code: codeAccessDenied, err: e}
		}
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, nil, err
	}
	if err := sig.VerifyBody(r, body, secret); err != nil {
		return nil, nil, sigV4Refusal(err)
	}
	if !checked {
		if e := s.checkSource(r, p); e != nil {
			return nil, nil, &awsError{code: codeAccessDenied, err: e}
		}
	}
	notePrincipal(r, p)
	return p, body, nil
}

// regionAllowed reports whether the front door answers for a SigV4
// credential-scope region.
func (s *Server) regionAllowed(region string) bool { return s.regions == nil || s.regions[region] }

// sigV4Refusal renders a failed SigV4 check as the 403 AWS sends.
func sigV4Refusal(err error) error {
	var se *bedrock.SigV4Error
	if !errors.As(err, &se) {
		se = &bedrock.SigV4Error{Code: bedrock.CodeInvalidSignature, Message: "The request signature could not be verified."}
	}
	return &awsError{code: se.Code, err: &apiError{Status: http.StatusForbidden, Type: typeAuth, Message: se.Message, Err: err}}
}

// bedrockKeyError renders a failed Bedrock API key as AWS names it.
func bedrockKeyError(err error) error {
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		return &awsError{code: bedrock.CodeUnrecognizedClient,
			err: &apiError{Status: http.StatusForbidden, Type: typeAuth, Message: msgInvalidToken, Err: err}}
	case authRefusal(err):
		e := authError(err)
		return &awsError{code: codeAccessDenied, err: &apiError{Status: http.StatusForbidden, Type: e.Type, Message: e.Message, Err: err}}
	}
	return authError(err)
}

// authRefusal reports whether err is the authenticator refusing a key, as
// opposed to failing to look it up.
func authRefusal(err error) bool {
	return errors.Is(err, auth.ErrUnauthenticated) || errors.Is(err, auth.ErrRevoked) || errors.Is(err, auth.ErrRotated) ||
		errors.Is(err, auth.ErrExpired) || errors.Is(err, auth.ErrTenantDisabled)
}

// notePrincipal records the caller for the access log.
func notePrincipal(r *http.Request, p *auth.Principal) {
	info := telemetry.InfoFrom(r.Context())
	info.Tenant, info.KeyID = p.Tenant.Name, p.Key.ID
}

// bedrockModel resolves the {modelId} path label (already unescaped by the
// mux: an ARN's %2F stays inside the label) to a name the catalog knows,
// trying the forms in modelIDCandidates in turn. An unknown id is the
// ValidationException Bedrock returns for one.
func (s *Server) bedrockModel(r *http.Request) (string, error) {
	modelID := r.PathValue("modelId")
	if err := s.checkModelName(modelID, "modelId"); err != nil {
		return "", &awsError{code: codeValidation, err: err.(*apiError)}
	}
	cat := s.gw.Router().Catalog()
	for _, id := range modelIDCandidates(modelID) {
		if _, ok := cat.Lookup(id); ok {
			return id, nil
		}
	}
	return "", &awsError{code: codeValidation,
		err: &apiError{Status: http.StatusBadRequest, Type: typeInvalid, Param: "modelId", Message: msgInvalidModelID}}
}

// modelIDCandidates lists the names a Bedrock model id may be configured
// under, most specific first: the id itself; for an ARN
// (arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.…),
// its resource id after the last '/'; and for an inference profile id, the
// foundation model id without its geographic prefix. Catalog aliases let
// operators keep the ids their Bedrock clients already use.
func modelIDCandidates(id string) []string {
	if id == "" {
		return nil
	}
	out := []string{id}
	if strings.HasPrefix(id, "arn:") {
		if i := strings.LastIndexByte(id, '/'); i >= 0 && i < len(id)-1 {
			out = append(out, id[i+1:])
		}
	}
	for _, c := range out {
		// The geographic prefixes of cross-region inference profiles.
		for _, p := range [...]string{"us.", "us-gov.", "eu.", "apac.", "jp.", "au.", "ca.", "global."} {
			if rest, ok := strings.CutPrefix(c, p); ok && rest != "" {
				out = append(out, rest)
				break
			}
		}
	}
	return out
}

// converseRequest decodes a Converse or ConverseStream body. The body also
// rides along as llm.Raw, so that a Bedrock channel receives it unchanged.
func converseRequest(body []byte) (*llm.Request, error) {
	cr, err := bedrock.DecodeConverseRequest(body)
	if err != nil {
		return nil, err
	}
	req, err := bedrock.RequestToLLM(cr)
	if err != nil {
		return nil, err
	}
	req.Raw = &llm.Raw{Dialect: bedrock.Dialect, Body: body}
	return req, nil
}

// invokeRequest decodes an InvokeModel body. Only the Anthropic Messages
// body is understood: the Messages request without model and stream, plus
// "anthropic_version": "bedrock-2023-05-31". Other model families' native
// bodies, guardrails and anthropic_beta flags cannot be carried and are
// refused rather than ignored. The Messages request, with the model put
// back, rides along as llm.Raw for an Anthropic channel.
func invokeRequest(h http.Header, body []byte, model string) (*llm.Request, error) {
	if err := checkInvokeHeaders(h); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%w: bedrock invoke: body must be a JSON object", llm.ErrInvalid)
	}
	v, ok := m["anthropic_version"]
	if !ok {
		return nil, fmt.Errorf("%w: bedrock invoke: only Anthropic Messages bodies (with anthropic_version %q) are served; use Converse for other model families",
			llm.ErrUnsupported, invokeAnthropicVersion)
	}
	var version string
	if err := json.Unmarshal(v, &version); err != nil || version != invokeAnthropicVersion {
		return nil, fmt.Errorf("%w: bedrock invoke: anthropic_version: want %q, got %s", llm.ErrInvalid, invokeAnthropicVersion, v)
	}
	for _, k := range []string{"model", "stream"} {
		if _, ok := m[k]; ok {
			return nil, fmt.Errorf("%w: bedrock invoke: extraneous key [%s] is not permitted (the model is in the path, streaming is the operation)", llm.ErrInvalid, k)
		}
	}
	if beta, ok := m["anthropic_beta"]; ok {
		var flags []string
		if err := json.Unmarshal(beta, &flags); err != nil {
			return nil, fmt.Errorf("%w: bedrock invoke: anthropic_beta: want an array of strings", llm.ErrInvalid)
		}
		if len(flags) > 0 {
			return nil, fmt.Errorf("%w: bedrock invoke: anthropic_beta %v: beta features are not supported by the gateway", llm.ErrUnsupported, flags)
		}
	}
	delete(m, "anthropic_version")
	delete(m, "anthropic_beta")
	m["model"], _ = json.Marshal(model)
	messages, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding messages request: %w", err)
	}
	mr, err := anthropic.DecodeMessagesRequest(messages)
	if err != nil {
		return nil, err
	}
	req, err := anthropic.RequestToLLM(mr, invokeMessagesVersion)
	if err != nil {
		return nil, err
	}
	req.Raw = &llm.Raw{Dialect: anthropic.Dialect, Body: messages}
	return req, nil
}

// checkInvokeHeaders refuses the InvokeModel headers that ask for what the
// gateway does not do. X-Amzn-Bedrock-Trace only adds guardrail traces, and
// guardrails are refused, so it is accepted.
func checkInvokeHeaders(h http.Header) error {
	for _, name := range []string{"X-Amzn-Bedrock-Guardrailidentifier", "X-Amzn-Bedrock-Guardrailversion"} {
		if h.Get(name) != "" {
			return fmt.Errorf("%w: bedrock invoke: guardrails (%s) are not supported by the gateway", llm.ErrUnsupported, name)
		}
	}
	if v := h.Get("X-Amzn-Bedrock-Performanceconfig-Latency"); v != "" && v != "standard" {
		return fmt.Errorf("%w: bedrock invoke: performance config latency %q is not supported by the gateway", llm.ErrUnsupported, v)
	}
	if v := h.Get("X-Amzn-Bedrock-Service-Tier"); v != "" && v != "default" {
		return fmt.Errorf("%w: bedrock invoke: service tier %q is not supported by the gateway", llm.ErrUnsupported, v)
	}
	return nil
}

// eventStreamCodec encodes one operation's event stream; streamEvents
// drives it.
type eventStreamCodec interface {
	// frames returns the event-stream events for one canonical event.
	frames(ev llm.Event) ([]bedrock.EncodedEvent, error)
	// exception names the modeled exception a mid-stream failure is sent as.
	exception(e *apiError) string
}

// converseStreamCodec writes ConverseStream events.
type converseStreamCodec struct {
	enc   *bedrock.StreamEncoder
	start time.Time
	now   func() time.Time
}

func (c *converseStreamCodec) frames(ev llm.Event) ([]bedrock.EncodedEvent, error) {
	if ev.Kind == llm.EventStop {
		c.enc.Latency = c.now().Sub(c.start)
	}
	return c.enc.Encode(ev)
}

func (c *converseStreamCodec) exception(e *apiError) string { return streamExceptionType(e, false) }

// invokeStreamCodec writes InvokeModelWithResponseStream events: each
// Anthropic stream event, as JSON, base64-encoded in the "bytes" of a
// chunk event. The message_stop event carries Bedrock's invocation metrics.
type invokeStreamCodec struct {
	enc       *anthropic.StreamEncoder
	start     time.Time
	now       func() time.Time
	started   bool
	firstByte time.Duration
}

// payloadPart is the body of a chunk event.
type payloadPart struct {
	Bytes []byte `json:"bytes"` // encoding/json writes standard base64
}

type invocationMetrics struct {
	InputTokenCount   int64 `json:"inputTokenCount"`
	OutputTokenCount  int64 `json:"outputTokenCount"`
	InvocationLatency int64 `json:"invocationLatency"`
	FirstByteLatency  int64 `json:"firstByteLatency"`
}

type invokeMessageStop struct {
	Type    string            `json:"type"`
	Metrics invocationMetrics `json:"amazon-bedrock-invocationMetrics"`
}

func (c *invokeStreamCodec) frames(ev llm.Event) ([]bedrock.EncodedEvent, error) {
	if !c.started {
		c.started, c.firstByte = true, c.now().Sub(c.start)
	}
	fs, err := c.enc.Encode(ev)
	if err != nil {
		return nil, err
	}
	out := make([]bedrock.EncodedEvent, 0, len(fs))
	for _, f := range fs {
		if f.Event == anthropic.EventPing {
			// Bedrock's invoke stream carries no pings; the event stream
			// has no use for them.
			continue
		}
		data := f.Data
		if f.Event == anthropic.EventMessageStop && ev.Kind == llm.EventStop {
			var u llm.Usage
			if ev.Usage != nil {
				u = *ev.Usage
			}
			if data, err = json.Marshal(invokeMessageStop{Type: anthropic.EventMessageStop, Metrics: invocationMetrics{
				InputTokenCount: u.InputTokens, OutputTokenCount: u.OutputTokens,
				InvocationLatency: c.now().Sub(c.start).Milliseconds(), FirstByteLatency: c.firstByte.Milliseconds(),
			}}); err != nil {
				return nil, fmt.Errorf("encoding message_stop: %w", err)
			}
		}
		chunk, err := json.Marshal(payloadPart{Bytes: data})
		if err != nil {
			return nil, fmt.Errorf("encoding chunk: %w", err)
		}
		out = append(out, bedrock.EncodedEvent{EventType: "chunk", Payload: chunk})
	}
	return out, nil
}

func (c *invokeStreamCodec) exception(e *apiError) string { return streamExceptionType(e, true) }

// flushWriter flushes after every write, so each event-stream frame (one
// Write) reaches the client at once, unless ready reports that the next
// frame's event is already at hand (then that frame's flush sends both).
type flushWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	ready func() bool
}

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err != nil {
		return n, err
	}
	if f.ready != nil && f.ready() {
		return n, nil
	}
	if err := f.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return n, err
	}
	return n, nil
}

// streamEvents serves a streamed Bedrock request as an event stream,
// through serveStream: a modeled exception frame ends a failed stream.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, call *gateway.Call, req *llm.Request, codec eventStreamCodec) {
	s.serveStream(w, r, call, req, func(w http.ResponseWriter, ready func() bool) func(string) streamSink {
		w.Header().Set("Content-Type", eventStreamContentType)
		w.WriteHeader(http.StatusOK)
		enc := bedrock.NewEventEncoder(flushWriter{w: w, rc: http.NewResponseController(w), ready: ready})
		return func(string) streamSink { return eventSink{enc: enc, codec: codec} }
	})
}

// eventSink writes a Bedrock operation's event stream.
type eventSink struct {
	enc   *bedrock.EventEncoder
	codec eventStreamCodec
}

func (k eventSink) Encode(ev llm.Event) error {
	frames, err := k.codec.frames(ev)
	if err != nil {
		return &encodeError{err: err}
	}
	return writeFrames(k.enc, frames)
}

// Done has nothing to add: the stop event's frames end the stream.
func (k eventSink) Done() error { return nil }

func (k eventSink) Fail(e *apiError) error {
	payload, _ := json.Marshal(bedrockErrorBody{Message: e.Message})
	return k.enc.Exception(k.codec.exception(e), payload)
}

func writeFrames(enc *bedrock.EventEncoder, frames []bedrock.EncodedEvent) error {
	for _, f := range frames {
		if err := enc.Event(f.EventType, f.Payload); err != nil {
			return err
		}
	}
	return nil
}

// handleBedrockCountTokens serves CountTokens for a Converse or an
// InvokeModel (Anthropic) input, counted as every door's count is
// (Server.countTokens).
func (s *Server) handleBedrockCountTokens(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", awsRequestID(telemetry.InfoFrom(r.Context()).RequestID))
	p, body, err := s.bedrockAuth(w, r)
	if err != nil {
		writeError(w, r, dialectBedrock, err)
		return
	}
	model, err := s.bedrockModel(r)
	if err != nil {
		writeError(w, r, dialectBedrock, err)
		return
	}
	req, err := countTokensRequest(body, model)
	if err != nil {
		writeError(w, r, dialectBedrock, err)
		return
	}
	n, err := s.countTokens(w, r, s.call(r, p, model, dialectBedrock, "count_tokens", nil), req)
	if err != nil {
		writeError(w, r, dialectBedrock, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"inputTokens": n})
}

// countTokensRequest decodes a CountTokens body: {"input": {"converse":
// {messages, system, toolConfig, …}}} or {"input": {"invokeModel": {"body":
// base64 of an InvokeModel body}}}.
func countTokensRequest(body []byte, model string) (*llm.Request, error) {
	var in struct {
		Input map[string]json.RawMessage `json:"input"`
	}
	if err := strictJSON(body, &in); err != nil {
		return nil, fmt.Errorf("%w: bedrock count tokens: %v", llm.ErrInvalid, err)
	}
	if len(in.Input) != 1 {
		return nil, fmt.Errorf("%w: bedrock count tokens: input: exactly one of converse or invokeModel must be set", llm.ErrInvalid)
	}
	if raw, ok := in.Input["converse"]; ok {
		return converseRequest(raw)
	}
	raw, ok := in.Input["invokeModel"]
	if !ok {
		return nil, fmt.Errorf("%w: bedrock count tokens: input: exactly one of converse or invokeModel must be set", llm.ErrInvalid)
	}
	var im struct {
		Body []byte `json:"body"`
	}
	if err := strictJSON(raw, &im); err != nil {
		return nil, fmt.Errorf("%w: bedrock count tokens: input.invokeModel: %v", llm.ErrInvalid, err)
	}
	return invokeRequest(nil, im.Body, model)
}

// strictJSON decodes one JSON value into v, refusing unknown fields and
// trailing data.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}
