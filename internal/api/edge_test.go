package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"switchyard/internal/syncbuf"
	"switchyard/internal/telemetry"
)

// edgeConfig is the http.Server side of an edge test.
type edgeConfig struct {
	// readTimeout bounds a request's headers and body; default 1h, so
	// that only an early refusal can answer a request whose body never
	// ends.
	readTimeout time.Duration
	maxConns    int
}

// startEdge serves h's front door on a fresh loopback listener the way
// the composition root does (app.edgeServer): timeouts, Go's header cap
// at twice the front door's, the connection cap and the listener that
// renders Go's own refusals in dialect, HTTP/1.1 and h2c. It returns the
// address and the count of connections refused at the cap.
func startEdge(t *testing.T, h *harness, c edgeConfig) (string, *atomic.Int64) {
	t.Helper()
	if c.readTimeout == 0 {
		c.readTimeout = time.Hour
	}
	front := h.handler.(*Server)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	srv := &http.Server{Handler: front, ReadHeaderTimeout: c.readTimeout, ReadTimeout: c.readTimeout,
		IdleTimeout: time.Minute, MaxHeaderBytes: ServerMaxHeaderBytes(front.maxHeader)}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(front.Listener(LimitListener(ln, c.maxConns, func() { refused.Add(1) }))) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), &refused
}

// guard is how long a raw-socket test waits for an answer before it
// reports a hang; behaviour, not speed, is what the tests check.
const guard = 20 * time.Second

// dial opens a raw connection with the hang guard as its deadline.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(guard))
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponse reads one response from c and its whole body.
func readResponse(t *testing.T, br *bufio.Reader) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	return resp, b
}

// expectClosed checks that the server closed c: a read ends without data
// and before the hang guard.
func expectClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	n, err := br.Read(make([]byte, 1))
	var ne net.Error
	if n > 0 || err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("connection still open: read %d bytes, %v", n, err)
	}
}

// dialectOf names the dialect of an error response by its shape:
// OpenAI's {"error":{"message","type",...}}, Anthropic's
// {"type":"error","error":{...}}, Bedrock's X-Amzn-ErrorType and
// {"message"}, Gemini's {"error":{"code","message","status"}}.
func dialectOf(t *testing.T, resp *http.Response, body []byte) (dialect, kind string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json: %s", ct, body)
	}
	var v struct {
		Type  string `json:"type"`
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	switch {
	case resp.Header.Get("X-Amzn-Errortype") != "" && v.Message != "":
		code, _, _ := strings.Cut(resp.Header.Get("X-Amzn-Errortype"), ":")
		return dialectBedrock, code
	case v.Type == "error" && v.Error != nil && v.Error.Message != "":
		return dialectAnthropic, v.Error.Type
	case v.Error != nil && v.Error.Message != "" && v.Error.Status != "":
		return dialectGemini, v.Error.Status
	case v.Error != nil && v.Error.Message != "":
		return dialectOpenAI, v.Error.Type
	}
	t.Fatalf("not an error in any dialect: %s", body)
	return "", ""
}

// Paths of each dialect, with the header its requests carry.
var edgeDoors = []struct {
	dialect, path, header string
}{
	{dialectOpenAI, "/v1/chat/completions", ""},
	{dialectAnthropic, "/v1/messages", "anthropic-version: 2023-06-01\r\n"},
	{dialectBedrock, "/model/" + url.PathEscape(sonnetAlias) + "/converse", ""},
	{dialectGemini, "/v1beta/models/via-openai:generateContent", ""},
}

