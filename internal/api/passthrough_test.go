package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	openaisdk "github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"

	"switchyard/internal/gateway"
	"switchyard/internal/provider"
	"switchyard/internal/provider/openai"
	"switchyard/internal/route"
)

// chunkStream is an OpenAI-dialect upstream that streams a fixed answer
// with members the gateway does not know (x_vendor, system_fingerprint),
// under its own model name, then an error chunk instead of the end when
// failAfter is set.
type chunkStream struct {
	words     []string
	failAfter bool
}

func (u *chunkStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(delta, finish string) {
		fmt.Fprintf(w, `data: {"id":"chatcmpl-up","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18",`+
			`"system_fingerprint":"fp_up","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}],"usage":null,"x_vendor":{"model":"keep"}}`+"\n\n", delta, finish)
		w.(http.Flusher).Flush()
	}
	chunk(`{"role":"assistant","content":"","refusal":null}`, "null")
	for _, word := range u.words {
		chunk(`{"content":"`+word+`"}`, "null")
	}
	if u.failAfter {
		fmt.Fprint(w, `data: {"error":{"message":"the model crashed","type":"server_error","code":null}}`+"\n\n")
		return
	}
	chunk(`{}`, `"stop"`)
	fmt.Fprint(w, `data: {"id":"chatcmpl-up","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[],`+
		`"usage":{"prompt_tokens":11,"completion_tokens":22,"total_tokens":33}}`+"\n\ndata: [DONE]\n\n")
}

// passthroughServer is the front door over one OpenAI channel on up,
// serving model "alias" as gpt-4o-mini, with its ledger.
func passthroughServer(t *testing.T, up http.Handler) (string, *recLedger) {
	t.Helper()
	us := httptest.NewServer(up)
	t.Cleanup(us.Close)
	reg := provider.NewRegistry()
	if err := reg.Add(openai.New(openai.Options{Name: "oa", BaseURL: us.URL + "/v1", APIKey: "sk-upstream"})); err != nil {
		t.Fatal(err)
	}
	cat, err := route.NewCatalog([]route.Model{{Name: "alias", Offerings: []route.Offering{
		{Provider: "oa", ProviderType: "openai", UpstreamModel: "gpt-4o-mini"}}}})
	if err != nil {
		t.Fatal(err)
	}
	led := &recLedger{}
	gw := gateway.New(gateway.Options{Runtime: gateway.Runtime{Router: route.NewRouter(cat, nil), Providers: reg}, Ledger: led})
	front := httptest.NewServer(New(Options{Gateway: gw, Auth: anyKey{}}))
	t.Cleanup(front.Close)
	return front.URL, led
}

