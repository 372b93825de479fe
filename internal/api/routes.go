package api

import (
	"context"
	"net/http"
	"time"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)

	// OpenAI.
	mux.Handle("POST /v1/chat/completions", s.admit(dialectOpenAI, admitRequest, s.handleChatCompletions))
	mux.Handle("POST /v1/completions", s.admit(dialectOpenAI, admitRequest, s.handleCompletions))
	mux.Handle("POST /v1/embeddings", s.admit(dialectOpenAI, admitRequest, s.handleEmbeddings))
	mux.HandleFunc("GET /v1/models", s.handleModels)
	mux.HandleFunc("GET /v1/models/{model...}", s.handleModel)

	// Anthropic.
	mux.Handle("POST /v1/messages", s.admit(dialectAnthropic, admitRequest, s.handleMessages))
	mux.Handle("POST /v1/messages/count_tokens", s.admit(dialectAnthropic, admitRequest, s.handleCountTokens))

	// Amazon Bedrock Runtime. {modelId} is one escaped segment, so an ARN
	// sent with %2F stays whole.
	mux.Handle("POST /model/{modelId}/converse", s.admit(dialectBedrock, admitRequest, s.handleBedrock(opConverse)))
	mux.Handle("POST /model/{modelId}/converse-stream", s.admit(dialectBedrock, admitStream, s.handleBedrock(opConverseStream)))
	mux.Handle("POST /model/{modelId}/invoke", s.admit(dialectBedrock, admitRequest, s.handleBedrock(opInvoke)))
	mux.Handle("POST /model/{modelId}/invoke-with-response-stream", s.admit(dialectBedrock, admitStream, s.handleBedrock(opInvokeStream)))
	mux.Handle("POST /model/{modelId}/count-tokens", s.admit(dialectBedrock, admitRequest, s.handleBedrockCountTokens))

	// Google Gemini API.
	s.geminiRoutes(mux)

	// OpenAI Responses and Conversations, on the gateway's own state.
	s.responseRoutes(mux)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, dialectFor(r), &apiError{Status: http.StatusNotFound, Type: typeNotFound,
			Message: "Unknown endpoint " + r.Method + " " + r.URL.Path + "."})
	})
	return withRequestID(mux)
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	if err := s.ready(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable","reason":"store unreachable"}` + "\n"))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
}
