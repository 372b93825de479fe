package fakecloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
)

// cloudRequest is a valid chat request for each cloud, sent with the
// cloud's own authentication.
type cloudRequest struct {
	cloud, path, body string
	header            map[string]string
}

func cloudRequests() []cloudRequest {
	return []cloudRequest{
		{"openai", "/openai/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"one two three four"}]}`,
			map[string]string{"Authorization": "Bearer " + testKey}},
		{"azure", "/azure/openai/deployments/d/chat/completions?api-version=2024-10-21", `{"messages":[{"role":"user","content":"one two three four"}]}`,
			map[string]string{"api-key": testKey}},
		{"anthropic", "/anthropic/v1/messages", `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"one two three four"}]}`,
			map[string]string{"x-api-key": testKey, "anthropic-version": "2023-06-01"}},
		{"bedrock", "/bedrock/model/m/converse", `{"messages":[{"role":"user","content":[{"text":"one two three four"}]}]}`,
			map[string]string{"Authorization": "Bearer " + testKey}},
		{"gemini", "/gemini/v1beta/models/m:generateContent", `{"contents":[{"parts":[{"text":"one two three four"}]}]}`,
			map[string]string{"x-goog-api-key": testKey}},
	}
}

// serve sends a request straight to the handler.
func serve(s *Server, method, path string, header map[string]string, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w
}

func TestFaults_FailRateIsSeeded(t *testing.T) {
	statuses := func(seed int64) []int {
		s := New(Options{Key: testKey, Seed: seed, Faults: Faults{FailRate: 0.5, FailStatus: http.StatusServiceUnavailable}})
		var out []int
		for range 64 {
			r := cloudRequests()[0]
			out = append(out, serve(s, "POST", r.path, r.header, r.body).Code)
		}
		return out
	}
	a, b := statuses(7), statuses(7)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different faults (-first +second):\n%s", diff)
	}
	failed := 0
	for _, st := range a {
		switch st {
		case http.StatusServiceUnavailable:
			failed++
		case http.StatusOK:
		default:
			t.Fatalf("status %d", st)
		}
	}
	if failed < 16 || failed > 48 {
		t.Errorf("%d of 64 failed at rate 0.5", failed)
	}
	if cmp.Equal(a, statuses(8)) {
		t.Error("another seed gave the same faults")
	}
}

func TestFaults_ErrorShapes(t *testing.T) {
	for _, status := range []int{429, 500, 503, 529} {
		for _, r := range cloudRequests() {
			t.Run(r.cloud+"_"+http.StatusText(status), func(t *testing.T) {
				s := New(Options{Key: testKey, Faults: Faults{FailRate: 1, FailStatus: status}})
				w := serve(s, "POST", r.path, r.header, r.body)
				if w.Code != status {
					t.Fatalf("status %d, want %d", w.Code, status)
				}
				if got := w.Header().Get("Retry-After"); (status == 429) != (got == "1") {
					t.Errorf("retry-after = %q", got)
				}
				body := decode(t, w.Body.Bytes())
				e, _ := body["error"].(map[string]any)
				var got string
				switch r.cloud {
				case "openai", "azure":
					got, _ = e["type"].(string)
					if e["message"] == "" {
						t.Error("no message")
					}
				case "anthropic":
					got, _ = e["type"].(string)
				case "bedrock":
					got, _, _ = strings.Cut(w.Header().Get("X-Amzn-Errortype"), ":")
				case "gemini":
					got, _ = e["status"].(string)
				}
				want := map[string]map[int]string{
					"openai":    {429: "requests", 500: "server_error", 503: "server_error", 529: "server_error"},
					"azure":     {429: "requests", 500: "server_error", 503: "server_error", 529: "server_error"},
					"anthropic": {429: "rate_limit_error", 500: "api_error", 503: "api_error", 529: "overloaded_error"},
					"bedrock":   {429: "ThrottlingException", 500: "InternalServerException", 503: "ServiceUnavailableException", 529: "ServiceUnavailableException"},
					"gemini":    {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 529: "INTERNAL"},
				}[r.cloud][status]
				if got != want {
					t.Errorf("error kind %q, want %q: %s", got, want, w.Body)
				}
			})
		}
	}
}