// A body that never arrives is cut by the read timeout: the client gets
// 408 in its dialect and the connection is closed, while a legitimate
// request on another connection is answered meanwhile.
func TestEdge_SlowBodyClosedByTimeout(t *testing.T) {
	slow := 100
	if v, err := strconv.Atoi(os.Getenv("SWITCHYARD_TEST_SLOW_BODIES")); err == nil {
		slow = v
	}
	h := newHarness(t)
	// Long enough for the slow connections to be opened first (about a
	// millisecond each), so that the legitimate requests meet them all.
	addr, _ := startEdge(t, h, edgeConfig{readTimeout: time.Duration(300+slow) * time.Millisecond})
	auth := "Authorization: Bearer " + h.key.Secret + "\r\n"
	var readers []*bufio.Reader
	for i := range slow {
		door := edgeDoors[i%2] // the OpenAI and Anthropic doors take the gateway key
		c := dial(t, addr)
		_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\n%s%sContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":", door.path, auth, door.header)
		readers = append(readers, bufio.NewReader(c))
	}

	// Legitimate requests are answered while the slow ones hold their
	// connections; their latencies are reported, not judged.
	var lat []time.Duration
	for range 100 {
		start := time.Now()
		resp := postChat(t, "http://"+addr+"/v1/chat/completions", h.key.Secret,
			`{"model":"via-openai","messages":[{"role":"user","content":"hi"}]}`)
		lat = append(lat, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("legitimate request: %d", resp.StatusCode)
		}
	}
	slices.Sort(lat)
	t.Logf("%d slow bodies held; %d legitimate requests meanwhile: p50 %v, p99 %v", slow, len(lat), lat[len(lat)/2], lat[len(lat)*99/100])

	for i, br := range readers {
		resp, body := readResponse(t, br)
		d, _ := dialectOf(t, resp, body)
		if resp.StatusCode != http.StatusRequestTimeout || d != edgeDoors[i%2].dialect {
			t.Fatalf("slow body %d: %d %s %s, want 408 in %s", i, resp.StatusCode, d, body, edgeDoors[i%2].dialect)
		}
		expectClosed(t, br)
	}
}

func postChat(t *testing.T, u, key, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// A client that cannot authenticate is refused from its headers alone, at
// every front door: the answer comes while its body is still unsent (the
// read timeout is an hour), and the connection is closed rather than
// drained.
func TestEdge_UnauthenticatedSlowBodyRefusedAtOnce(t *testing.T) {
	h := newHarness(t, func(c *harnessConfig) {
		c.options = func(o *Options) { o.BedrockRegions = []string{"us-east-1"} }
	})
	addr, _ := startEdge(t, h, edgeConfig{})
	now := time.Now().UTC()
	sigv4 := func(akid, region string) string {
		return fmt.Sprintf("Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/%s/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=%s\r\nX-Amz-Date: %s\r\n",
			akid, now.Format("20060102"), region, strings.Repeat("0", 64), now.Format("20060102T150405Z"))
	}
	bedrockPath := edgeDoors[2].path
	for _, tc := range []struct {
		name, path, header string
		status             int
		dialect, kind      string
	}{
		{"openai_no_key", "/v1/chat/completions", "", 401, dialectOpenAI, "invalid_request_error"},
		{"openai_bad_key", "/v1/chat/completions", "Authorization: Bearer sk-sy-nope\r\n", 401, dialectOpenAI, "invalid_request_error"},
		{"anthropic_bad_key", "/v1/messages", "anthropic-version: 2023-06-01\r\nx-api-key: sk-sy-nope\r\n", 401, dialectAnthropic, "authentication_error"},
		{"bedrock_no_auth", bedrockPath, "", 403, dialectBedrock, "MissingAuthenticationTokenException"},
		{"bedrock_bad_bearer", bedrockPath, "Authorization: Bearer sk-sy-nope\r\n", 403, dialectBedrock, "UnrecognizedClientException"},
		{"bedrock_sigv4_unknown_key", bedrockPath, sigv4("AKIAUNKNOWNUNKNOWN00", "us-east-1"), 403, dialectBedrock, "UnrecognizedClientException"},
		{"bedrock_sigv4_wrong_region", bedrockPath, sigv4(h.key.AWSAccessKeyID, "eu-west-3"), 403, dialectBedrock, "InvalidSignatureException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"mod", tc.path, tc.header)
			br := bufio.NewReader(c)
			resp, body := readResponse(t, br)
			d, kind := dialectOf(t, resp, body)
			if resp.StatusCode != tc.status || d != tc.dialect || kind != tc.kind {
				t.Errorf("got %d %s %s, want %d %s %s: %s", resp.StatusCode, d, kind, tc.status, tc.dialect, tc.kind, body)
			}
			expectClosed(t, br)
		})
	}
}

