package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestChatCompletions_SameDialectAnswer checks the response side of the
// same-dialect fast path: an OpenAI client served by an OpenAI channel gets
// the channel's answer byte for byte, fields the gateway does not know
// included, with only the model name changed to the one it asked for; an
// answer with tool calls takes the full path, which renders their
// arguments in the canonical form. Both leave with a Content-Length.
func TestChatCompletions_SameDialectAnswer(t *testing.T) {
	const plain = "{\"id\":\"chatcmpl-1\", \"object\":\"chat.completion\",\"created\":7,\"model\":\"gpt-4o-mini-2024-07-18\",\n" +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hi \u00e9 <b>","refusal":null,"x_new":{"model":"keep"}},` +
		`"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7},` +
		`"system_fingerprint":"fp_1","x_vendor":[1,2]}`
	// A long answer: the full path sends it with its length too, not
	// chunked.
	tools := `{"id":"chatcmpl-2","object":"chat.completion","created":7,"model":"gpt-4o-mini",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"` + strings.Repeat("long ", 2000) + `","tool_calls":[{"id":"call_1","type":"function",` +
		`"function":{"name":"f","arguments":""}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7},"x_vendor":1}`
	answer := plain
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(up.Close)
	front, secret := newOpenAIFront(t, &http.Client{}, up.URL+"/v1", nil)
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)

	post := func() (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return resp, string(b)
	}

	resp, got := post()
	want := strings.Replace(plain, `"model":"gpt-4o-mini-2024-07-18"`, `"model":"bench-model"`, 1)
	if got != want {
		t.Errorf("fast path answer:\ngot  %s\nwant %s", got, want)
	}
	if resp.ContentLength != int64(len(want)) || len(resp.TransferEncoding) != 0 {
		t.Errorf("Content-Length %d, Transfer-Encoding %v; want %d and none", resp.ContentLength, resp.TransferEncoding, len(want))
	}
	if p := resp.Header.Get("X-Switchyard-Provider"); p != "oa" {
		t.Errorf("X-Switchyard-Provider = %q, want oa", p)
	}

	answer = tools
	resp, got = post()
	if strings.Contains(got, "x_vendor") || !strings.Contains(got, `"arguments":"{}"`) || !strings.Contains(got, `"model":"bench-model"`) {
		t.Errorf("an answer with tool calls did not take the full path: %s", got)
	}
	if resp.ContentLength != int64(len(got)) || len(resp.TransferEncoding) != 0 {
		t.Errorf("full path: Content-Length %d, Transfer-Encoding %v; want %d and none", resp.ContentLength, resp.TransferEncoding, len(got))
	}
}
