package fakecloud

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/syncbuf"
)

func TestRecords(t *testing.T) {
	var sink syncbuf.Buffer
	now := time.Date(2025, 6, 15, 9, 30, 0, 0, time.UTC)
	s := New(Options{Key: testKey, Record: &sink, Now: func() time.Time { return now }})
	var want []Record
	for _, r := range cloudRequests() {
		if w := serve(s, "POST", r.path, r.header, r.body); w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", r.cloud, w.Code, w.Body)
		}
		path, _, _ := strings.Cut(r.path, "?")
		model := "m"
		if r.cloud == "azure" {
			model = "d"
		}
		want = append(want, Record{Time: now, Cloud: r.cloud, Method: "POST", Path: path, Model: model, Status: 200, Body: json.RawMessage(r.body)})
	}
	serve(s, "POST", "/openai/v1/chat/completions", map[string]string{"Authorization": "Bearer " + testKey}, "not json")
	want = append(want, Record{Time: now, Cloud: "openai", Method: "POST", Path: "/openai/v1/chat/completions", Status: 400, Body: json.RawMessage(`"not json"`)})
	serve(s, "GET", "/elsewhere", nil, "")
	want = append(want, Record{Time: now, Method: "GET", Path: "/elsewhere", Status: 404})
	serve(s, "POST", "/gemini/v1beta/models/g:streamGenerateContent?alt=sse", map[string]string{"x-goog-api-key": testKey}, `{"contents":[{"parts":[{"text":"x"}]}]}`)
	want = append(want, Record{Time: now, Cloud: "gemini", Method: "POST", Path: "/gemini/v1beta/models/g:streamGenerateContent", Model: "g", Stream: true, Status: 200, Body: json.RawMessage(`{"contents":[{"parts":[{"text":"x"}]}]}`)})

	normalize := cmp.Transformer("compact", func(m json.RawMessage) string {
		var b bytes.Buffer
		if err := json.Compact(&b, m); err != nil {
			return "invalid: " + string(m)
		}
		return b.String()
	})
	if diff := cmp.Diff(want, s.Records(), normalize); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}

	var lines []Record
	sc := bufio.NewScanner(strings.NewReader(sink.String()))
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("record line %q: %v", sc.Text(), err)
		}
		lines = append(lines, r)
	}
	if diff := cmp.Diff(want, lines, normalize); diff != "" {
		t.Errorf("record lines (-want +got):\n%s", diff)
	}

	recs := s.Records()
	recs[0].Body[0] = 'X'
	if s.Records()[0].Body[0] == 'X' {
		t.Error("Records shares its bodies with the server")
	}
	s.Reset()
	if n := len(s.Records()); n != 0 {
		t.Errorf("%d records after Reset", n)
	}
}

func TestRecords_KeepsTheLast10000(t *testing.T) {
	s := New(Options{Key: testKey})
	const total = maxRecords + 5
	for i := range total {
		serve(s, "GET", "/n/"+strconv.Itoa(i), nil, "")
	}
	recs := s.Records()
	if len(recs) != maxRecords {
		t.Fatalf("%d records, want %d", len(recs), maxRecords)
	}
	if recs[0].Path != "/n/5" || recs[len(recs)-1].Path != "/n/"+strconv.Itoa(total-1) {
		t.Errorf("records run from %s to %s", recs[0].Path, recs[len(recs)-1].Path)
	}
}

