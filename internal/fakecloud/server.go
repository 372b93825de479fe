package fakecloud

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Cloud names, as SetFaults and Record use them.
const (
	cloudOpenAI    = "openai"
	cloudAzure     = "azure"
	cloudAnthropic = "anthropic"
	cloudBedrock   = "bedrock"
	cloudGemini    = "gemini"
	cloudVertex    = "vertex"
)

// knownCloud reports whether name is one of the simulated clouds.
func knownCloud(name string) bool {
	switch name {
	case cloudOpenAI, cloudAzure, cloudAnthropic, cloudBedrock, cloudGemini, cloudVertex:
		return true
	}
	return false
}

const (
	// DefaultKey is the API key every cloud accepts when Options.Key is
	// empty.
	DefaultKey = "fake-key"
	// DefaultAWSAccessKeyID and DefaultAWSSecretAccessKey are the AWS
	// credentials Bedrock verifies SigV4 signatures with by default.
	DefaultAWSAccessKeyID     = "AKIDFAKECLOUD"
	DefaultAWSSecretAccessKey = "fake-secret"

	// maxRecords bounds the records kept in memory.
	maxRecords = 10000
	// maxCacheEntries bounds the simulated prompt cache.
	maxCacheEntries = 10000
	// maxBody bounds a request body, as the clouds do (Anthropic: 32 MB).
	maxBody = 32 << 20
)

// Options configures a Server. The zero value is ready to use.
type Options struct {
	// Key is the API key every cloud accepts; Bedrock also accepts it as a
	// bearer API key. Default DefaultKey.
	Key string
	// AWSAccessKeyID and AWSSecretAccessKey are the credentials Bedrock
	// verifies SigV4 signatures with. Defaults DefaultAWSAccessKeyID and
	// DefaultAWSSecretAccessKey.
	AWSAccessKeyID, AWSSecretAccessKey string
	// ServiceAccounts are the Google service accounts, by client email,
	// whose signed assertions the Vertex token endpoint accepts. Empty
	// accepts any well-formed assertion, for a demo's generated key.
	ServiceAccounts map[string]*rsa.PublicKey
	// Faults apply to every cloud unless SetFaults overrides them.
	Faults Faults
	// Record, if set, receives one JSON line (a Record) per received
	// request, written when the request is done.
	Record io.Writer
	// Seed seeds the random draws of fault injection, so that a sequence of
	// requests meets the same faults every run.
	Seed int64
	// Now is the clock for timestamps and SigV4 clock-skew checks. Default
	// time.Now.
	Now func() time.Time
}

// Faults describes the misbehaviour a cloud simulates. FailRate, HangRate,
// ThrottleRate and CutBeforeContent share one random draw per request:
// their rates add up, and a request meets at most one of them.
type Faults struct {
	// Latency is waited before the first byte of every answer.
	Latency time.Duration
	// TokensPerSecond paces streamed output tokens; 0 streams as fast as
	// possible. A non-streamed answer waits the time its stream would take.
	TokensPerSecond float64
	// FailRate is the fraction of requests, in [0, 1], answered with
	// FailStatus (default 500) in the cloud's own error shape; a 429 also
	// carries RetryAfter.
	FailRate   float64
	FailStatus int
	// HangRate is the fraction of requests that are never answered: they
	// block until the client goes away.
	HangRate float64
	// CutStreamAfter closes streams abruptly after that many content events
	// (text, thinking or tool-argument deltas), with no final event; 0
	// never cuts. Bedrock sends an exception frame before closing, as its
	// event stream does.
	CutStreamAfter int
	// ThrottleRate is the fraction of requests answered 429 in the cloud's
	// own error shape, as when its quota is spent; it lets rate limits mix
	// with FailRate's other status.
	ThrottleRate float64
	// RetryAfter is the wait a 429 asks for. It is sent in Retry-After in
	// whole seconds, rounded up, and by OpenAI and Azure, as they do, in
	// retry-after-ms too. Default: 1s.
	RetryAfter time.Duration
	// CutBeforeContent is the fraction of requests whose connection is
	// closed right after the response headers, before any body: a stream
	// ends before its first event, a JSON answer before its first byte.
	CutBeforeContent float64
	// AnswerTokens pads every plain text answer with filler words up to
	// that many output tokens (within the request's max-tokens limit), so
	// that a benchmark can ask for a long answer, or a stream of a known
	// number of chunks, without a long prompt; 0 leaves answers as they
	// are. Tool calls, JSON answers and answers cut by a stop sequence or
	// the token limit are not padded.
	AnswerTokens int
}