// Past the connection cap a new connection is reset at once instead of
// waiting in the backlog; once a connection closes, new ones are served.
func TestEdge_ConnectionCap(t *testing.T) {
	h := newHarness(t)
	const max = 4
	addr, refused := startEdge(t, h, edgeConfig{maxConns: max})
	var held []net.Conn
	for range max {
		c := dial(t, addr)
		br := bufio.NewReader(c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := readResponse(t, br); resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %d", resp.StatusCode)
		}
		held = append(held, c)
	}
	// The reset may reach the client while it connects or when it reads;
	// either way no answer comes and nothing waits in the backlog.
	if over, err := net.Dial("tcp", addr); err == nil {
		_ = over.SetDeadline(time.Now().Add(guard))
		fmt.Fprintf(over, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		expectClosed(t, bufio.NewReader(over))
		over.Close()
	}
	// The count follows the reset; wait for it a bounded number of times.
	for i := 0; refused.Load() != 1 && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if got := refused.Load(); got != 1 {
		t.Errorf("refused %d connections, want 1", got)
	}

	held[0].Close()
	// The slot comes back when the server sees the close; try a bounded
	// number of times.
	for i := 0; ; i++ {
		c := dial(t, addr)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if i == 100 {
			t.Fatalf("no connection served after one closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Headers past the configured limit get 431 in the client's dialect: from
// the front door up to Go's parser cap (twice the limit), over HTTP/1.1
// and h2c, and from the listener past it, over HTTP/1.1.
func TestEdge_HeaderLimit(t *testing.T) {
	const limit = 8 << 10
	h := newHarness(t, func(c *harnessConfig) { c.options = func(o *Options) { o.MaxHeaderBytes = limit } })
	addr, _ := startEdge(t, h, edgeConfig{})
	for _, size := range []int{limit + 1024, 5 * limit} {
		for _, door := range edgeDoors {
			t.Run(fmt.Sprintf("%s_%d", door.dialect, size), func(t *testing.T) {
				c := dial(t, addr)
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\n%sX-Padding: %s\r\nContent-Length: 2\r\n\r\n{}", door.path, door.header, strings.Repeat("a", size))
				br := bufio.NewReader(c)
				resp, body := readResponse(t, br)
				if d, _ := dialectOf(t, resp, body); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || d != door.dialect {
					t.Errorf("got %d %s, want 431 in %s: %s", resp.StatusCode, d, door.dialect, body)
				}
			})
		}
	}
	t.Run("h2c_past_parser_cap", func(t *testing.T) {
		// A few KB on the wire that decode past Go's cap: the field is
		// indexed once, then referenced by one byte each time.
		hc := dialH2C(t, addr)
		big := strings.Repeat("b", 3000)
		if status, _, _ := hc.do(h2cRequest{method: "GET", path: "/healthz", header: []string{"x-big", big}}); status != http.StatusOK {
			t.Fatalf("healthz: %d", status)
		}
		for _, door := range edgeDoors {
			var hdr []string
			for range 20 {
				hdr = append(hdr, "x-big", big)
			}
			if door.dialect == dialectAnthropic {
				hdr = append(hdr, "anthropic-version", "2023-06-01")
			}
			status, header, body := hc.do(h2cRequest{method: "POST", path: door.path, header: hdr})
			resp := &http.Response{StatusCode: status, Header: header}
			if d, _ := dialectOf(t, resp, body); status != http.StatusRequestHeaderFieldsTooLarge || d != door.dialect {
				t.Errorf("%s: %d %s, want 431 in %s: %s", door.path, status, d, door.dialect, body)
			}
		}
		if status, _, _ := hc.do(h2cRequest{method: "GET", path: "/healthz", header: []string{"x-big", big}}); status != http.StatusOK {
			t.Fatalf("healthz after: %d", status)
		}
	})
	t.Run("h2c", func(t *testing.T) {
		for _, door := range edgeDoors {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+door.path, strings.NewReader("{}"))
			req.Header.Set("X-Padding", strings.Repeat("a", limit+1024))
			if door.dialect == dialectAnthropic {
				req.Header.Set("Anthropic-Version", "2023-06-01")
			}
			resp, err := h2cClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if d, _ := dialectOf(t, resp, body); resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || d != door.dialect {
				t.Errorf("%s: HTTP/%d %d %s, want HTTP/2 431 in %s: %s", door.path, resp.ProtoMajor, resp.StatusCode, d, door.dialect, body)
			}
		}
	})
}

// A path with a malformed percent-escape, which Go's parser refuses before
// any handler runs, gets 400 in the dialect its path tells, also when it
// follows a good request on a kept-alive connection.
func TestEdge_BadEscapeHTTP1(t *testing.T) {
	h := newHarness(t)
	addr, _ := startEdge(t, h, edgeConfig{})
	for _, tc := range []struct {
		name, line, dialect, kind string
	}{
		{"openai", "POST /v1/chat/completions%ZZ HTTP/1.1", dialectOpenAI, "invalid_request_error"},
		{"openai_models", "GET /v1/models/%ZZ HTTP/1.1", dialectOpenAI, "invalid_request_error"},
		{"anthropic", "POST /v1/messages/%zz HTTP/1.1", dialectAnthropic, "invalid_request_error"},
		{"bedrock", "POST /model/%ZZ/converse HTTP/1.1", dialectBedrock, "ValidationException"},
		{"bedrock_truncated_escape", "POST /model/abc%2/converse-stream HTTP/1.1", dialectBedrock, "ValidationException"},
	} {
		for _, keepAlive := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s_after_good_%v", tc.name, keepAlive), func(t *testing.T) {
				c := dial(t, addr)
				br := bufio.NewReader(c)
				if keepAlive {
					// A good request of another dialect first.
					fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
					if resp, _ := readResponse(t, br); resp.StatusCode != http.StatusOK {
						t.Fatalf("healthz: %d", resp.StatusCode)
					}
				}
				fmt.Fprintf(c, "%s\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", tc.line)
				resp, body := readResponse(t, br)
				d, kind := dialectOf(t, resp, body)
				if resp.StatusCode != http.StatusBadRequest || d != tc.dialect || kind != tc.kind {
					t.Errorf("got %d %s %s, want 400 %s %s: %s", resp.StatusCode, d, kind, tc.dialect, tc.kind, body)
				}
				if resp.Header.Get("X-Request-Id") == "" && resp.Header.Get("Request-Id") == "" && resp.Header.Get("X-Amzn-Requestid") == "" {
					t.Errorf("no request id: %v", resp.Header)
				}
				expectClosed(t, br)
			})
		}
	}
}

// net/http's other refusals before a handler runs come in dialect too,
// with its reason.
func TestEdge_GoRefusalsHTTP1(t *testing.T) {
	h := newHarness(t)
	addr, _ := startEdge(t, h, edgeConfig{})
	for _, tc := range []struct {
		name, raw     string
		status        int
		dialect, text string
	}{
		{"missing_host", "GET /v1/models HTTP/1.1\r\n\r\n", 400, dialectOpenAI, "missing required Host header"},
		{"bad_header_line", "POST /v1/messages HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400, dialectAnthropic, "malformed"},
		{"transfer_encoding", "POST /model/m/converse HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, dialectBedrock, "unsupported transfer encoding"},
		{"http_version", "GET /v1/models HTTP/3.0\r\nHost: x\r\n\r\n", 505, dialectOpenAI, "unsupported protocol version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			fmt.Fprint(c, tc.raw)
			br := bufio.NewReader(c)
			resp, body := readResponse(t, br)
			if d, _ := dialectOf(t, resp, body); resp.StatusCode != tc.status || d != tc.dialect || !strings.Contains(string(body), tc.text) {
				t.Errorf("got %d %s, want %d %s with %q: %s", resp.StatusCode, d, tc.status, tc.dialect, tc.text, body)
			}
			expectClosed(t, br)
		})
	}
}

// Model names past the limit are refused with 400 in the client's
// dialect, before they are looked up or echoed; a name at the limit is
// looked up as usual.
func TestEdge_ModelNameLimit(t *testing.T) {
	const limit = 64
	h := newHarness(t, func(c *harnessConfig) {
		c.sessions = true
		c.options = func(o *Options) { o.MaxModelNameBytes = limit }
	})
	long, atLimit := strings.Repeat("m", limit+1), strings.Repeat("m", limit)
	for _, tc := range []struct {
		name, path, header, body string
		status                   int
		dialect                  string
	}{
		{"openai_chat", "/v1/chat/completions", "", `{"model":"` + long + `","messages":[{"role":"user","content":"hi"}]}`, 400, dialectOpenAI},
		{"openai_chat_at_limit", "/v1/chat/completions", "", `{"model":"` + atLimit + `","messages":[{"role":"user","content":"hi"}]}`, 404, dialectOpenAI},
		{"openai_embeddings", "/v1/embeddings", "", `{"model":"` + long + `","input":"hi"}`, 400, dialectOpenAI},
		{"openai_responses", "/v1/responses", "", `{"model":"` + long + `","input":"hi"}`, 400, dialectOpenAI},
		{"anthropic", "/v1/messages", "2023-06-01", `{"model":"` + long + `","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, 400, dialectAnthropic},
		{"anthropic_count_tokens", "/v1/messages/count_tokens", "2023-06-01", `{"model":"` + long + `","messages":[{"role":"user","content":"hi"}]}`, 400, dialectAnthropic},
		{"bedrock", "/model/" + long + "/converse", "", `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`, 400, dialectBedrock},
		{"bedrock_at_limit", "/model/" + atLimit + "/converse", "", `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`, 400, dialectBedrock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+h.key.Secret)
			req.Header.Set("Content-Type", "application/json")
			if tc.header != "" {
				req.Header.Set("Anthropic-Version", tc.header)
			}
			rec := httptest.NewRecorder()
			h.handler.ServeHTTP(rec, req)
			resp := rec.Result()
			body := rec.Body.Bytes()
			d, _ := dialectOf(t, resp, body)
			if resp.StatusCode != tc.status || d != tc.dialect {
				t.Errorf("got %d %s, want %d %s: %s", resp.StatusCode, d, tc.status, tc.dialect, body)
			}
			tooLong := strings.Contains(tc.name, "at_limit") == false
			if mentions := strings.Contains(string(body), "limit is "+strconv.Itoa(limit)); mentions != tooLong {
				t.Errorf("refusal names the limit: %v, want %v: %s", mentions, tooLong, body)
			}
			if strings.Contains(string(body), long) || strings.Contains(rec.Header().Get("X-Switchyard-Model"), long) {
				t.Errorf("the long name is echoed: %s", body)
			}
		})
	}
}

// However many model names clients make up, /metrics keeps one "unknown"
// series per dialect and status for them: 10,000 requests with random
// names leave it small.
func TestEdge_MetricLabelsBounded(t *testing.T) {
	metrics := telemetry.NewMetrics()
	h := newHarness(t, func(c *harnessConfig) { c.options = func(o *Options) { o.Metrics = metrics } })
	rng := rand.New(rand.NewPCG(1, 2))
	send := func(path, anthropicVersion, body string) int {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.key.Secret)
		if anthropicVersion != "" {
			req.Header.Set("Anthropic-Version", anthropicVersion)
		}
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := send("/v1/chat/completions", "", `{"model":"via-openai","messages":[{"role":"user","content":"hi"}]}`); code != http.StatusOK {
		t.Fatalf("known model: %d", code)
	}
	const n = 10000
	for i := range n {
		name := fmt.Sprintf("made-up-%016x", rng.Uint64())
		var code int
		if i%2 == 0 {
			code = send("/v1/chat/completions", "", `{"model":"`+name+`","messages":[{"role":"user","content":"hi"}]}`)
		} else {
			code = send("/v1/messages", "2023-06-01", `{"model":"`+name+`","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
		}
		if code != http.StatusNotFound {
			t.Fatalf("request %d (%s): %d, want 404", i, name, code)
		}
	}

	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	models := map[string]bool{}
	var series int
	for _, f := range families {
		series += len(f.GetMetric())
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model" {
					models[l.GetValue()] = true
				}
			}
		}
	}
	var got []string
	for m := range models {
		got = append(got, m)
	}
	sort.Strings(got)
	if diff := cmp.Diff([]string{"unknown", "via-openai"}, got); diff != "" {
		t.Errorf("model labels (-want +got):\n%s", diff)
	}
	rec := httptest.NewRecorder()
	metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if size := rec.Body.Len(); size > 1<<20 || series > 500 {
		t.Errorf("/metrics after %d made-up names: %d bytes, %d series", n, size, series)
	}
	t.Logf("/metrics after %d made-up model names: %d bytes, %d series", n, rec.Body.Len(), series)
}

