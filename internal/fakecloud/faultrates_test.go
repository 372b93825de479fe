package fakecloud

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// streamRequests turns cloudRequests into their streamed forms.
func streamRequests() []cloudRequest {
	out := cloudRequests()
	for i := range out {
		r := &out[i]
		switch r.cloud {
		case "openai", "azure", "anthropic":
			r.body = strings.Replace(r.body, "{", `{"stream":true,`, 1)
		case "bedrock":
			r.path = strings.Replace(r.path, "/converse", "/converse-stream", 1)
		case "gemini":
			r.path = strings.Replace(r.path, ":generateContent", ":streamGenerateContent?alt=sse", 1)
		}
	}
	return out
}

func TestFaults_CutBeforeContent(t *testing.T) {
	s, ts := newTestServer(t, Options{Faults: Faults{CutBeforeContent: 1}})
	send := func(t *testing.T, r cloudRequest) (*http.Response, []byte, error) {
		t.Helper()
		req, _ := http.NewRequest("POST", ts.URL+r.path, strings.NewReader(r.body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	for _, r := range streamRequests() {
		t.Run(r.cloud, func(t *testing.T) {
			// The headers arrive; the connection closes before any event.
			resp, b, err := send(t, r)
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" && ct != "application/vnd.amazon.eventstream" {
				t.Errorf("status %d, content type %q; want a 200 stream", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if err == nil || len(b) != 0 {
				t.Errorf("read %d bytes (%q), err %v; want none and a broken connection", len(b), b, err)
			}
		})
	}
	// A JSON answer is cut the same way: headers, then no body.
	for _, r := range cloudRequests() {
		t.Run(r.cloud+"_unstreamed", func(t *testing.T) {
			resp, b, err := send(t, r)
			if resp.StatusCode != 200 || err == nil || len(b) != 0 {
				t.Errorf("status %d, %d bytes, err %v; want a 200 without a body", resp.StatusCode, len(b), err)
			}
		})
	}
	// The rates add up: each request meets one fault at most.
	s.SetFaults("", Faults{FailRate: 0.2, FailStatus: http.StatusServiceUnavailable, ThrottleRate: 0.2, CutBeforeContent: 0.2})
	r := streamRequests()[0]
	var failed, throttled, cut, ok int
	for range 300 {
		resp, b, err := send(t, r)
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable:
			failed++
		case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "1":
			throttled++
		case resp.StatusCode == 200 && err != nil && len(b) == 0:
			cut++
		case resp.StatusCode == 200 && err == nil && strings.Contains(string(b), "[DONE]"):
			ok++
		default:
			t.Fatalf("status %d, %d bytes, err %v", resp.StatusCode, len(b), err)
		}
	}
	for _, n := range []int{failed, throttled, cut} {
		if n < 30 || n > 90 {
			t.Errorf("of 300 streams: %d failed, %d throttled, %d cut, %d whole; want about 60 of each fault", failed, throttled, cut, ok)
			break
		}
	}
	if ok < 120 {
		t.Errorf("%d of 300 streams whole, want about 120", ok)
	}
}

func TestFaults_RetryAfter(t *testing.T) {
	for _, tc := range []struct {
		wait            time.Duration
		seconds, millis string
		cloud, noMillis string
	}{
		{0, "1", "1000", "openai", "anthropic"},
		{100 * time.Millisecond, "1", "100", "azure", "bedrock"},
		{2500 * time.Millisecond, "3", "2500", "openai", "gemini"},
	} {
		s := New(Options{Key: testKey, Faults: Faults{ThrottleRate: 1, RetryAfter: tc.wait}})
		for _, r := range cloudRequests() {
			if r.cloud != tc.cloud && r.cloud != tc.noMillis {
				continue
			}
			w := serve(s, "POST", r.path, r.header, r.body)
			wantMillis := tc.millis
			if r.cloud == tc.noMillis {
				wantMillis = ""
			}
			if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != tc.seconds || w.Header().Get("Retry-After-Ms") != wantMillis {
				t.Errorf("%s, RetryAfter %v: status %d, retry-after %q, retry-after-ms %q; want 429, %q, %q", r.cloud, tc.wait,
					w.Code, w.Header().Get("Retry-After"), w.Header().Get("Retry-After-Ms"), tc.seconds, wantMillis)
			}
		}
	}
}