// Record describes one request the Server received.
type Record struct {
	Time time.Time `json:"time"`
	// Cloud is the cloud the path belongs to; empty for unknown prefixes.
	Cloud  string `json:"cloud"`
	Method string `json:"method"`
	// Path is the escaped path as received.
	Path string `json:"path"`
	// Model is the model the request named (Azure: the deployment; Bedrock
	// and Gemini: from the path), when it could be read.
	Model  string `json:"model,omitempty"`
	Stream bool   `json:"stream,omitempty"`
	// Status is the HTTP status answered; 499 when the client went away
	// before an answer.
	Status int `json:"status"`
	// Traceparent and Tracestate are the W3C trace context headers the
	// request carried (at most 512 bytes each are kept), so that a test
	// can tell that a trace reached the cloud.
	Traceparent string `json:"traceparent,omitempty"`
	Tracestate  string `json:"tracestate,omitempty"`
	// Body is the request body as received. A body that is not JSON is
	// kept as a JSON string.
	Body json.RawMessage `json:"body,omitempty"`
}

// Server serves every simulated cloud. It is safe for concurrent use.
type Server struct {
	key        string
	awsKeyID   string
	awsSecret  string
	now        func() time.Time
	mux        *http.ServeMux
	recordSink io.Writer
	// serviceAccounts is Options.ServiceAccounts.
	serviceAccounts map[string]*rsa.PublicKey

	mu       sync.Mutex
	faults   Faults
	perCloud map[string]Faults
	rng      *rand.Rand
	records  []Record
	next     int // ring index of the next record once records is full
	seq      uint64
	cache    map[string]bool
	cacheLog []string
	// vertexTokens are the access tokens issued, with their expiry;
	// vertexTokenLog orders them for eviction.
	vertexTokens   map[string]time.Time
	vertexTokenLog []string
}