// A SigV4 signature must be scoped to a region the front door answers
// for; the AWS SDK configured for another region gets the error AWS
// gives, and "*" accepts every region.
func TestEdge_BedrockRegionScope(t *testing.T) {
	for _, tc := range []struct {
		name    string
		regions []string
		region  string
		ok      bool
	}{
		{"configured_region", []string{"us-east-1", "eu-west-1"}, "eu-west-1", true},
		{"other_region", []string{"us-east-1", "eu-west-1"}, "us-west-2", false},
		{"any_region", []string{"*"}, "ap-southeast-2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *harnessConfig) { c.options = func(o *Options) { o.BedrockRegions = tc.regions } })
			c, _ := h.bedrockClient(h.key.AWSAccessKeyID, h.key.AWSSecretAccessKey, nil)
			_, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet),
				Messages: []types.Message{userMessage("hi")}}, func(o *bedrockruntime.Options) { o.Region = tc.region })
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			code, status := apiErrorOf(t, err)
			if code != "InvalidSignatureException" || status != http.StatusForbidden || !strings.Contains(err.Error(), "Credential should be scoped to a valid region.") {
				t.Errorf("got %s %d (%v), want InvalidSignatureException 403 with the region message", code, status, err)
			}
			h.records(t, 0)
		})
	}
}

