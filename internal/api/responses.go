package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"switchyard/internal/auth"
	"switchyard/internal/gateway"
	"switchyard/internal/llm"
	"switchyard/internal/route"
	"switchyard/internal/session"
	"switchyard/internal/sse"
	"switchyard/internal/store"
	"switchyard/internal/telemetry"
)

// The OpenAI Responses API, served by the gateway's own stateful runtime:
// history lives in the gateway's store and is rebuilt for whichever
// channel the router picks, so every turn of a conversation may run on a
// different cloud.

// responseRoutes registers the Responses and Conversations endpoints.
func (s *Server) responseRoutes(mux *http.ServeMux) {
	mux.Handle("POST /v1/responses", s.admit(dialectOpenAI, admitRequest, s.handleCreateResponse))
	mux.HandleFunc("GET /v1/responses/{id}", s.handleGetResponse)
	mux.HandleFunc("DELETE /v1/responses/{id}", s.handleDeleteResponse)
	mux.HandleFunc("GET /v1/responses/{id}/input_items", s.handleResponseInputItems)
	mux.HandleFunc("POST /v1/responses/{id}/cancel", s.handleCancelResponse)

	mux.HandleFunc("POST /v1/conversations", s.handleCreateConversation)
	mux.HandleFunc("GET /v1/conversations/{id}", s.handleGetConversation)
	mux.HandleFunc("POST /v1/conversations/{id}", s.handleUpdateConversation)
	mux.HandleFunc("DELETE /v1/conversations/{id}", s.handleDeleteConversation)
	mux.HandleFunc("GET /v1/conversations/{id}/items", s.handleListConversationItems)
	mux.HandleFunc("POST /v1/conversations/{id}/items", s.handleAddConversationItems)
	mux.HandleFunc("GET /v1/conversations/{id}/items/{item}", s.handleGetConversationItem)
	mux.HandleFunc("DELETE /v1/conversations/{id}/items/{item}", s.handleDeleteConversationItem)
}

// stateful authenticates a request to the stateful endpoints and returns
// the caller and the runtime, or writes the error and returns nil.
func (s *Server) stateful(w http.ResponseWriter, r *http.Request) (*auth.Principal, *session.Runtime) {
	p, err := s.authenticate(r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return nil, nil
	}
	if s.sessions == nil {
		writeError(w, r, dialectOpenAI, &apiError{Status: http.StatusNotImplemented, Type: typeInternal,
			Message: "This gateway runs without a session store, so the Responses and Conversations APIs are off."})
		return nil, nil
	}
	return p, s.sessions
}

// sessionError renders the runtime's errors in the OpenAI shape. param is
// the request member an unknown ID came from: previous_response_id and
// conversation when creating a response, after when listing.
func sessionError(err error, param string) error {
	var ie *session.InputError
	if errors.As(err, &ie) {
		return invalidParam(ie.Param, "%s", ie.Message)
	}
	var nf *session.NotFoundError
	if !errors.As(err, &nf) {
		return storeError(err)
	}
	e := &apiError{Status: http.StatusNotFound, Type: typeNotFound, Err: err}
	switch {
	case nf.Ancestor != "":
		e.Param, e.Code = param, "previous_response_not_found"
		e.Message = fmt.Sprintf("Previous response with id '%s' cannot be continued: the earlier response '%s' of its history was deleted or has expired.",
			nf.ID, nf.Ancestor)
	case param == "previous_response_id":
		e.Param, e.Code = param, "previous_response_not_found"
		e.Message = fmt.Sprintf("Previous response with id '%s' not found.", nf.ID)
	case param == "after" && nf.Kind == session.KindItem:
		e.Status, e.Type, e.Param = http.StatusBadRequest, typeInvalid, param
		e.Message = fmt.Sprintf("No item with id '%s' in this list.", nf.ID)
	default:
		if nf.Kind == session.KindConversation && param == "conversation" {
			e.Param = param
		}
		e.Message = fmt.Sprintf("No %s found with id '%s'.", nf.Kind, nf.ID)
	}
	return e
}

// storeError renders a failure of the store behind the session runtime:
// a conflict is the client's (409); anything else means the store did not
// answer, which a retry may fix (503). A request the client cancelled
// passes through.
func storeError(err error) error {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, store.ErrConflict):
		return &apiError{Status: http.StatusConflict, Type: typeInvalid, Message: "The request conflicts with stored state.", Err: err}
	}
	return &apiError{Status: http.StatusServiceUnavailable, Type: typeOverloaded, RetryAfter: time.Second,
		Message: "The conversation store is unavailable; retry shortly.", Err: err}
}