// New returns a Server for the options.
func New(o Options) *Server {
	s := &Server{
		key:        o.Key,
		awsKeyID:   o.AWSAccessKeyID,
		awsSecret:  o.AWSSecretAccessKey,
		now:        o.Now,
		recordSink: o.Record,
		faults:     o.Faults,
		perCloud:   map[string]Faults{},
		rng:        rand.New(rand.NewPCG(uint64(o.Seed), 0x66616b65636c6f75)),
		cache:      map[string]bool{},

		serviceAccounts: o.ServiceAccounts,
		vertexTokens:    map[string]time.Time{},
	}
	if s.key == "" {
		s.key = DefaultKey
	}
	if s.awsKeyID == "" {
		s.awsKeyID = DefaultAWSAccessKeyID
	}
	if s.awsSecret == "" {
		s.awsSecret = DefaultAWSSecretAccessKey
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.mux = http.NewServeMux()
	s.routes()
	return s
}

// routes registers every endpoint. Each prefix has a catch-all that
// answers 404 in the cloud's shape.
func (s *Server) routes() {
	m := s.mux
	m.Handle("POST /openai/v1/chat/completions", s.endpoint(cloudOpenAI, s.openaiChat))
	m.Handle("POST /openai/v1/embeddings", s.endpoint(cloudOpenAI, s.openaiEmbeddings))
	m.Handle("POST /openai/v1/completions", s.endpoint(cloudOpenAI, s.openaiCompletions))
	m.Handle("GET /openai/v1/models", s.endpoint(cloudOpenAI, s.openaiModels))
	m.Handle("GET /openai/v1/models/{model}", s.endpoint(cloudOpenAI, s.openaiModel))
	m.Handle("/openai/", s.endpoint(cloudOpenAI, notFound))

	m.Handle("POST /azure/openai/deployments/{deployment}/chat/completions", s.endpoint(cloudAzure, s.azureChat))
	m.Handle("POST /azure/openai/deployments/{deployment}/embeddings", s.endpoint(cloudAzure, s.azureEmbeddings))
	m.Handle("POST /azure/openai/deployments/{deployment}/completions", s.endpoint(cloudAzure, s.azureCompletions))
	m.Handle("POST /azure/openai/v1/chat/completions", s.endpoint(cloudAzure, s.openaiChat))
	m.Handle("POST /azure/openai/v1/embeddings", s.endpoint(cloudAzure, s.openaiEmbeddings))
	m.Handle("GET /azure/openai/v1/models", s.endpoint(cloudAzure, s.openaiModels))
	m.Handle("/azure/", s.endpoint(cloudAzure, notFound))

	m.Handle("POST /anthropic/v1/messages", s.endpoint(cloudAnthropic, s.anthropicMessages))
	m.Handle("POST /anthropic/v1/messages/count_tokens", s.endpoint(cloudAnthropic, s.anthropicCountTokens))
	m.Handle("GET /anthropic/v1/models", s.endpoint(cloudAnthropic, s.anthropicModels))
	m.Handle("/anthropic/", s.endpoint(cloudAnthropic, notFound))

	// Bedrock is also served at the root, because some SDKs (Anthropic's
	// Bedrock middleware) replace the whole path and drop a base path.
	for _, prefix := range []string{"/bedrock", ""} {
		m.Handle("POST "+prefix+"/model/{modelId}/converse", s.endpoint(cloudBedrock, s.bedrockConverse(false)))
		m.Handle("POST "+prefix+"/model/{modelId}/converse-stream", s.endpoint(cloudBedrock, s.bedrockConverse(true)))
		m.Handle("POST "+prefix+"/model/{modelId}/invoke", s.endpoint(cloudBedrock, s.bedrockInvoke(false)))
		m.Handle("POST "+prefix+"/model/{modelId}/invoke-with-response-stream", s.endpoint(cloudBedrock, s.bedrockInvoke(true)))
		m.Handle("POST "+prefix+"/model/{modelId}/count-tokens", s.endpoint(cloudBedrock, s.bedrockCountTokens))
	}
	m.Handle("/bedrock/", s.endpoint(cloudBedrock, notFound))
	m.Handle("/model/", s.endpoint(cloudBedrock, notFound))

	m.Handle("POST /gemini/{version}/models/{action}", s.endpoint(cloudGemini, s.gemini))
	m.Handle("/gemini/", s.endpoint(cloudGemini, notFound))

	m.HandleFunc("POST "+VertexTokenPath, s.vertexToken)
	m.Handle("POST /vertex/{version}/projects/{project}/locations/{location}/publishers/{publisher}/models/{action}",
		s.endpoint(cloudVertex, s.vertex))
	m.Handle("/vertex/", s.endpoint(cloudVertex, notFound))

	m.Handle("/", s.endpoint("", notFound))
}

// ServeHTTP serves every cloud under its prefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// SetFaults replaces the faults of one cloud ("openai", "azure",
// "anthropic", "bedrock", "gemini" or "vertex"), or of every cloud when cloud is
// empty, which also drops the per-cloud overrides. It panics on an unknown
// cloud name, a programming error. It is safe to call while serving.
func (s *Server) SetFaults(cloud string, f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cloud == "" {
		s.faults = f
		clear(s.perCloud)
		return
	}
	if knownCloud(cloud) {
		s.perCloud[cloud] = f
		return
	}
	panic(fmt.Sprintf("fakecloud: SetFaults: unknown cloud %q", cloud))
}

// faultsFor returns the faults in force for a cloud.
func (s *Server) faultsFor(cloud string) Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.perCloud[cloud]; ok {
		return f
	}
	return s.faults
}

