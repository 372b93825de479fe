package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"switchyard/internal/gateway"
	"switchyard/internal/llm"
	"switchyard/internal/provider/openai"
	"switchyard/internal/sse"
	"switchyard/internal/telemetry"
)

func (s *Server) handleChatCompletions(w http.ResponseWriter, r *http.Request) {
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
	cr, err := openai.DecodeChatRequest(body)
	if err == nil {
		err = s.checkModelName(cr.Model, "model")
	}
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	req, err := openai.RequestToLLM(cr)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	if cr.Model == "" {
		writeError(w, r, dialectOpenAI, &apiError{Status: http.StatusBadRequest, Type: typeInvalid, Param: "model",
			Message: "you must provide a model parameter"})
		return
	}
	req.Raw = &llm.Raw{Dialect: "openai.chat", Body: body}
	call := s.call(r, p, cr.Model, dialectOpenAI, "chat", body)
	created := s.now()
	if !req.Stream {
		resp, res, err := s.gw.Chat(r.Context(), call, req)
		setRouteHeaders(w, r, res)
		meterInfo(r, res)
		if err != nil {
			writeError(w, r, dialectOpenAI, err)
			return
		}
		if head, tail, ok := sameDialectAnswer(resp); ok {
			model, _ := json.Marshal(cr.Model)
			writeBody(w, http.StatusOK, "application/json", head, model, tail)
			return
		}
		writeJSON(w, http.StatusOK, openai.ResponseFromLLM(resp, cr.Model, created))
		return
	}
	// The codec keeps only the model name: the decoded request (a copy of
	// the prompt) is not kept alive for the stream's life.
	includeUsage := cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage
	model := cr.Model
	s.streamChat(w, r, call, req, func(id string) streamCodec {
		enc := openai.NewStreamEncoder(id, model, created, includeUsage)
		return openAICodec{enc}
	})
}

// sameDialectAnswer is the same-dialect fast path's answer: the OpenAI
// channel's own bytes, with the client's model name in place of the
// upstream's. The answer was decoded all the same (usage, and the
// gateway's checks on it), and one with tool calls takes the full path,
// which renders their arguments in the one form every dialect shares
// (llm.ObjectArguments).
func sameDialectAnswer(resp *llm.Response) (head, tail []byte, ok bool) {
	if resp.Raw == nil || resp.Raw.Dialect != openai.RawDialectChat {
		return nil, nil, false
	}
	for _, p := range resp.Message.Parts {
		if p.Kind == llm.PartToolCall {
			return nil, nil, false
		}
	}
	return openai.AnswerModel(resp.Raw.Body)
}

// streamCodec encodes one dialect's stream; streamChat drives it.
type streamCodec interface {
	// Encode writes the frames for one event.
	Encode(sw *sse.Writer, ev llm.Event) error
	// Done writes the frames that end a successful stream.
	Done(sw *sse.Writer) error
	// Fail writes a mid-stream error in the dialect's shape.
	Fail(sw *sse.Writer, e *apiError) error
}

type openAICodec struct{ enc *openai.StreamEncoder }

func (c openAICodec) Encode(sw *sse.Writer, ev llm.Event) error {
	frames, err := c.enc.Encode(ev)
	if err != nil {
		return err
	}
	return dataEvents(sw, frames)
}

func (c openAICodec) Done(sw *sse.Writer) error { return dataEvents(sw, c.enc.Done()) }

// dataEvents writes each frame as an unnamed SSE event, as OpenAI's
// Chat Completions and Completions streams carry them.
func dataEvents(sw *sse.Writer, frames [][]byte) error {
	for _, f := range frames {
		if err := sw.Event("", f); err != nil {
			return err
		}
	}
	return nil
}

func (c openAICodec) Fail(sw *sse.Writer, e *apiError) error {
	code := e.Code
	return sw.Event("", openai.ErrorChunk(e.Message, openAIErrorType(e), code))
}

// streamChat serves a streamed chat request in any SSE dialect, through
// serveStream.
func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, call *gateway.Call, req *llm.Request, newCodec func(id string) streamCodec) {
	s.serveStream(w, r, call, req, func(w http.ResponseWriter, ready func() bool) func(id string) streamSink {
		sw := sse.NewWriter(w)
		sw.Coalesce(ready)
		w.WriteHeader(http.StatusOK)
		return func(id string) streamSink {
			k := sseSink{sw: sw, codec: newCodec(id)}
			if _, ok := k.codec.(keepAliveCodec); ok {
				return keepAliveSink{k}
			}
			return k
		}
	})
}

// streamSink writes one dialect's stream to the client.
type streamSink interface {
	// Encode writes the frames for one event. An error wrapping
	// *encodeError means the event cannot be expressed in the dialect;
	// any other error means the client is gone.
	Encode(ev llm.Event) error
	// Done writes the frames that end a successful stream.
	Done() error
	// Fail writes a mid-stream error in the dialect's shape.
	Fail(e *apiError) error
}

// keepAliver is a sink whose dialect has an event that only tells the
// client the stream is alive (Anthropic's ping).
type keepAliver interface {
	KeepAlive() error
}