func TestFaults_TypedSDKErrors(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	ctx := context.Background()
	oc, ac := newOpenAIClient(ts.URL), newAnthropicClient(ts.URL)

	s.SetFaults("openai", Faults{FailRate: 1, FailStatus: 429})
	_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 429 || oe.Code != "rate_limit_exceeded" {
		t.Errorf("openai: %v", err)
	}

	s.SetFaults("anthropic", Faults{FailRate: 1, FailStatus: 529})
	_, err = ac.Messages.New(ctx, anthropic.MessageNewParams{
		Model: "m", MaxTokens: 10, Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 529 || ae.Type() != "overloaded_error" {
		t.Errorf("anthropic: %v", err)
	}

	s.SetFaults("bedrock", Faults{FailRate: 1, FailStatus: 429})
	_, err = newBedrockClient(ts.URL, DefaultAWSAccessKeyID, DefaultAWSSecretAccessKey).Converse(ctx, &bedrockruntime.ConverseInput{
		ModelId: aws.String(haikuID), Messages: []types.Message{userText("hi")},
	})
	var te *types.ThrottlingException
	if !errors.As(err, &te) {
		t.Errorf("bedrock: %v", err)
	}
}

func TestFaults_HangUntilClientGoesAway(t *testing.T) {
	s, ts := newTestServer(t, Options{Faults: Faults{HangRate: 1}})
	for _, r := range cloudRequests() {
		t.Run(r.cloud, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+r.path, strings.NewReader(r.body))
			for k, v := range r.header {
				req.Header.Set(k, v)
			}
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("a hung request answered %d", resp.StatusCode)
			}
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
				t.Fatalf("err = %v after %v", err, time.Since(start))
			}
		})
	}
	// Every handler returns once its client is gone, and records a 499.
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs := s.Records()
		if len(recs) == len(cloudRequests()) {
			for _, r := range recs {
				if r.Status != 499 {
					t.Errorf("record %s status %d, want 499", r.Cloud, r.Status)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d hung handlers returned", len(recs), len(cloudRequests()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFaults_CutStream(t *testing.T) {
	s, ts := newTestServer(t, Options{Faults: Faults{CutStreamAfter: 2}})
	ctx := context.Background()
	msg := "one two three four five six"
	oc, ac := newOpenAIClient(ts.URL), newAnthropicClient(ts.URL)

	t.Run("openai", func(t *testing.T) {
		stream := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(msg)},
		})
		var text string
		for stream.Next() {
			if ch := stream.Current(); len(ch.Choices) > 0 {
				text += ch.Choices[0].Delta.Content
			}
		}
		if stream.Err() == nil || text != "Echo: one " {
			t.Errorf("text %q err %v", text, stream.Err())
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		stream := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
			Model: "m", MaxTokens: 100, Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(msg))},
		})
		var types []string
		for stream.Next() {
			types = append(types, stream.Current().Type)
		}
		if stream.Err() == nil || types[len(types)-1] != "content_block_delta" {
			t.Errorf("events %v err %v", types, stream.Err())
		}
	})
	for _, tc := range []struct {
		status int
		want   any
	}{
		{0, &types.InternalServerException{}},
		{429, &types.ThrottlingException{}},
		{503, &types.ServiceUnavailableException{}},
	} {
		t.Run("bedrock_"+http.StatusText(tc.status), func(t *testing.T) {
			s.SetFaults("bedrock", Faults{CutStreamAfter: 2, FailStatus: tc.status})
			out, err := newBedrockClient(ts.URL, DefaultAWSAccessKeyID, DefaultAWSSecretAccessKey).ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
				ModelId: aws.String(haikuID), Messages: []types.Message{userText(msg)},
			})
			if err != nil {
				t.Fatal(err)
			}
			deltas := 0
			for ev := range out.GetStream().Events() {
				if _, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
					deltas++
				}
			}
			err = out.GetStream().Err()
			switch want := tc.want.(type) {
			case *types.InternalServerException:
				if !errors.As(err, &want) {
					t.Errorf("err = %v (%T)", err, err)
				}
			case *types.ThrottlingException:
				if !errors.As(err, &want) {
					t.Errorf("err = %v (%T)", err, err)
				}
			case *types.ServiceUnavailableException:
				if !errors.As(err, &want) {
					t.Errorf("err = %v (%T)", err, err)
				}
			}
			if deltas != 2 {
				t.Errorf("%d deltas before the cut, want 2", deltas)
			}
		})
	}
	t.Run("gemini", func(t *testing.T) {
		req, _ := http.NewRequest("POST", ts.URL+"/gemini/v1beta/models/m:streamGenerateContent?alt=sse", strings.NewReader(`{"contents":[{"parts":[{"text":"`+msg+`"}]}]}`))
		req.Header.Set("x-goog-api-key", testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil || bytes.Count(b, []byte("data: ")) != 2 || strings.Contains(string(b), "finishReason") {
			t.Errorf("read %q, err %v", b, err)
		}
	})
}