// Records returns copies of the records of the received requests, oldest
// first; only the last 10000 are kept.
func (s *Server) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, len(s.records))
	for i := range s.records {
		r := s.records[(s.next+i)%len(s.records)]
		r.Body = append(json.RawMessage(nil), r.Body...)
		out = append(out, r)
	}
	return out
}

// Reset clears the records.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records, s.next = nil, 0
}

// addRecord stores a record and writes it to the record sink.
func (s *Server) addRecord(r Record) {
	var line []byte
	if s.recordSink != nil {
		if b, err := json.Marshal(r); err == nil {
			line = append(b, '\n')
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.records) < maxRecords {
		s.records = append(s.records, r)
	} else {
		s.records[s.next] = r
		s.next = (s.next + 1) % maxRecords
	}
	if line != nil {
		// A failing sink must not fail the simulated cloud; the record is
		// still kept in memory.
		_, _ = s.recordSink.Write(line)
	}
}

// draw returns the next random number in [0, 1) for fault injection.
func (s *Server) draw() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64()
}

// seed returns a hex string unique to this request, for IDs.
func (s *Server) seed(history string) string {
	s.mu.Lock()
	s.seq++
	n := s.seq
	s.mu.Unlock()
	sum := sha256.Sum256([]byte(history + "/" + strconv.FormatUint(n, 10)))
	return hex.EncodeToString(sum[:12])
}

// applyCache looks the cache prefixes up, longest first, and stores the
// ones past the longest hit. It returns the tokens read from the cache and
// the tokens written to it.
func (s *Server) applyCache(cloud string, prefixes []cachePrefix) (read, write int) {
	if len(prefixes) == 0 {
		return 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hit := -1
	for i := len(prefixes) - 1; i >= 0; i-- {
		if s.cache[cloud+"/"+prefixes[i].key] {
			hit = i
			break
		}
	}
	if hit >= 0 {
		read = prefixes[hit].tokens
	}
	for _, p := range prefixes[hit+1:] {
		key := cloud + "/" + p.key
		s.cache[key] = true
		s.cacheLog = append(s.cacheLog, key)
	}
	for len(s.cacheLog) > maxCacheEntries {
		delete(s.cache, s.cacheLog[0])
		s.cacheLog = s.cacheLog[1:]
	}
	return read, prefixes[len(prefixes)-1].tokens - read
}

// Listen serves a new Server for o on addr ("127.0.0.1:0" picks a port)
// over HTTP/1.1 and unencrypted HTTP/2 (prior knowledge, as the AWS
// JavaScript SDK speaks it). Closing the returned listener stops the server,
// closes every connection and waits for the handlers to return.
func Listen(addr string, o Options) (*Server, net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listening for fakecloud: %w", err)
	}
	s := New(o)
	l := &serving{Listener: ln, done: make(chan struct{})}
	l.idle.L = &l.mu
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.serve(s)),
		ReadHeaderTimeout: 30 * time.Second,
		Protocols:         new(http.Protocols),
	}
	l.srv.Protocols.SetHTTP1(true)
	l.srv.Protocols.SetUnencryptedHTTP2(true)
	go func() {
		defer close(l.done)
		_ = l.srv.Serve(ln) // always ErrServerClosed once Close is called
	}()
	return s, l, nil
}

// serving is the listener Listen returns; it owns the serving goroutine
// and the handlers.
type serving struct {
	net.Listener
	srv  *http.Server
	done chan struct{}

	mu       sync.Mutex
	idle     sync.Cond // signalled when active drops to 0
	active   int       // handlers running
	closed   bool
	once     sync.Once
	closeErr error
}

// serve counts the handlers so that Close can wait for them.
func (l *serving) serve(h http.Handler) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			http.Error(w, "fakecloud is shutting down", http.StatusServiceUnavailable)
			return
		}
		l.active++
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			if l.active--; l.active == 0 {
				l.idle.Broadcast()
			}
			l.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	}
}

// inFlight returns the number of handlers running.
func (l *serving) inFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active
}