// encodeError is an event a dialect's encoder refused.
type encodeError struct{ err error }

func (e *encodeError) Error() string { return e.err.Error() }
func (e *encodeError) Unwrap() error { return e.err }

// sseSink adapts an SSE dialect's codec to a streamSink.
type sseSink struct {
	sw    *sse.Writer
	codec streamCodec
}

func (k sseSink) Encode(ev llm.Event) error { return k.codec.Encode(k.sw, ev) }
func (k sseSink) Done() error               { return k.codec.Done(k.sw) }
func (k sseSink) Fail(e *apiError) error    { return k.codec.Fail(k.sw, e) }

// keepAliveCodec is a streamCodec with a keep-alive event.
type keepAliveCodec interface {
	KeepAlive(sw *sse.Writer) error
}

// keepAliveSink is an sseSink whose codec has a keep-alive event.
type keepAliveSink struct{ sseSink }

func (k keepAliveSink) KeepAlive() error { return k.codec.(keepAliveCodec).KeepAlive(k.sw) }

// serveStream serves a streamed request in any dialect: errors before the
// first event are plain errors with their status; after it, an error in
// the dialect's stream shape ends the stream cleanly. A silent upstream is
// cut after the idle timeout; a client that goes away cancels the
// upstream. A sink with a keep-alive event (keepAliver) sends one each
// time the stream has been quiet for the keep-alive interval, so that
// proxies and clients with read timeouts hold on while a model thinks.
// start writes the response headers and returns the sink factory, called
// once with the stream's id. The sink flushes each event to the client
// unless ready (the stream's Ready) reports that the next one is already
// at hand: a fast upstream's events, arriving many to a read, go out in
// as few writes, while an event that has to wait on the upstream is never
// held back. The keep-alive and the final frames are always flushed.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, call *gateway.Call, req *llm.Request, start func(w http.ResponseWriter, ready func() bool) func(id string) streamSink) {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	idle := time.AfterFunc(s.idle, func() { cancel(errStreamIdle) })
	defer idle.Stop()

	// mu serializes the writes of this loop and of the keep-alive timer's
	// callback; once ended is set, the callback writes nothing more, so no
	// write outlives the handler.
	var (
		mu    sync.Mutex
		ended bool
		keep  *time.Timer
		last  time.Time // of the latest write
		// coalesce is set while the loop writes an event: only then may
		// the sink ask the stream whether its next event is ready, from
		// the goroutine that reads the stream (the keep-alive timer's
		// writes are always flushed).
		coalesce bool
	)
	end := func() {
		mu.Lock()
		defer mu.Unlock()
		ended = true
		if keep != nil {
			keep.Stop()
		}
	}
	defer end()
	// locked runs a write to the client under mu and restarts the
	// keep-alive wait.
	locked := func(write func() error) error {
		mu.Lock()
		defer mu.Unlock()
		err := write()
		last = time.Now()
		if keep != nil {
			keep.Reset(s.keepAlive)
		}
		return err
	}

	// The access log records the request's intent, also for a stream
	// that fails before its first byte.
	info := telemetry.InfoFrom(r.Context())
	info.Stream = true
	if err := takeStreamSlot(r); err != nil {
		writeError(w, r, call.Dialect, err)
		return
	}
	st, res, err := s.gw.ChatStream(ctx, call, req)
	setRouteHeaders(w, r, res)
	if err != nil {
		writeError(w, r, call.Dialect, err)
		return
	}
	streamOpened(r)
	defer st.Close()
	// ready runs under mu.
	ready := func() bool { return coalesce && st.Ready() }
	newSink := start(w, ready)
	var sink streamSink
	// sinkFor runs under mu.
	sinkFor := func(id string) streamSink {
		if sink == nil {
			if id == "" {
				id = call.RequestID
			}
			sink = newSink(id)
			if ka, ok := sink.(keepAliver); ok && s.keepAlive > 0 {
				keep = time.AfterFunc(s.keepAlive, func() {
					mu.Lock()
					defer mu.Unlock()
					if ended {
						return
					}
					// A write may have happened while this call waited for mu.
					if wait := s.keepAlive - time.Since(last); wait > 0 {
						keep.Reset(wait)
						return
					}
					if err := ka.KeepAlive(); err != nil {
						return // the client is gone; the loop sees it at its next write
					}
					last = time.Now()
					keep.Reset(s.keepAlive)
				})
			}
		}
		return sink
	}
	fail := func(err error) {
		e := classify(err)
		info.ErrorKind = e.Type
		_ = locked(func() error { return sinkFor("").Fail(e) })
	}
	// failed ends the stream on a read error: nothing more for a client
	// that went away, the dialect's error event otherwise.
	failed := func(err error) {
		if r.Context().Err() != nil {
			info.Status = 499
			return
		}
		if context.Cause(ctx) == errStreamIdle {
			err = &apiError{Status: http.StatusGatewayTimeout, Type: typeTimeout, Message: "The upstream stream went silent."}
		}
		fail(err)
	}
	if st.RawDialect() != "" {
		// The same-dialect passthrough: the upstream's bytes, a read at
		// a time, in one write and one flush each. A writer that cannot
		// flush is written to all the same, as sse.Writer does.
		rc := http.NewResponseController(w)
		for {
			data, err := st.NextRaw()
			if len(data) > 0 {
				idle.Reset(s.idle)
				if werr := locked(func() error {
					if _, err := w.Write(data); err != nil {
						return err
					}
					if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
						return err
					}
					return nil
				}); werr != nil {
					info.Status = 499
					break
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				failed(err)
				break
			}
		}
		end()
		meterInfo(r, res)
		return
	}
	for {
		ev, err := st.Next()
		if errors.Is(err, io.EOF) {
			_ = locked(func() error { return sinkFor("").Done() })
			break
		}
		if err != nil {
			failed(err)
			break
		}
		idle.Reset(s.idle)
		if err := locked(func() error {
			coalesce = true
			defer func() { coalesce = false }()
			return sinkFor(ev.ID).Encode(ev)
		}); err != nil {
			var ee *encodeError
			if errors.As(err, &ee) {
				s.log.Error("encoding stream", "request_id", call.RequestID, "dialect", call.Dialect, "err", ee.err)
				fail(ee.err)
				break
			}
			info.Status = 499
			break
		}
	}
	end() // nothing follows the stream's last event
	meterInfo(r, res)
}

