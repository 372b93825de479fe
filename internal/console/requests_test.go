package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// seedRequests writes n ordinary requests of tenant acme, one second apart
// and newest last, then a failed one and a captured one after them.
func seedRequests(t *testing.T, f *fixture, n int) (tenantID string) {
	t.Helper()
	ctx := context.Background()
	iss, err := f.svc.IssueKey(ctx, admin.KeySpec{Tenant: "acme", CreateTenant: true, Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var recs []store.UsageRecord
	for i := range n {
		recs = append(recs, store.UsageRecord{RequestID: fmt.Sprintf("req_%03d", i), TenantID: iss.Key.TenantID, KeyID: iss.Key.ID,
			Model: "gpt-4o-mini", Provider: "azure-sim", Status: 200, InputTokens: 11, OutputTokens: 22, CostUSD: 0.01,
			CreatedAt: at.Add(time.Duration(i) * time.Second)})
	}
	recs = append(recs, store.UsageRecord{RequestID: "req_failed", TenantID: iss.Key.TenantID, KeyID: iss.Key.ID, Model: "solo",
		Provider: "openai-sim", Status: 429, ErrorKind: "rate_limited", Error: "Rate limit reached for solo.", CreatedAt: at.Add(time.Duration(n) * time.Second)},
		store.UsageRecord{RequestID: "req_captured", TenantID: iss.Key.TenantID, KeyID: iss.Key.ID, Dialect: "openai", Endpoint: "/v1/chat/completions",
			Model: "gpt-4o-mini", Provider: "openai-sim", UpstreamModel: "gpt-4o-mini", Status: 200, Strategy: "priority",
			Route: "strategy=priority; attempts=azure-sim,openai-sim",
			Candidates: []store.RouteCandidate{{Channel: "azure-sim", UpstreamModel: "m1"},
				{Channel: "openai-sim", UpstreamModel: "gpt-4o-mini"},
				{Channel: "bedrock-sim", UpstreamModel: "m3", Skipped: "breaker_open", Detail: "open until 12:00"}},
			AttemptLog: []store.Attempt{{Channel: "azure-sim", UpstreamModel: "m1", Status: 503, ErrorKind: "unavailable", Duration: 1500 * time.Millisecond, Fallback: "unavailable"},
				{Channel: "openai-sim", UpstreamModel: "gpt-4o-mini", Status: 200, Duration: 250 * time.Millisecond}},
			InputTokens: 7, OutputTokens: 9, CachedInputTokens: 3, ReasoningTokens: 5, CostUSD: 0.25, Latency: 1800 * time.Millisecond,
			TTFB: 400 * time.Millisecond, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
			Payload: &store.Payload{Request: `{"messages":[{"content":"<script>alert(1)</script>"}]}`, Response: `<b>hi</b> & bye`,
				RequestBytes: 52, ResponseBytes: 15},
			CreatedAt: at.Add(time.Duration(n+1) * time.Second)})
	if err := f.svc.Store.(*sqlstore.Store).InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	return iss.Key.TenantID
}

var requestLinks = regexp.MustCompile(`href="/ui/requests/([^"]+)"`)

// listed returns the request ids a page links to, in order.
func listed(body string) []string {
	var ids []string
	for _, m := range requestLinks.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

var olderLinkRE = regexp.MustCompile(`href="(/ui/requests\?[^"]+)" rel="next"`)

func TestRequestLogPage(t *testing.T) {
	f := newFixture(t, false)
	seedRequests(t, f, 60)
	b := f.browser(t)
	b.signIn(adminToken)

	p := b.get("/ui/requests")
	if p.status != http.StatusOK {
		t.Fatalf("requests = %d\n%s", p.status, p.body)
	}
	ids := listed(p.body)
	if len(ids) != 50 || ids[0] != "req_captured" || ids[1] != "req_failed" || ids[2] != "req_059" {
		t.Fatalf("first page lists %d requests, starting %v", len(ids), ids[:min(3, len(ids))])
	}
	for _, want := range []string{`<a href="/ui/requests" aria-current="page">Requests</a>`, "acme", "<label>Status", "429",
		"$0.25", "1800 ms", "400 ms", "11 / 22"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("requests page lacks %q", want)
		}
	}

	// Paging: the older link carries the cursor and the filters.
	p = b.get("/ui/requests?tenant=acme&model=gpt-4o-mini")
	ids = listed(p.body)
	if len(ids) != 50 || ids[0] != "req_captured" || ids[1] != "req_059" {
		t.Fatalf("filtered by model: %v", ids[:min(3, len(ids))])
	}
	m := olderLinkRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no link to older requests:\n%s", p.body)
	}
	older := html.UnescapeString(m[1])
	for _, want := range []string{"cursor=", "tenant=acme", "model=gpt-4o-mini"} {
		if !strings.Contains(older, want) {
			t.Errorf("older link %q lacks %q", older, want)
		}
	}
	p = b.get(older)
	ids = listed(p.body)
	if p.status != http.StatusOK || len(ids) != 11 || ids[0] != "req_010" || ids[10] != "req_000" {
		t.Fatalf("older page = %d, %v", p.status, ids)
	}
	if olderLinkRE.MatchString(p.body) {
		t.Error("the last page links to older requests")
	}

	// Filters reach the log.
	for q, want := range map[string][]string{
		"status=429":                {"req_failed"},
		"channel=openai-sim":        {"req_captured", "req_failed"},
		"model=solo&tenant=acme":    {"req_failed"},
		"status=200&channel=nobody": nil,
	} {
		p := b.get("/ui/requests?" + q)
		if got := listed(p.body); p.status != http.StatusOK || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("?%s = %d %v, want %v", q, p.status, got, want)
		}
	}
	if p := b.get("/ui/requests?status=429"); !strings.Contains(p.body, `name="status" inputmode="numeric" value="429"`) {
		t.Error("the form does not keep its filter")
	}
	if p := b.get("/ui/requests?since=" + time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)); len(listed(p.body)) != 0 {
		t.Errorf("since a minute ago lists %v", listed(p.body))
	}

	// A filter the log refuses is shown with the form.
	for q, status := range map[string]int{"status=abc": 400, "since=yesterday": 400, "cursor=zz": 400, "tenant=nobody": 404} {
		p := b.get("/ui/requests?" + q)
		if p.status != status || !strings.Contains(p.body, `id="page-error"`) || !strings.Contains(p.body, "<label>Model") {
			t.Errorf("?%s = %d, want %d with the form and the problem:\n%s", q, p.status, status, p.body)
		}
	}
}