// Log lines are bounded too: the access log truncates a long path.
func TestEdge_AccessLogBounded(t *testing.T) {
	var buf syncbuf.Buffer
	h := newHarness(t)
	front := h.handler.(*Server)
	logged := telemetry.Middleware(telemetry.NewLogger(&buf, 0), nil, front.edge(front.routes()))
	req := httptest.NewRequest(http.MethodGet, "/v1/"+strings.Repeat("p", 50000), nil)
	logged.ServeHTTP(httptest.NewRecorder(), req)
	if n := len(buf.String()); n > 4096 {
		t.Errorf("access-log line is %d bytes", n)
	}
}

// h2cConn is a raw HTTP/2 client connection: frames written and read by
// hand, so that a test can send what Go's client refuses to (a :path with
// a bad escape), padding, priority and CONTINUATION frames.
type h2cConn struct {
	t      *testing.T
	fr     *http2.Framer
	enc    *hpack.Encoder
	buf    bytes.Buffer
	stream uint32
}

func dialH2C(t *testing.T, addr string) *h2cConn {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	hc := &h2cConn{t: t, fr: http2.NewFramer(c, c), stream: 1}
	hc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	hc.enc = hpack.NewEncoder(&hc.buf)
	if err := hc.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return hc
}

// h2cRequest is one request of a test.
type h2cRequest struct {
	method, path string
	header       []string // name, value, ...
	// padded and prioritised HEADERS; the block split over a CONTINUATION.
	pad, prio, split bool
}

