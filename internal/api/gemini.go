package api

import (
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
	"switchyard/internal/provider/gemini"
)

// The Google Gemini API front door serves generateContent,
// streamGenerateContent (SSE with alt=sse, a streamed JSON array without),
// countTokens, embedContent and batchEmbedContents at
// /v1beta/models/{model}:{method} (and /v1/), and the model list, for any
// model on any channel. The gateway key is the Gemini API key, in
// x-goog-api-key or ?key=. Errors are Google API errors:
// {"error":{"code","message","status"}} with the canonical status names.

const dialectGemini = "gemini"

// geminiVersions are the API versions the door answers under; the SDKs
// use v1beta unless told otherwise.
var geminiVersions = [...]string{"/v1beta", "/v1"}

// isGeminiPath reports whether a path can only be the Gemini API's:
// under /v1beta/, or /v1/models/{model}:{method} with one of its methods
// (an OpenAI fine-tuned model id has colons too, but no such suffix).
func isGeminiPath(p string) bool {
	if strings.HasPrefix(p, "/v1beta/") {
		return true
	}
	rest, ok := strings.CutPrefix(p, "/v1/models/")
	if !ok {
		return false
	}
	i := strings.LastIndexByte(rest, ':')
	return i > 0 && geminiMethod(rest[i+1:])
}

func geminiMethod(m string) bool {
	switch m {
	case "generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents":
		return true
	}
	return false
}

// isGeminiRequest reports whether a request is a Gemini client's: by its
// path, or, on the model list that OpenAI shares (GET /v1/models), by the
// key it sends.
func isGeminiRequest(r *http.Request) bool {
	if isGeminiPath(r.URL.Path) {
		return true
	}
	return strings.HasPrefix(r.URL.Path, "/v1/models") && (r.Header.Get("X-Goog-Api-Key") != "" || queryKey(r) != "")
}

// queryKey is the ?key= parameter, read without parsing the whole query.
func queryKey(r *http.Request) string {
	q := r.URL.RawQuery
	if !strings.Contains(q, "key=") {
		return ""
	}
	return r.URL.Query().Get("key")
}

func (s *Server) geminiRoutes(mux *http.ServeMux) {
	methods := map[string]http.Handler{
		"generateContent":       s.admit(dialectGemini, admitRequest, s.handleGeminiGenerate(false)),
		"streamGenerateContent": s.admit(dialectGemini, admitStream, s.handleGeminiGenerate(true)),
		"countTokens":           s.admit(dialectGemini, admitRequest, s.handleGeminiCountTokens),
		"embedContent":          s.admit(dialectGemini, admitRequest, s.handleGeminiEmbed(false)),
		"batchEmbedContents":    s.admit(dialectGemini, admitRequest, s.handleGeminiEmbed(true)),
	}
	// The method follows the model after a colon, inside the last path
	// segment, so one pattern takes them all.
	call := func(w http.ResponseWriter, r *http.Request) {
		target := r.PathValue("call")
		i := strings.LastIndexByte(target, ':')
		var h http.Handler
		if i > 0 {
			h = methods[target[i+1:]]
		}
		if h == nil {
			writeError(w, r, dialectGemini, &apiError{Status: http.StatusNotFound, Type: typeNotFound,
				Message: "Unknown endpoint " + r.Method + " " + r.URL.Path + "."})
			return
		}
		r.SetPathValue("model", target[:i])
		h.ServeHTTP(w, r)
	}
	for _, v := range geminiVersions {
		mux.HandleFunc("POST "+v+"/models/{call...}", call)
	}
	mux.HandleFunc("GET /v1beta/models", s.handleGeminiModels)
	mux.HandleFunc("GET /v1beta/models/{model...}", s.handleGeminiModel)
}

// geminiAuth resolves the Gemini API key, before the body is read.
func (s *Server) geminiAuth(r *http.Request) (*auth.Principal, error) {
	secret := r.Header.Get("X-Goog-Api-Key")
	if secret == "" {
		secret = queryKey(r)
	}
	if secret == "" {
		secret = bearer(r)
	}
	if secret == "" {
		return nil, &apiError{Status: http.StatusUnauthorized, Type: typeAuth,
			Message: "Missing API key. Send it as 'x-goog-api-key: <key>' or '?key=<key>'."}
	}
	p, err := s.auth.Authenticate(r.Context(), secret)
	if err != nil {
		e := authError(err)
		if e.Type == typeAuth {
			e.Message = "API key not valid. Please pass a valid API key."
			if errors.Is(err, auth.ErrRevoked) || errors.Is(err, auth.ErrExpired) || errors.Is(err, auth.ErrRotated) {
				e.Message = authError(err).Message
			}
		}
		return nil, e
	}
	notePrincipal(r, p)
	if e := s.checkSource(r, p); e != nil {
		return nil, e
	}
	return p, nil
}