func TestFaults_LatencyAndPace(t *testing.T) {
	s := New(Options{Key: testKey})
	r := cloudRequests()[0]
	s.SetFaults("", Faults{Latency: 60 * time.Millisecond})
	start := time.Now()
	if w := serve(s, "POST", r.path, r.header, r.body); w.Code != http.StatusOK || time.Since(start) < 60*time.Millisecond {
		t.Errorf("latency: %d after %v", w.Code, time.Since(start))
	}
	// "Echo: one two three four [turns=1 history=…]" is 7 pieces: 70 ms at
	// 100 tokens per second, streamed or not.
	s.SetFaults("", Faults{TokensPerSecond: 100})
	for _, stream := range []bool{false, true} {
		body := r.body
		if stream {
			body = strings.Replace(body, `{"model"`, `{"stream":true,"model"`, 1)
		}
		start := time.Now()
		w := serve(s, "POST", r.path, r.header, body)
		if elapsed := time.Since(start); w.Code != http.StatusOK || elapsed < 70*time.Millisecond {
			t.Errorf("stream=%v: %d after %v, want at least 70ms", stream, w.Code, elapsed)
		}
	}
}

func TestSetFaults(t *testing.T) {
	s := New(Options{Key: testKey, Faults: Faults{FailRate: 1, FailStatus: 503}})
	status := func(cloud string) int {
		for _, r := range cloudRequests() {
			if r.cloud == cloud {
				return serve(s, "POST", r.path, r.header, r.body).Code
			}
		}
		t.Fatalf("no request for %s", cloud)
		return 0
	}
	if status("openai") != 503 || status("gemini") != 503 {
		t.Fatal("option faults not applied")
	}
	s.SetFaults("gemini", Faults{})
	if status("openai") != 503 || status("gemini") != 200 {
		t.Error("per-cloud override")
	}
	s.SetFaults("", Faults{FailRate: 1, FailStatus: 429})
	if status("openai") != 429 || status("gemini") != 429 {
		t.Error(`SetFaults("") did not replace every cloud's faults`)
	}
	defer func() {
		if recover() == nil {
			t.Error("an unknown cloud did not panic")
		}
	}()
	s.SetFaults("ibm", Faults{})
}

func TestFaults_ConcurrentChanges(t *testing.T) {
	s, ts := newTestServer(t, Options{Seed: 1})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for k := range 20 {
				r := cloudRequests()[(i+k)%len(cloudRequests())]
				status, _, body := do(t, "POST", ts.URL+r.path, r.header, r.body)
				if status != http.StatusOK && status != http.StatusTooManyRequests {
					t.Errorf("%s: %d %s", r.cloud, status, body)
				}
			}
		})
	}
	wg.Go(func() {
		for k := range 50 {
			s.SetFaults("", Faults{FailRate: float64(k%2) / 2, FailStatus: 429})
			s.SetFaults("bedrock", Faults{})
			_ = s.Records()
		}
	})
	wg.Wait()
	if n := len(s.Records()); n != 80 {
		t.Errorf("%d records, want 80", n)
	}
}

// AnswerTokens pads a plain answer to exactly that many output tokens,
// one stream chunk each, within max_tokens; JSON answers stay whole.
func TestFaults_AnswerTokensPadsPlainAnswers(t *testing.T) {
	s := New(Options{Key: testKey, Faults: Faults{AnswerTokens: 50}})
	auth := map[string]string{"Authorization": "Bearer " + testKey}
	usage := func(body string) (completion int, content string) {
		t.Helper()
		w := serve(s, http.MethodPost, "/openai/v1/chat/completions", auth, body)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		var resp struct {
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
			Usage struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Usage.CompletionTokens, resp.Choices[0].Message.Content
	}
	if n, content := usage(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`); n != 50 || !strings.HasPrefix(content, "Echo: hi [turns=1") || len(strings.Fields(content)) != 50 {
		t.Errorf("padded answer: %d tokens, %d words: %q", n, len(strings.Fields(content)), content)
	}
	if n, _ := usage(`{"model":"m","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`); n != 20 {
		t.Errorf("padded answer within max_tokens 20: %d tokens", n)
	}
	w := serve(s, http.MethodPost, "/openai/v1/chat/completions", auth, `{"model":"m","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`)
	if !strings.Contains(w.Body.String(), `"finish_reason":"length"`) {
		t.Errorf("padding stopped by max_tokens 20 should end for its length: %s", w.Body)
	}
	if _, content := usage(`{"model":"m","response_format":{"type":"json_object"},"messages":[{"role":"user","content":"hi"}]}`); !json.Valid([]byte(content)) {
		t.Errorf("JSON answer padded: %q", content)
	}

	w = serve(s, http.MethodPost, "/openai/v1/chat/completions", auth, `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	chunks := 0
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if strings.HasPrefix(line, "data: {") && strings.Contains(line, `"content":"`) && !strings.Contains(line, `"content":""`) {
			chunks++
		}
	}
	if chunks != 50 {
		t.Errorf("padded stream: %d content chunks, want 50", chunks)
	}
}