var errStreamIdle = errors.New("stream idle timeout")

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
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
	er, err := openai.DecodeEmbeddingRequest(body)
	if err == nil {
		err = s.checkModelName(er.Model, "model")
	}
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	req, err := openai.EmbeddingRequestToLLM(er)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	req.Raw = &llm.Raw{Dialect: "openai.embeddings", Body: body}
	call := s.call(r, p, er.Model, dialectOpenAI, "embeddings", body)
	resp, res, err := s.gw.Embed(r.Context(), call, req)
	setRouteHeaders(w, r, res)
	meterInfo(r, res)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	format := er.EncodingFormat
	if format == "" {
		format = "float"
	}
	writeJSON(w, http.StatusOK, openai.EmbeddingResponseFromLLM(resp, er.Model, format))
}

type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	if dialectFor(r) == dialectGemini {
		s.handleGeminiModels(w, r)
		return
	}
	if _, err := s.authenticate(r); err != nil {
		writeError(w, r, dialectFor(r), err)
		return
	}
	if dialectFor(r) == dialectAnthropic {
		s.handleAnthropicModels(w, r)
		return
	}
	data := []openAIModel{}
	for _, m := range s.gw.Router().Catalog().Models() {
		data = append(data, openAIModel{ID: m.Name, Object: "model", Created: modelEpoch, OwnedBy: "switchyard"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	if dialectFor(r) == dialectGemini {
		s.handleGeminiModel(w, r)
		return
	}
	if _, err := s.authenticate(r); err != nil {
		writeError(w, r, dialectFor(r), err)
		return
	}
	id := r.PathValue("model")
	if err := s.checkModelName(id, "model"); err != nil {
		writeError(w, r, dialectFor(r), err)
		return
	}
	m, ok := s.gw.Router().Catalog().Lookup(id)
	if !ok {
		writeError(w, r, dialectFor(r), &apiError{Status: http.StatusNotFound, Type: typeNotFound, Code: "model_not_found", Param: "model",
			Message: "The model '" + id + "' does not exist or you do not have access to it."})
		return
	}
	if dialectFor(r) == dialectAnthropic {
		writeJSON(w, http.StatusOK, anthropicModel(m.Name))
		return
	}
	writeJSON(w, http.StatusOK, openAIModel{ID: id, Object: "model", Created: modelEpoch, OwnedBy: "switchyard"})
}

// modelEpoch is the fixed "created" time reported for configured models
// (2024-01-01), since a configured name has no creation date of its own.
const modelEpoch = 1704067200

// writeBody writes a whole answer made of pieces, with its length, so
// that the server sends it without chunked framing and, when it fits the
// server's buffer, in one write.
func writeBody(w http.ResponseWriter, status int, contentType string, pieces ...[]byte) {
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	// Both values in one allocation, under keys already canonical.
	h := w.Header()
	vals := []string{contentType, strconv.Itoa(n)}
	h["Content-Type"], h["Content-Length"] = vals[0:1:1], vals[1:2:2]
	w.WriteHeader(status)
	for _, p := range pieces {
		if _, err := w.Write(p); err != nil {
			return
		}
	}
}

// writeJSON writes v as a whole JSON answer, with its length (see
// writeBody).
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := jsonBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledJSON {
			jsonBuffers.Put(buf)
		}
	}()
	// Our answer types always encode; were one not to, the client would
	// get what was encoded before the error, as it would from a stream.
	_ = json.NewEncoder(buf).Encode(v)
	writeBody(w, status, "application/json", buf.Bytes())
}

// jsonBuffers hold answers being encoded; one that grew past
// maxPooledJSON is left to the collector rather than kept.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledJSON = 64 << 10