// Close stops the server, closes every connection (which ends hung
// requests) and waits for the serving goroutine and the handlers.
func (l *serving) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.closeErr = l.srv.Close()
		<-l.done
		l.mu.Lock()
		for l.active > 0 {
			l.idle.Wait()
		}
		l.mu.Unlock()
	})
	return l.closeErr
}

// errClientGone ends a request whose client went away; nothing is written.
var errClientGone = errors.New("client went away")

// apiError is an error answer; each cloud renders it in its own shape.
type apiError struct {
	status int
	// code is the cloud's own error type or code; empty derives it from the
	// status.
	code    string
	message string
	param   string
}

func (e *apiError) Error() string { return strconv.Itoa(e.status) + " " + e.code + ": " + e.message }

// notFound answers any path a cloud does not serve.
func notFound(c *call) error {
	return &apiError{status: http.StatusNotFound, message: "Unknown path " + c.r.Method + " " + c.r.URL.Path}
}

// call is one request in flight.
type call struct {
	s      *Server
	cloud  string
	w      *statusWriter
	r      *http.Request
	body   []byte
	faults Faults
	rec    Record
	// events counts the content events streamed so far.
	events int
	// onCut, when set, writes the cloud's in-stream error before a cut.
	onCut func()
}

// endpoint wraps a handler with body reading, error rendering and
// recording.
func (s *Server) endpoint(cloud string, h func(*call) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{
			s:      s,
			cloud:  cloud,
			w:      &statusWriter{ResponseWriter: w},
			r:      r,
			faults: s.faultsFor(cloud),
			rec: Record{
				Time:   s.now(),
				Cloud:  cloud,
				Method: r.Method,
				Path:   r.URL.EscapedPath(),
				// Bounded: a record must not grow with a client's header.
				Traceparent: clipBytes(r.Header.Get("Traceparent"), maxTraceHeader),
				Tracestate:  clipBytes(r.Header.Get("Tracestate"), maxTraceHeader),
			},
		}
		// Recorded in a defer so that aborted streams are recorded too.
		defer c.record()
		body, err := io.ReadAll(http.MaxBytesReader(c.w, r.Body, maxBody))
		c.body = body
		if err != nil {
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				c.fail(&apiError{status: http.StatusRequestEntityTooLarge, message: "Request body exceeds " + strconv.Itoa(maxBody) + " bytes."})
				return
			}
			c.fail(errClientGone)
			return
		}
		if err := h(c); err != nil {
			c.fail(err)
		}
	})
}

// maxTraceHeader bounds each trace context header kept in a record (the
// W3C limit of a tracestate is 512 bytes; a traceparent is 55).
const maxTraceHeader = 512

// clipBytes cuts s to at most n bytes.
func clipBytes(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// record stores the call's record.
func (c *call) record() {
	c.rec.Status = c.w.status
	if c.rec.Status == 0 {
		c.rec.Status = 499
	}
	switch {
	case len(c.body) == 0:
	case json.Valid(c.body):
		c.rec.Body = c.body
	default:
		c.rec.Body, _ = json.Marshal(string(c.body))
	}
	c.s.addRecord(c.rec)
}

// fail renders err in the cloud's error shape.
func (c *call) fail(err error) {
	if errors.Is(err, errClientGone) || c.w.status != 0 {
		return
	}
	var ae *apiError
	var re *requestError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &re):
		ae = &apiError{status: http.StatusBadRequest, message: re.msg, param: re.param}
	default:
		ae = &apiError{status: http.StatusInternalServerError, message: err.Error()}
	}
	if ae.status == http.StatusTooManyRequests {
		wait := c.faults.RetryAfter
		if wait <= 0 {
			wait = time.Second
		}
		c.w.Header().Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
		if c.cloud == cloudOpenAI || c.cloud == cloudAzure {
			c.w.Header().Set("Retry-After-Ms", strconv.FormatInt(wait.Milliseconds(), 10))
		}
	}
	switch c.cloud {
	case cloudOpenAI, cloudAzure:
		writeOpenAIError(c.w, c.cloud, ae)
	case cloudAnthropic:
		writeAnthropicError(c.w, ae)
	case cloudBedrock:
		writeBedrockError(c.w, ae)
	case cloudGemini:
		writeGeminiError(c.w, ae)
	case cloudVertex:
		writeVertexError(c.w, c.r, ae)
	default:
		writeJSON(c.w, ae.status, map[string]any{"error": map[string]any{"message": ae.message}})
	}
}