func TestRequestDetailPage(t *testing.T) {
	f := newFixture(t, false)
	seedRequests(t, f, 1)
	b := f.browser(t)
	b.signIn(adminToken)

	p := b.get("/ui/requests/req_captured")
	if p.status != http.StatusOK {
		t.Fatalf("detail = %d\n%s", p.status, p.body)
	}
	for _, want := range []string{"Request req_captured", "acme", "Strategy <strong>priority</strong>",
		"skipped: breaker_open (open until 12:00)", "azure-sim", "503 (unavailable)", "1.5s", "250ms", "<td>unavailable</td>",
		"<td>7</td><td>9</td><td>3</td><td>0</td><td>5</td>", "$0.25", "1800 ms", "400 ms", "4bf92f3577b34da6a3ce929d0e0e4736",
		"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;hi&lt;/b&gt; &amp; bye", `<pre class="config" id="payload-request">`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("detail lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<script>") || strings.Contains(p.body, "<b>hi") {
		t.Error("the captured payload reaches the page unescaped")
	}

	p = b.get("/ui/requests/req_failed")
	for _, want := range []string{"Rate limit reached for solo.", "Not captured", "not routed", "No upstream attempt."} {
		if !strings.Contains(p.body, want) {
			t.Errorf("failed request's detail lacks %q", want)
		}
	}

	p = b.get("/ui/requests/req_nope")
	if p.status != http.StatusNotFound || !strings.Contains(p.body, "No request &#34;req_nope&#34;") {
		t.Errorf("unknown request = %d\n%s", p.status, p.body)
	}
	if p := b.get("/ui/requests/req_%3Cscript%3E"); p.status != http.StatusNotFound || strings.Contains(p.body, "<script>") {
		t.Errorf("unknown request with markup in its id = %d\n%s", p.status, p.body)
	}
}