func (s *Server) handleCreateResponse(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	req, err := decodeResponsesRequest(body)
	if err == nil {
		err = s.checkModelName(req.Model, "model")
	}
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	if req.Stream {
		// Before the turn begins, so a refusal leaves no trace in the store.
		if err := takeStreamSlot(r); err != nil {
			writeError(w, r, dialectOpenAI, err)
			return
		}
	}
	settings, err := json.Marshal(req.Settings)
	if err != nil {
		writeError(w, r, dialectOpenAI, fmt.Errorf("encoding response settings: %w", err))
		return
	}
	turn := session.Turn{TenantID: p.Tenant.ID, Model: req.Model, PreviousResponseID: req.PreviousResponseID,
		ConversationID: req.ConversationID, Instructions: req.Instructions, Input: req.Input, Store: req.Store,
		Metadata: req.Metadata, Settings: settings}
	req.Base.Model = req.Model
	pend, err := rt.Begin(r.Context(), turn, &req.Base)
	if err != nil {
		param := "previous_response_id"
		if req.ConversationID != "" {
			param = "conversation"
		}
		writeError(w, r, dialectOpenAI, sessionError(err, param))
		return
	}
	call := s.call(r, p, req.Model, dialectOpenAI, "responses", body)
	if turn.Stateful() {
		call.Traffic = route.Stateful
	}
	t := &turnRun{s: s, rt: rt, req: req, pend: pend, call: call}
	if req.Stream {
		t.stream(w, r)
		return
	}
	t.respond(w, r)
}

// turnRun is one response being made.
type turnRun struct {
	s    *Server
	rt   *session.Runtime
	req  *responsesRequest
	pend *session.Pending
	call *gateway.Call
}

func (t *turnRun) builder(emit func(*streamEvent) error) *outputBuilder {
	return &outputBuilder{newItemID: t.rt.NewItemID, newCallID: t.rt.NewCallID, encrypted: t.req.EncryptedReasoning, emit: emit}
}

// finish records the outcome. The client's request may be over (a stream
// it abandoned), so the store write gets a context of its own.
func (t *turnRun) finish(r *http.Request, o session.Outcome) (*store.Response, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), finishTimeout)
	defer cancel()
	return t.rt.Finish(ctx, t.pend, o)
}

// finishTimeout bounds recording a finished turn.
const finishTimeout = 30 * time.Second

// respond serves a non-streamed response.
func (t *turnRun) respond(w http.ResponseWriter, r *http.Request) {
	resp, res, err := t.s.gw.Chat(r.Context(), t.call, t.pend.Request)
	setRouteHeaders(w, r, res)
	meterInfo(r, res)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	b := t.builder(nil)
	for _, ev := range llm.ResponseEvents(resp) {
		_ = b.Add(ev) // nothing is written, so nothing can fail
	}
	status, reason := outcomeOf(resp.FinishReason)
	items, _ := b.Close(itemStatus(status))
	stored, err := t.finish(r, session.Outcome{Status: status, IncompleteReason: reason, Output: items, Usage: resp.Usage})
	if err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, "conversation"))
		return
	}
	writeJSON(w, http.StatusOK, renderResponse(stored, &t.req.Settings))
}

// itemStatus is the status of the last output item of a response with the
// given status.
func itemStatus(responseStatus string) string {
	if responseStatus == store.ResponseCompleted {
		return store.ResponseCompleted
	}
	return store.ResponseIncomplete
}

// stream serves a streamed response: response.created and .in_progress,
// the items' events, and a terminal response.completed, .incomplete or
// .failed carrying the response as stored. Failures before the first
// event are plain JSON errors. A client that goes away cancels the
// upstream call, and what was produced is stored as an incomplete
// response.
func (t *turnRun) stream(w http.ResponseWriter, r *http.Request) {
	s := t.s
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	idle := time.AfterFunc(s.idle, func() { cancel(errStreamIdle) })
	defer idle.Stop()

	info := telemetry.InfoFrom(r.Context())
	info.Stream = true // the request's intent, even if it fails before its first byte
	st, res, err := s.gw.ChatStream(ctx, t.call, t.pend.Request)
	setRouteHeaders(w, r, res)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	streamOpened(r)
	defer st.Close()
	sw := sse.NewWriter(w)
	sw.Coalesce(st.Ready)
	w.WriteHeader(http.StatusOK)

	seq := 0
	emit := func(ev *streamEvent) error {
		ev.SequenceNumber = seq
		seq++
		data, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encoding %s event: %w", ev.Type, err)
		}
		return sw.Event(ev.Type, data)
	}
	p := t.pend
	live := &store.Response{ID: p.ResponseID, Model: t.req.Model, Status: "in_progress", CreatedAt: p.CreatedAt,
		PreviousResponseID: p.Turn.PreviousResponseID, ConversationID: p.Turn.ConversationID, Metadata: p.Turn.Metadata}
	obj := renderResponse(live, &t.req.Settings)
	if emit(&streamEvent{Type: "response.created", Response: obj}) != nil ||
		emit(&streamEvent{Type: "response.in_progress", Response: obj}) != nil {
		t.abandoned(r, t.builder(nil), info)
		return
	}
	b := t.builder(emit)
	for {
		ev, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if r.Context().Err() != nil {
				t.abandoned(r, b, info)
				return
			}
			if context.Cause(ctx) == errStreamIdle {
				err = &apiError{Status: http.StatusGatewayTimeout, Type: typeTimeout, Message: "The upstream stream went silent."}
			}
			t.failed(r, b, emit, info, err)
			meterInfo(r, res)
			return
		}
		idle.Reset(s.idle)
		if err := b.Add(ev); err != nil {
			t.abandoned(r, b, info)
			return
		}
	}
	meterInfo(r, res)
	status, reason := outcomeOf(b.finish)
	items, err := b.Close(itemStatus(status))
	if err != nil {
		t.abandoned(r, b, info)
		return
	}
	stored, err := t.finish(r, session.Outcome{Status: status, IncompleteReason: reason, Output: items, Usage: b.usage})
	if err != nil {
		e := classify(sessionError(err, "conversation"))
		info.ErrorKind = e.Type
		_ = emit(errorEvent(e))
		return
	}
	typ := "response.completed"
	if status == store.ResponseIncomplete {
		typ = "response.incomplete"
	}
	_ = emit(&streamEvent{Type: typ, Response: renderResponse(stored, &t.req.Settings)})
}

