package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/store"
)

func TestPrintRequest(t *testing.T) {
	var b bytes.Buffer
	printRequest(&b, &admin.RequestRecord{ID: "req_1", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Model: "m",
		Channel: "b", UpstreamModel: "up-b", Status: 200, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Route: &admin.RequestRoute{Strategy: "priority", Summary: "strategy=priority; attempts=a,b", Candidates: []store.RouteCandidate{
			{Channel: "a", UpstreamModel: "up-a"}, {Channel: "b", UpstreamModel: "up-b"},
			{Channel: "c", UpstreamModel: "up-c", Skipped: "breaker_open", Detail: "open until 03:05"}}},
		Attempts: []store.Attempt{{Channel: "a", UpstreamModel: "up-a", Status: 503, ErrorKind: "overloaded", Duration: 2 * time.Millisecond,
			Fallback: "overloaded"}, {Channel: "b", UpstreamModel: "up-b", Status: 200, Duration: 5 * time.Millisecond}},
		Payload: &store.Payload{Request: `{"q":1}`, Response: "hi", RequestBytes: 7, ResponseBytes: 90000, Truncated: true}})
	out := b.String()
	for _, want := range []string{
		"trace:          4bf92f3577b34da6a3ce929d0e0e4736",
		"candidate c (up-c): skipped: breaker_open (open until 03:05)",
		"attempt 1 a (up-a): 503 overloaded in 2ms, fell back: overloaded",
		"attempt 2 b (up-b): 200 in 5ms",
		"payload (truncated; 7 and 90000 bytes received):\n--- request\n{\"q\":1}\n--- response\nhi\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
