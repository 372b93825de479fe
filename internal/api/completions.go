package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"switchyard/internal/llm"
	"switchyard/internal/provider/openai"
	"switchyard/internal/sse"
)

// nativeCompletions are the channel types that serve the legacy
// Completions API themselves; a request goes to them as sent.
var nativeCompletions = []string{"openai", "azure", "openai-compatible"}

// handleCompletions serves the legacy POST /v1/completions on channels
// that serve it natively, through the same pipeline as chat (keys,
// limits, budgets, routing and fallback, metrics, ledger, access log). A
// model with no such channel is refused with a 400 that names its
// channels; a model with some is routed among those only, the others
// refusing the request as one they cannot carry.
func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	cr, req, err := openai.DecodeCompletionRequest(body)
	if err == nil {
		err = s.checkModelName(cr.Model, "model")
	}
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	if cr.Model == "" {
		writeError(w, r, dialectOpenAI, &apiError{Status: http.StatusBadRequest, Type: typeInvalid, Param: "model",
			Message: "you must provide a model parameter"})
		return
	}
	if e := s.completionsRefusal(cr.Model); e != nil {
		writeError(w, r, dialectOpenAI, e)
		return
	}
	call := s.call(r, p, cr.Model, dialectOpenAI, "completions", body)
	created := s.now()
	if !req.Stream {
		resp, res, err := s.gw.Chat(r.Context(), call, req)
		setRouteHeaders(w, r, res)
		meterInfo(r, res)
		if err != nil {
			writeError(w, r, dialectOpenAI, err)
			return
		}
		// The channel's own answer, with the client's model name.
		if resp.Raw != nil && resp.Raw.Dialect == openai.RawDialectCompletions {
			if head, tail, ok := openai.AnswerModel(resp.Raw.Body); ok {
				model, _ := json.Marshal(cr.Model)
				writeBody(w, http.StatusOK, "application/json", head, model, tail)
				return
			}
		}
		writeError(w, r, dialectOpenAI, &apiError{Status: http.StatusBadGateway, Type: typeUpstream,
			Message: "The channel's completion could not be passed on."})
		return
	}
	includeUsage := cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage
	model := cr.Model
	s.streamChat(w, r, call, req, func(id string) streamCodec {
		return completionsCodec{openai.NewCompletionStreamEncoder(id, model, created, includeUsage)}
	})
}

// completionsRefusal is the error for a model none of whose channels
// serves the Completions API, naming them; nil when one does or the model
// is unknown (which the gateway reports as for chat).
func (s *Server) completionsRefusal(model string) *apiError {
	m, ok := s.gw.Router().Catalog().Lookup(model)
	if !ok {
		return nil
	}
	var others []string
	for _, o := range m.Offerings {
		if slices.Contains(nativeCompletions, o.ProviderType) {
			return nil
		}
		others = append(others, fmt.Sprintf("%s (%s)", o.Provider, o.ProviderType))
	}
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalid, Param: "model",
		Message: fmt.Sprintf("The model '%s' is served by channels that do not support the legacy Completions API: %s. "+
			"It is served on OpenAI, Azure OpenAI and OpenAI-compatible channels only; use /v1/chat/completions.", model, strings.Join(others, ", "))}
}

// completionsCodec writes a stream as Completions chunks.
type completionsCodec struct {
	enc *openai.CompletionStreamEncoder
}

func (c completionsCodec) Encode(sw *sse.Writer, ev llm.Event) error {
	return dataEvents(sw, c.enc.Encode(ev))
}

func (c completionsCodec) Done(sw *sse.Writer) error { return dataEvents(sw, c.enc.Done()) }

func (c completionsCodec) Fail(sw *sse.Writer, e *apiError) error {
	return sw.Event("", openai.ErrorChunk(e.Message, openAIErrorType(e), e.Code))
}