// abandoned records what a stream produced before its client went away:
// an incomplete response. Writing stops; the upstream is cancelled with the
// request's context.
func (t *turnRun) abandoned(r *http.Request, b *outputBuilder, info *telemetry.Info) {
	info.Status = 499
	b.emit = nil
	items, _ := b.Close(store.ResponseIncomplete)
	if _, err := t.finish(r, session.Outcome{Status: store.ResponseIncomplete, Output: items, Usage: b.usage}); err != nil {
		t.s.log.Warn("recording an abandoned response", "request_id", info.RequestID, "response_id", t.pend.ResponseID, "err", err)
	}
}

// failed ends a stream whose upstream failed after the first event: the
// response is stored as failed, with what it produced, and the client gets
// response.failed.
func (t *turnRun) failed(r *http.Request, b *outputBuilder, emit func(*streamEvent) error, info *telemetry.Info, cause error) {
	e := classify(cause)
	info.ErrorKind = e.Type
	items, err := b.Close(store.ResponseIncomplete)
	if err != nil {
		t.abandoned(r, b, info)
		return
	}
	code := "server_error"
	if e.Type == typeRateLimit {
		code = "rate_limit_exceeded"
	}
	stored, err := t.finish(r, session.Outcome{Status: store.ResponseFailed, Output: items, Usage: b.usage, ErrorCode: code, ErrorMessage: e.Message})
	if err != nil {
		t.s.log.Warn("recording a failed response", "request_id", info.RequestID, "response_id", t.pend.ResponseID, "err", err)
		_ = emit(errorEvent(e))
		return
	}
	_ = emit(&streamEvent{Type: "response.failed", Response: renderResponse(stored, &t.req.Settings)})
}

// errorEvent is the stream's "error" event for e.
func errorEvent(e *apiError) *streamEvent {
	ev := &streamEvent{Type: "error", Message: e.Message}
	code := e.Code
	if code == "" {
		code = openAIErrorType(e)
	}
	ev.Code = &code
	if e.Param != "" {
		ev.Param = &e.Param
	}
	return ev
}

// queryInclude reads the include[] query of a read endpoint and reports
// whether reasoning's encrypted content is asked for.
func queryInclude(r *http.Request) (bool, error) {
	q := r.URL.Query()
	encrypted := false
	for _, inc := range append(q["include[]"], q["include"]...) {
		switch inc {
		case includeEncryptedReasoning:
			encrypted = true
		case "message.input_image.image_url":
		default:
			return false, unsupportedParam("include", "include: %q is not supported", inc)
		}
	}
	return encrypted, nil
}

func (s *Server) handleGetResponse(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	if v := r.URL.Query().Get("stream"); v != "" && v != "false" {
		writeError(w, r, dialectOpenAI, unsupportedParam("stream", "stream: a stored response cannot be streamed again; retrieve it whole"))
		return
	}
	encrypted, err := queryInclude(r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	resp, err := rt.Response(r.Context(), p.Tenant.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, ""))
		return
	}
	settings, err := storedSettings(resp)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	if encrypted && !slices.Contains(settings.Include, includeEncryptedReasoning) {
		settings.Include = append(settings.Include, includeEncryptedReasoning)
	}
	writeJSON(w, http.StatusOK, renderResponse(resp, settings))
}

func (s *Server) handleDeleteResponse(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	id := r.PathValue("id")
	if err := rt.DeleteResponse(r.Context(), p.Tenant.ID, id); err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, ""))
		return
	}
	writeJSON(w, http.StatusOK, deleted{ID: id, Object: "response", Deleted: true})
}

// deleted acknowledges a deletion.
type deleted struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

func (s *Server) handleResponseInputItems(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	page, err := listPage(r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	encrypted, err := queryInclude(r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	items, more, err := rt.InputItems(r.Context(), p.Tenant.ID, r.PathValue("id"), page)
	if err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, "after"))
		return
	}
	writeJSON(w, http.StatusOK, renderItemList(items, more, encrypted))
}

// handleCancelResponse answers as the API does for a response that was not
// created in the background, which no response of this gateway is.
func (s *Server) handleCancelResponse(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	if _, err := rt.Response(r.Context(), p.Tenant.ID, r.PathValue("id")); err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, ""))
		return
	}
	writeError(w, r, dialectOpenAI, invalidParam("", "Only responses created with background set to true can be cancelled."))
}