// geminiModel reads the model of the path: "gemini-2.5-flash", as the
// SDKs send it after "models/".
func (s *Server) geminiModel(r *http.Request) (string, error) {
	model := r.PathValue("model")
	if err := s.checkModelName(model, "model"); err != nil {
		return "", err
	}
	if model == "" {
		return "", &apiError{Status: http.StatusBadRequest, Type: typeInvalid, Param: "model", Message: "model: required in the path (models/{model}:method)"}
	}
	return model, nil
}

// geminiCall is the start of every Gemini model call: the key (before the
// body is read), the model from the path, then the body. ok is false when
// one of them was refused, and the refusal is written.
func (s *Server) geminiCall(w http.ResponseWriter, r *http.Request) (p *auth.Principal, model string, body []byte, ok bool) {
	p, err := s.geminiAuth(r)
	if err == nil {
		model, err = s.geminiModel(r)
	}
	if err == nil {
		body, err = s.readBody(w, r)
	}
	if err != nil {
		writeError(w, r, dialectGemini, err)
		return nil, "", nil, false
	}
	return p, model, body, true
}

func (s *Server) handleGeminiGenerate(stream bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, model, body, ok := s.geminiCall(w, r)
		if !ok {
			return
		}
		cr, err := gemini.DecodeGenerateContentRequest(body)
		if err != nil {
			writeError(w, r, dialectGemini, err)
			return
		}
		req, err := gemini.RequestToLLM(cr, model)
		if err != nil {
			writeError(w, r, dialectGemini, err)
			return
		}
		req.Raw = &llm.Raw{Dialect: gemini.Dialect, Body: body}
		req.Stream = stream
		call := s.call(r, p, model, dialectGemini, "generateContent", body)
		if stream {
			s.streamGemini(w, r, call, req, model, r.URL.Query().Get("alt") == "sse")
			return
		}
		resp, res, err := s.gw.Chat(r.Context(), call, req)
		setRouteHeaders(w, r, res)
		meterInfo(r, res)
		if err != nil {
			writeError(w, r, dialectGemini, err)
			return
		}
		if resp.ID == "" {
			resp.ID = call.RequestID
		}
		out, err := gemini.ResponseFromLLM(resp, model)
		if err != nil {
			writeError(w, r, dialectGemini, &apiError{Status: http.StatusBadGateway, Type: typeUpstream,
				Message: "The upstream answer cannot be rendered for a Gemini client.", Err: err})
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// streamGemini serves streamGenerateContent: SSE data lines with alt=sse,
// otherwise one JSON array whose elements arrive as they are made.
func (s *Server) streamGemini(w http.ResponseWriter, r *http.Request, call *gateway.Call, req *llm.Request, model string, useSSE bool) {
	s.serveStream(w, r, call, req, func(w http.ResponseWriter, ready func() bool) func(string) streamSink {
		if useSSE {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		fw := flushWriter{w: w, rc: http.NewResponseController(w), ready: ready}
		return func(id string) streamSink {
			return &geminiSink{w: fw, enc: gemini.NewStreamEncoder(model, id), sse: useSSE}
		}
	})
}

// geminiSink writes a Gemini stream: each chunk as an SSE data line, or as
// the next element of a JSON array.
type geminiSink struct {
	w      flushWriter
	enc    *gemini.StreamEncoder
	sse    bool
	chunks int
}

func (k *geminiSink) Encode(ev llm.Event) error {
	chunks, err := k.enc.Encode(ev)
	if err != nil {
		return &encodeError{err: err}
	}
	for _, c := range chunks {
		if err := k.chunk(c); err != nil {
			return err
		}
	}
	return nil
}

func (k *geminiSink) chunk(c []byte) error {
	var frame []byte
	switch {
	case k.sse:
		frame = make([]byte, 0, len(c)+10)
		frame = append(append(append(frame, "data: "...), c...), "\r\n\r\n"...)
	case k.chunks == 0:
		frame = append([]byte("["), c...)
	default:
		frame = append([]byte(",\r\n"), c...)
	}
	k.chunks++
	_, err := k.w.Write(frame)
	return err
}

// Done closes the array; an SSE stream simply ends.
func (k *geminiSink) Done() error {
	if k.sse {
		return nil
	}
	end := "]"
	if k.chunks == 0 {
		end = "[]"
	}
	k.w.ready = nil // the last write is always flushed
	_, err := io.WriteString(k.w, end)
	return err
}

// Fail sends the error as the stream's next element, as the API does.
func (k *geminiSink) Fail(e *apiError) error {
	code, status := geminiStatus(e)
	b, _ := json.Marshal(geminiErrorBody(e, code, status))
	k.w.ready = nil
	if err := k.chunk(b); err != nil {
		return err
	}
	if !k.sse {
		_, err := io.WriteString(k.w, "]")
		return err
	}
	return nil
}

func (s *Server) handleGeminiCountTokens(w http.ResponseWriter, r *http.Request) {
	p, model, body, ok := s.geminiCall(w, r)
	if !ok {
		return
	}
	req, err := countTokensBody(body, model)
	if err != nil {
		writeError(w, r, dialectGemini, err)
		return
	}
	if _, ok := s.gw.Router().Catalog().Lookup(model); !ok {
		writeError(w, r, dialectGemini, geminiModelNotFound(model))
		return
	}
	n, err := s.countTokens(w, r, s.call(r, p, model, dialectGemini, "count_tokens", nil), req)
	if err != nil {
		writeError(w, r, dialectGemini, err)
		return
	}
	writeJSON(w, http.StatusOK, gemini.CountTokensResponse{TotalTokens: n})
}

// countTokensBody decodes a countTokens body: {"contents": [...]} or
// {"generateContentRequest": {...}} (whose "model" the SDKs fill in).
func countTokensBody(body []byte, model string) (*llm.Request, error) {
	ct, err := gemini.DecodeCountTokensRequest(body)
	if err != nil {
		return nil, err
	}
	inner := body
	switch {
	case len(ct.GenerateContentRequest) > 0 && len(ct.Contents) > 0:
		return nil, fmt.Errorf("%w: countTokens: send contents or generateContentRequest, not both", llm.ErrInvalid)
	case len(ct.GenerateContentRequest) > 0:
		var m map[string]json.RawMessage
		if err := json.Unmarshal(ct.GenerateContentRequest, &m); err != nil || m == nil {
			return nil, fmt.Errorf("%w: countTokens: generateContentRequest: want a JSON object", llm.ErrInvalid)
		}
		delete(m, "model")
		inner, _ = json.Marshal(m)
	}
	cr, err := gemini.DecodeGenerateContentRequest(inner)
	if err != nil {
		return nil, err
	}
	return gemini.RequestToLLM(cr, model)
}

// maxGeminiEmbedInputs bounds the requests of one batchEmbedContents, as
// the API does.
const maxGeminiEmbedInputs = 100

func (s *Server) handleGeminiEmbed(batch bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, model, body, ok := s.geminiCall(w, r)
		if !ok {
			return
		}
		req, err := embedBody(body, model, batch)
		if err != nil {
			writeError(w, r, dialectGemini, err)
			return
		}
		call := s.call(r, p, model, dialectGemini, "embeddings", body)
		resp, res, err := s.gw.Embed(r.Context(), call, req)
		setRouteHeaders(w, r, res)
		meterInfo(r, res)
		if err != nil {
			writeError(w, r, dialectGemini, err)
			return
		}
		if !batch {
			writeJSON(w, http.StatusOK, gemini.EmbedContentResponse{Embedding: gemini.ContentEmbedding{Values: resp.Vectors[0]}})
			return
		}
		out := gemini.BatchEmbedContentsResponse{Embeddings: make([]gemini.ContentEmbedding, len(resp.Vectors))}
		for i, v := range resp.Vectors {
			out.Embeddings[i].Values = v
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// embedBody decodes an embedContent or batchEmbedContents body. Every
// request of a batch names the path's model (or none) and asks for the
// same dimensionality, since the gateway makes one call.
func embedBody(body []byte, model string, batch bool) (*llm.EmbedRequest, error) {
	reqs, err := gemini.DecodeEmbedRequests(body, batch)
	if err != nil {
		return nil, err
	}
	switch {
	case len(reqs) == 0:
		return nil, fmt.Errorf("%w: requests: at least one request is required", llm.ErrInvalid)
	case len(reqs) > maxGeminiEmbedInputs:
		return nil, fmt.Errorf("%w: requests: at most %d requests in one batch", llm.ErrInvalid, maxGeminiEmbedInputs)
	}
	out := &llm.EmbedRequest{Model: model, Inputs: make([]string, len(reqs)), Dimensions: reqs[0].OutputDimensionality}
	for i, e := range reqs {
		at := "request"
		if batch {
			at = "requests[" + strconv.Itoa(i) + "]"
		}
		if m := strings.TrimPrefix(e.Model, "models/"); m != "" && m != model {
			return nil, fmt.Errorf("%w: %s.model: %q is not the model of the path (%q)", llm.ErrInvalid, at, e.Model, model)
		}
		if e.OutputDimensionality != out.Dimensions {
			return nil, fmt.Errorf("%w: %s.outputDimensionality: every request of a batch must ask for the same", llm.ErrUnsupported, at)
		}
		text, err := e.EmbedText(at)
		if err != nil {
			return nil, err
		}
		out.Inputs[i] = text
	}
	return out, nil
}

// geminiModelInfo is a Model resource.
type geminiModelInfo struct {
	Name                       string   `json:"name"`
	BaseModelID                string   `json:"baseModelId"`
	Version                    string   `json:"version"`
	DisplayName                string   `json:"displayName"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
}

func geminiModel(name string) geminiModelInfo {
	return geminiModelInfo{Name: "models/" + name, BaseModelID: name, Version: "001", DisplayName: name,
		SupportedGenerationMethods: []string{"generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents"}}
}

func (s *Server) handleGeminiModels(w http.ResponseWriter, r *http.Request) {
	if _, err := s.geminiAuth(r); err != nil {
		writeError(w, r, dialectGemini, err)
		return
	}
	models := []geminiModelInfo{}
	for _, m := range s.gw.Router().Catalog().Models() {
		models = append(models, geminiModel(m.Name))
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
}

func (s *Server) handleGeminiModel(w http.ResponseWriter, r *http.Request) {
	if _, err := s.geminiAuth(r); err != nil {
		writeError(w, r, dialectGemini, err)
		return
	}
	name, err := s.geminiModel(r)
	if err != nil {
		writeError(w, r, dialectGemini, err)
		return
	}
	m, ok := s.gw.Router().Catalog().Lookup(name)
	if !ok {
		writeError(w, r, dialectGemini, geminiModelNotFound(name))
		return
	}
	writeJSON(w, http.StatusOK, geminiModel(m.Name))
}

func geminiModelNotFound(name string) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: typeNotFound, Code: "model_not_found", Param: "model",
		Message: "models/" + name + " is not found for API version v1beta, or is not supported for generateContent."}
}

// geminiStatus names e as a Google API error: HTTP code and canonical
// status.
func geminiStatus(e *apiError) (int, string) {
	switch e.Type {
	case typeAuth:
		return http.StatusUnauthorized, gemini.StatusUnauthenticated
	case typePermission:
		return http.StatusForbidden, gemini.StatusPermissionDenied
	case typeNotFound:
		return http.StatusNotFound, gemini.StatusNotFound
	case typeRateLimit:
		return http.StatusTooManyRequests, gemini.StatusResourceExhausted
	case typeOverloaded:
		return http.StatusServiceUnavailable, gemini.StatusUnavailable
	case typeTimeout:
		return http.StatusGatewayTimeout, gemini.StatusDeadlineExceeded
	case typeTooLarge:
		return e.Status, gemini.StatusInvalidArgument
	case typeUnprocessed:
		return e.Status, gemini.StatusFailedPrecondition
	case typeUpstream, typeInternal:
		switch e.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable:
			return e.Status, gemini.StatusUnavailable
		case http.StatusGatewayTimeout:
			return e.Status, gemini.StatusDeadlineExceeded
		}
		return http.StatusInternalServerError, gemini.StatusInternal
	}
	switch e.Status {
	case http.StatusNotImplemented:
		return e.Status, gemini.StatusUnimplemented
	case http.StatusRequestTimeout, http.StatusHTTPVersionNotSupported:
		return e.Status, gemini.StatusInvalidArgument
	}
	return http.StatusBadRequest, gemini.StatusInvalidArgument
}

// geminiErrorBody is e as a Google API error; a retryable refusal carries
// a RetryInfo detail, as the API's do.
func geminiErrorBody(e *apiError, code int, status string) gemini.ErrorResponse {
	body := gemini.ErrorBody(code, status, e.Message)
	if e.RetryAfter > 0 && !e.NoRetry {
		secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
		d, _ := json.Marshal(map[string]string{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": strconv.FormatInt(secs, 10) + "s"})
		body.Error.Details = append(body.Error.Details, d)
	}
	return body
}

// writeGeminiError renders e, already classified, as a Google API error.
func writeGeminiError(w http.ResponseWriter, e *apiError) {
	code, status := geminiStatus(e)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(geminiErrorBody(e, code, status))
}