// admit applies the faults that come before an answer: a hang or a
// failure (one random draw decides), after the latency.
func (c *call) admit() error {
	f := c.faults
	u := 1.0
	if f.FailRate > 0 || f.HangRate > 0 || f.ThrottleRate > 0 || f.CutBeforeContent > 0 {
		u = c.s.draw()
	}
	if err := c.sleep(f.Latency); err != nil {
		return err
	}
	switch {
	case u < f.FailRate:
		status := f.FailStatus
		if status == 0 {
			status = http.StatusInternalServerError
		}
		return &apiError{status: status}
	case u < f.FailRate+f.HangRate:
		<-c.r.Context().Done()
		return errClientGone
	case u < f.FailRate+f.HangRate+f.ThrottleRate:
		return &apiError{status: http.StatusTooManyRequests}
	case u < f.FailRate+f.HangRate+f.ThrottleRate+f.CutBeforeContent:
		c.w.cutBeforeBody = true
	}
	return nil
}

// sleep waits d, or returns errClientGone when the client goes away first.
func (c *call) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.r.Context().Done():
		return errClientGone
	}
}

// pace waits the time n output tokens take at the configured rate.
func (c *call) pace(n int) error {
	if c.faults.TokensPerSecond <= 0 || n <= 0 {
		return nil
	}
	return c.sleep(time.Duration(float64(n) * float64(time.Second) / c.faults.TokensPerSecond))
}

// streamed counts a content event just sent and reports whether the stream
// must now be cut.
func (c *call) streamed() bool {
	c.events++
	return c.faults.CutStreamAfter > 0 && c.events >= c.faults.CutStreamAfter
}

// abortStream ends a stream abruptly: after the cloud's last words
// (onCut), what was written is flushed and the connection is closed, so the
// client sees a truncated stream.
func (c *call) abortStream() {
	if c.onCut != nil {
		c.onCut()
	}
	_ = http.NewResponseController(c.w).Flush()
	panic(http.ErrAbortHandler)
}

// respond answers a conversation and settles its prompt cache.
func (c *call) respond(conv *conversation) answer {
	a := respond(conv, c.s.seed(conv.history()))
	if conv.format == nil {
		a.pad(c.faults.AnswerTokens, conv.maxTokens)
	}
	a.usage.cacheRead, a.usage.cacheWrite = c.s.applyCache(c.cloud, conv.cachePrefixes())
	return a
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
	// cutBeforeBody closes the connection at the first body write, once
	// the headers are out (Faults.CutBeforeContent).
	cutBeforeBody bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.cutBeforeBody {
		// Headers out, no body: the cut a connection can suffer between
		// a cloud accepting a request and producing its first token.
		if w.status == 0 {
			w.WriteHeader(http.StatusOK)
		}
		_ = http.NewResponseController(w.ResponseWriter).Flush()
		panic(http.ErrAbortHandler)
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeJSON writes v as a JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeJSON decodes a request body into v, keeping numbers exact.
func decodeJSON(body []byte, v any) error {
	if len(body) == 0 {
		return badRequest("the request body is empty")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("the request body is not valid JSON: %v", err)
	}
	return nil
}

// checkFieldsFunc rejects top-level fields for which known is false, as
// the clouds do for fields they do not recognize. message formats the
// field name.
func checkFieldsFunc(body []byte, known func(string) bool, message string) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return badRequest("the request body must be a JSON object: %v", err)
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !known(k) {
			return &requestError{msg: fmt.Sprintf(message, k), param: k}
		}
	}
	return nil
}