func TestUnknownPaths(t *testing.T) {
	s := New(Options{Key: testKey})
	for _, tc := range []struct {
		path  string
		check func(t *testing.T, h http.Header, body map[string]any)
	}{
		{"/openai/v1/responses", func(t *testing.T, _ http.Header, b map[string]any) {
			if e, _ := b["error"].(map[string]any); e["type"] != "invalid_request_error" {
				t.Errorf("body %v", b)
			}
		}},
		{"/anthropic/v1/complete", func(t *testing.T, _ http.Header, b map[string]any) {
			if e, _ := b["error"].(map[string]any); b["type"] != "error" || e["type"] != "not_found_error" {
				t.Errorf("body %v", b)
			}
		}},
		{"/bedrock/guardrail/x", func(t *testing.T, h http.Header, _ map[string]any) {
			if !strings.HasPrefix(h.Get("X-Amzn-Errortype"), "ResourceNotFoundException:") {
				t.Errorf("error type %q", h.Get("X-Amzn-Errortype"))
			}
		}},
		{"/gemini/v2/models/m:generateContent", func(t *testing.T, _ http.Header, b map[string]any) {
			if e, _ := b["error"].(map[string]any); e["status"] != "NOT_FOUND" {
				t.Errorf("body %v", b)
			}
		}},
		{"/nowhere", func(t *testing.T, _ http.Header, b map[string]any) {
			if b["error"] == nil {
				t.Errorf("body %v", b)
			}
		}},
	} {
		t.Run(strings.ReplaceAll(tc.path[1:], "/", "_"), func(t *testing.T) {
			w := serve(s, "POST", tc.path, nil, "{}")
			if w.Code != http.StatusNotFound {
				t.Fatalf("status %d", w.Code)
			}
			tc.check(t, w.Header(), decode(t, w.Body.Bytes()))
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	s := New(Options{Key: testKey})
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("a", maxBody) + `"}]}`
	w := serve(s, "POST", "/openai/v1/chat/completions", map[string]string{"Authorization": "Bearer " + testKey}, big)
	if e, _ := decode(t, w.Body.Bytes())["error"].(map[string]any); w.Code != http.StatusRequestEntityTooLarge || e == nil {
		t.Errorf("status %d body %.200s", w.Code, w.Body)
	}
}

func TestListen(t *testing.T) {
	s, ln, err := Listen("127.0.0.1:0", Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	auth := map[string]string{"Authorization": "Bearer " + testKey}
	if status, _, b := do(t, "POST", url+"/openai/v1/chat/completions", auth, body); status != http.StatusOK {
		t.Fatalf("HTTP/1.1: %d %s", status, b)
	}

	// Unencrypted HTTP/2 with prior knowledge, as the AWS JavaScript SDK
	// speaks it.
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	h2 := &http.Client{Transport: tr}
	req, _ := http.NewRequest("POST", url+"/openai/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := h2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("h2c: %d over %s", resp.StatusCode, resp.Proto)
	}

	// Close ends a request that hangs and waits for its handler.
	s.SetFaults("", Faults{HangRate: 1})
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", url+"/openai/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			err = errors.New("answered " + resp.Status)
		}
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); ln.(*serving).inFlight() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hanging request never arrived")
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- ln.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("the hung request got an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the hung request never ended")
	}
	if recs := s.Records(); len(recs) != 3 || recs[2].Status != 499 {
		t.Errorf("records after Close: %+v", recs)
	}
	if err := ln.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestRecordsTraceContext(t *testing.T) {
	s := New(Options{Key: testKey})
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	long := strings.Repeat("k=v,", 300)
	for _, r := range cloudRequests() {
		h := map[string]string{"Traceparent": parent, "Tracestate": long}
		for k, v := range r.header {
			h[k] = v
		}
		if w := serve(s, "POST", r.path, h, r.body); w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", r.cloud, w.Code, w.Body)
		}
	}
	serve(s, "POST", "/openai/v1/chat/completions", map[string]string{"Authorization": "Bearer " + testKey}, `{}`)
	recs := s.Records()
	for _, rec := range recs[:len(recs)-1] {
		if rec.Traceparent != parent {
			t.Errorf("%s: traceparent %q, want %q", rec.Cloud, rec.Traceparent, parent)
		}
		if len(rec.Tracestate) != maxTraceHeader || !strings.HasPrefix(long, rec.Tracestate) {
			t.Errorf("%s: tracestate of %d bytes kept, want the first %d", rec.Cloud, len(rec.Tracestate), maxTraceHeader)
		}
	}
	if last := recs[len(recs)-1]; last.Traceparent != "" || last.Tracestate != "" {
		t.Errorf("a request without trace context recorded %q, %q", last.Traceparent, last.Tracestate)
	}
}