// do sends a request without a body and returns the answer's status,
// headers and body.
func (hc *h2cConn) do(rq h2cRequest) (int, http.Header, []byte) {
	t := hc.t
	t.Helper()
	hc.buf.Reset()
	fields := append([]string{":method", rq.method, ":scheme", "http", ":authority", "gateway.test", ":path", rq.path,
		"user-agent", "h2c-test"}, rq.header...)
	for i := 0; i < len(fields); i += 2 {
		if err := hc.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]}); err != nil {
			t.Fatal(err)
		}
	}
	block := hc.buf.Bytes()
	first := block
	if rq.split {
		first = block[:len(block)/2]
	}
	p := http2.HeadersFrameParam{StreamID: hc.stream, BlockFragment: first, EndStream: true, EndHeaders: !rq.split}
	if rq.pad {
		p.PadLength = 7
	}
	if rq.prio {
		p.Priority = http2.PriorityParam{StreamDep: 0, Weight: 200}
	}
	if err := hc.fr.WriteHeaders(p); err != nil {
		t.Fatal(err)
	}
	if rq.split {
		if err := hc.fr.WriteContinuation(hc.stream, true, block[len(block)/2:]); err != nil {
			t.Fatal(err)
		}
	}
	id := hc.stream
	hc.stream += 2
	var status int
	header := http.Header{}
	var body []byte
	for {
		f, err := hc.fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = hc.fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				continue
			}
			status, _ = strconv.Atoi(f.PseudoValue("status"))
			for _, hf := range f.RegularFields() {
				header.Add(hf.Name, hf.Value)
			}
			if f.StreamEnded() {
				return status, header, body
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				continue
			}
			body = append(body, f.Data()...)
			if f.StreamEnded() {
				return status, header, body
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				t.Fatalf("stream %d reset: %v", id, f.ErrCode)
			}
		case *http2.GoAwayFrame:
			t.Fatalf("connection refused: GOAWAY %v %s", f.ErrCode, f.DebugData())
		}
	}
}