// TestChatStream_SameDialectPassthrough checks the stream side of the
// same-dialect fast path with the official SDK over a real socket: an
// OpenAI client of an OpenAI channel gets the channel's chunks with the
// members the gateway does not know, its own model name in every chunk
// (a nested "model" member left alone), the usage chunk only when it
// asked for it, and the ledger gets the upstream's usage. An Anthropic
// client of the same channel gets Anthropic events, not the passthrough.
func TestChatStream_SameDialectPassthrough(t *testing.T) {
	base, led := passthroughServer(t, &chunkStream{words: []string{"Hello", " there", ", friend"}})
	c := openaisdk.NewClient(openaioption.WithBaseURL(base+"/v1"), openaioption.WithAPIKey("sk-client"), openaioption.WithMaxRetries(0))
	for i, includeUsage := range []bool{true, false} {
		var raw strings.Builder
		params := openaisdk.ChatCompletionNewParams{Model: "alias", Messages: []openaisdk.ChatCompletionMessageParamUnion{openaisdk.UserMessage("hi")}}
		if includeUsage {
			params.StreamOptions = openaisdk.ChatCompletionStreamOptionsParam{IncludeUsage: openaisdk.Bool(true)}
		}
		s := c.Chat.Completions.NewStreaming(context.Background(), params, openaioption.WithMiddleware(
			func(r *http.Request, next openaioption.MiddlewareNext) (*http.Response, error) {
				resp, err := next(r)
				if err == nil {
					resp.Body = struct {
						io.Reader
						io.Closer
					}{io.TeeReader(resp.Body, &raw), resp.Body}
				}
				return resp, err
			}))
		var acc openaisdk.ChatCompletionAccumulator
		chunks := 0
		for s.Next() {
			ch := s.Current()
			acc.AddChunk(ch)
			chunks++
			if ch.Model != "alias" {
				t.Errorf("chunk %d has model %q, want alias", chunks, ch.Model)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		got := raw.String()
		if !strings.Contains(got, `"x_vendor":{"model":"keep"}`) || !strings.Contains(got, `"system_fingerprint":"fp_up"`) || strings.Contains(got, "gpt-4o-mini") {
			t.Errorf("not the upstream's chunks with the model replaced:\n%s", got)
		}
		if text := acc.Choices[0].Message.Content; text != "Hello there, friend" || acc.Choices[0].FinishReason != "stop" {
			t.Errorf("accumulated %q, finish %q", text, acc.Choices[0].FinishReason)
		}
		if hasUsage := strings.Contains(got, `"prompt_tokens":11`); hasUsage != includeUsage || includeUsage && acc.Usage.CompletionTokens != 22 {
			t.Errorf("include_usage %v: usage chunk sent %v, usage %+v", includeUsage, hasUsage, acc.Usage)
		}
		recs := led.wait(t, i+1)
		if r := recs[i]; r.Status != http.StatusOK || !r.Stream || r.InputTokens != 11 || r.OutputTokens != 22 || r.Provider != "oa" {
			t.Errorf("ledger %+v, want the upstream's usage on a 200 stream", r)
		}
	}

	status, body := postTools(t, base, "/v1/messages", `{"model":"alias","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		[]string{anthropicHeader, "2023-06-01"})
	if status != http.StatusOK || !strings.Contains(body, "event: message_start") || strings.Contains(body, "x_vendor") || !strings.Contains(body, "Hello") {
		t.Errorf("anthropic client of an openai channel: status %d: %s", status, body)
	}
}

// An error the upstream reports mid-stream reaches an OpenAI client of the
// passthrough as the gateway's error chunk after the text already sent,
// without [DONE], and the ledger records a failed stream.
func TestChatStream_PassthroughUpstreamError(t *testing.T) {
	base, led := passthroughServer(t, &chunkStream{words: []string{"Hello", " there"}, failAfter: true})
	c := openaisdk.NewClient(openaioption.WithBaseURL(base+"/v1"), openaioption.WithAPIKey("sk-client"), openaioption.WithMaxRetries(0))
	s := c.Chat.Completions.NewStreaming(context.Background(), openaisdk.ChatCompletionNewParams{Model: "alias",
		Messages: []openaisdk.ChatCompletionMessageParamUnion{openaisdk.UserMessage("hi")}})
	var text strings.Builder
	for s.Next() {
		if ch := s.Current(); len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), `"type":"server_error"`) {
		t.Errorf("stream error %v, want the gateway's server_error chunk", err)
	}
	if text.String() != "Hello there" {
		t.Errorf("text before the error %q", text.String())
	}
	if r := led.wait(t, 1)[0]; r.Status == http.StatusOK || r.ErrorKind == "" || !r.Stream {
		t.Errorf("ledger %+v, want a failed stream", r)
	}
}

// heldBurst is an OpenAI-dialect upstream that sends its first text and
// waits for release before sending n more chunks in one write (a burst,
// as when the model outpaces the network) and the end.
type heldBurst struct {
	n       int
	release chan struct{}
}

func (u *heldBurst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(delta, finish string) string {
		return `data: {"id":"chatcmpl-up","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",` +
			`"choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + finish + `}]}` + "\n\n"
	}
	fmt.Fprint(w, chunk(`{"role":"assistant","content":""}`, "null")+chunk(`{"content":"first"}`, "null"))
	w.(http.Flusher).Flush()
	select {
	case <-u.release:
	case <-r.Context().Done():
		return
	}
	var burst strings.Builder
	for i := range u.n {
		burst.WriteString(chunk(fmt.Sprintf(`{"content":" w%d"}`, i), "null"))
	}
	burst.WriteString(chunk(`{}`, `"stop"`) + "data: [DONE]\n\n")
	fmt.Fprint(w, burst.String())
}

// writeCounter counts a front door's writes to its client.
type writeCounter struct {
	http.ResponseWriter
	writes *atomic.Int64
}

func (w writeCounter) Write(b []byte) (int, error) {
	w.writes.Add(1)
	return w.ResponseWriter.Write(b)
}

func (w writeCounter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// The passthrough never holds a chunk for the next: the client reads the
// first text while the upstream is still waiting to send the rest; and
// chunks that arrive together leave together, in fewer writes than
// chunks.
func TestChatStream_PassthroughFirstTextNotHeldBurstCoalesced(t *testing.T) {
	const n = 400
	up := &heldBurst{n: n, release: make(chan struct{})}
	us := httptest.NewServer(up)
	t.Cleanup(us.Close)
	reg := provider.NewRegistry()
	if err := reg.Add(openai.New(openai.Options{Name: "oa", BaseURL: us.URL + "/v1", APIKey: "sk-upstream"})); err != nil {
		t.Fatal(err)
	}
	cat, err := route.NewCatalog([]route.Model{{Name: "alias", Offerings: []route.Offering{
		{Provider: "oa", ProviderType: "openai", UpstreamModel: "gpt-4o-mini"}}}})
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(gateway.Options{Runtime: gateway.Runtime{Router: route.NewRouter(cat, nil), Providers: reg}, Ledger: &recLedger{}})
	front := New(Options{Gateway: gw, Auth: anyKey{}})
	var writes atomic.Int64
	fs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		front.ServeHTTP(writeCounter{w, &writes}, r)
	}))
	t.Cleanup(fs.Close)

	// The deadline only turns a held chunk into a failure instead of a
	// hang; nothing is timed.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fs.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"alias","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer sk-client")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the first text did not reach the client while the upstream waited: %v", err)
		}
		if strings.Contains(line, `"content":"first"`) {
			break
		}
	}
	before := writes.Load()
	close(up.release)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(rest), `"content":" w`); got != n || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Fatalf("after the first text the client got %d of %d chunks; ends %q", got, n, rest[max(0, len(rest)-40):])
	}
	// The burst arrives in a few reads (it is written at once on
	// loopback); a read buffer that stayed at its first kilobyte would
	// take about one write per three chunks.
	if burst := writes.Load() - before; burst*8 > n {
		t.Errorf("a burst of %d chunks left in %d writes; want chunks that arrived together written together", n, burst)
	}
}