// Over h2c, a :path with a bad escape, which Go's HTTP/2 server would
// reset with PROTOCOL_ERROR, is answered 400 in the dialect its path
// tells; the requests before and after it on the same connection, whose
// headers the client compresses against a shared table, are served as
// usual, also with padding, priority and CONTINUATION frames.
func TestEdge_BadEscapeH2C(t *testing.T) {
	h := newHarness(t)
	addr, _ := startEdge(t, h, edgeConfig{})
	hc := dialH2C(t, addr)
	big := strings.Repeat("b", 20000)
	for i, tc := range []struct {
		rq            h2cRequest
		status        int
		dialect, kind string
	}{
		{h2cRequest{method: "GET", path: "/healthz"}, 200, "", ""},
		{h2cRequest{method: "POST", path: "/model/%ZZ/converse", header: []string{"content-type", "application/json"}}, 400, dialectBedrock, "ValidationException"},
		{h2cRequest{method: "POST", path: "/v1/messages/%zz", header: []string{"anthropic-version", "2023-06-01"}, pad: true}, 400, dialectAnthropic, "invalid_request_error"},
		{h2cRequest{method: "GET", path: "/v1/models/%Z?x=%ZZ", prio: true}, 400, dialectOpenAI, "invalid_request_error"},
		{h2cRequest{method: "GET", path: "/healthz", header: []string{"x-big", big}, split: true, pad: true, prio: true}, 200, "", ""},
		{h2cRequest{method: "GET", path: "/model/abc%/converse", header: []string{"x-big", big}, split: true}, 400, dialectBedrock, "ValidationException"},
		{h2cRequest{method: "GET", path: "/healthz"}, 200, "", ""},
	} {
		status, header, body := hc.do(tc.rq)
		if status != tc.status {
			t.Fatalf("request %d %s: %d, want %d: %s", i, tc.rq.path, status, tc.status, body)
		}
		if tc.dialect == "" {
			continue
		}
		resp := &http.Response{StatusCode: status, Header: header}
		if d, kind := dialectOf(t, resp, body); d != tc.dialect || kind != tc.kind {
			t.Errorf("request %d %s: %s %s, want %s %s: %s", i, tc.rq.path, d, kind, tc.dialect, tc.kind, body)
		}
	}

	// Go's own h2c client, whose encoder indexes repeated headers, is
	// served through the rewriter.
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+h.key.Secret)
		resp, err := h2cClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Fatalf("HTTP/%d %d", resp.ProtoMajor, resp.StatusCode)
		}
	}
}

func TestRepairPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/v1/models", ""},
		{"/model/anthropic.claude%3A0/converse", ""},
		{"/model/%ZZ/converse", "/model/%25ZZ/converse"},
		{"/a%", "/a%25"},
		{"/a%2", "/a%252"},
		{"/a%2?q=%ZZ", "/a%252?q=%ZZ"},
	} {
		got, ok := repairPath(tc.in)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("repairPath(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// The h2c rewriter never panics or loops on what a client sends, and
// what it passes on stays bounded.
func FuzzH2Rewriter(f *testing.F) {
	var buf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	var block bytes.Buffer
	e := hpack.NewEncoder(&block)
	for _, kv := range [][2]string{{":method", "GET"}, {":path", "/model/%ZZ/x"}, {":scheme", "http"}, {":authority", "a"}, {"x-big", strings.Repeat("v", 3000)}} {
		_ = e.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: false, EndHeaders: true, PadLength: 3})
	_ = fr.WriteData(1, true, []byte("hello"))
	f.Add(buf.Bytes())
	// Then a block of indexed references to the 3 KB field, one byte each.
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: bytes.Repeat([]byte{0xbe}, 200), EndStream: true, EndHeaders: true})
	f.Add(buf.Bytes())
	f.Add([]byte{0, 0, 1, 1, 0x4, 0, 0, 0, 1, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		const list = 16 << 10
		w := newH2Rewriter(bytes.NewReader(in), nil, 4*list, list)
		out, _ := io.ReadAll(w)
		// Each block comes out with at most list bytes of fields, a few
		// bytes of framing per field and frame; the rest passes as is.
		if len(out) > len(in)+16*list {
			t.Fatalf("%d bytes in, %d out", len(in), len(out))
		}
	})
}

// A request refused before its body was read keeps its HTTP/1.1
// connection when the body has already arrived, so refusals under load cost
// the client no new connection; a small body still arriving after the
// grace gets its refusal on a connection that is then closed.
func TestEdge_EarlyRefusalKeepsArrivedBody(t *testing.T) {
	h := newHarness(t)
	addr, _ := startEdge(t, h, edgeConfig{})
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

	c := dial(t, addr)
	br := bufio.NewReader(c)
	for i := range 3 {
		fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-sy-nope\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		resp, got := readResponse(t, br)
		if resp.StatusCode != http.StatusUnauthorized || resp.Close {
			t.Fatalf("refusal %d on one connection: %d (close %v): %s", i, resp.StatusCode, resp.Close, got)
		}
	}

	slow := dial(t, addr)
	sbr := bufio.NewReader(slow)
	fmt.Fprintf(slow, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-sy-nope\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:5])
	resp, got := readResponse(t, sbr)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("refusal of a body still arriving: %d: %s", resp.StatusCode, got)
	}
	expectClosed(t, sbr)
}
