package alert

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// testSecret is a Standard Webhooks secret: 32 bytes, base64.
const testSecret = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="

// delivery is one request the receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver is a local webhook endpoint. fail answers the n-th request
// (from 1) with a status, or 0 to accept it.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	all      []delivery
	accepted chan delivery
	fail     func(n int) int
}

func newReceiver(t *testing.T, fail func(n int) int) *receiver {
	t.Helper()
	r := &receiver{accepted: make(chan delivery, 100), fail: fail}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		d := delivery{header: req.Header.Clone(), body: body}
		r.mu.Lock()
		r.all = append(r.all, d)
		n := len(r.all)
		r.mu.Unlock()
		if r.fail != nil {
			if code := r.fail(n); code != 0 {
				w.WriteHeader(code)
				return
			}
		}
		r.accepted <- d
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.all...)
}

// next waits for an accepted delivery.
func (r *receiver) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-r.accepted:
		return d
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery")
		return delivery{}
	}
}

func testEndpoint(t *testing.T, url, format string) Endpoint {
	t.Helper()
	secret, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return Endpoint{Name: "ops", URL: url, Format: format, Secret: secret}
}

func startDispatcher(t *testing.T, st Outbox, o Options) *Dispatcher {
	t.Helper()
	o.Outbox = st
	if o.MinBackoff == 0 {
		o.MinBackoff, o.MaxBackoff = time.Millisecond, 10*time.Millisecond
	}
	d := New(o)
	d.Start()
	t.Cleanup(func() { d.Close() })
	return d
}

func budgetEvent(threshold string) Event {
	return Event{Kind: BudgetThreshold, Subject: "tenant:ten_1", Threshold: threshold, Period: "2026-12",
		Summary: "tenant acme spent 81% of its monthly budget", Details: map[string]any{"spent_usd": 81.5, "budget_usd": 100},
		At: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
}

// verifyByHand checks a standard delivery's signature without the
// package's own Sign.
func verifyByHand(t *testing.T, d delivery) {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(testSecret, "whsec_"))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(d.header.Get("webhook-id") + "." + d.header.Get("webhook-timestamp") + "."))
	m.Write(d.body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	if got := d.header.Get("webhook-signature"); got != want {
		t.Errorf("webhook-signature = %q, want %q", got, want)
	}
}

func TestDeliver_StandardSigned(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	rcv := newReceiver(t, nil)
	d := startDispatcher(t, st, Options{Endpoints: []Endpoint{testEndpoint(t, rcv.URL, FormatStandard)}})
	if err := d.Raise(t.Context(), budgetEvent("80")); err != nil {
		t.Fatal(err)
	}
	got := rcv.next(t)
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got.body, got.header); err != nil {
		t.Errorf("standard-webhooks library: %v", err)
	}
	verifyByHand(t, got)
	if !strings.HasPrefix(got.header.Get("webhook-id"), "alt_") {
		t.Errorf("webhook-id = %q", got.header.Get("webhook-id"))
	}
	if ts, err := strconv.ParseInt(got.header.Get("webhook-timestamp"), 10, 64); err != nil || ts <= 0 {
		t.Errorf("webhook-timestamp = %q", got.header.Get("webhook-timestamp"))
	}
	var p struct {
		Type      string
		Timestamp time.Time
		Data      struct {
			Kind, Subject, Threshold, Period, Summary string
			Details                                   map[string]any
		}
	}
	if err := json.Unmarshal(got.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "budget_threshold" || p.Data.Kind != "budget_threshold" || p.Data.Subject != "tenant:ten_1" ||
		p.Data.Threshold != "80" || p.Data.Period != "2026-12" || p.Data.Details["spent_usd"] != 81.5 || p.Timestamp.IsZero() {
		t.Errorf("body = %s", got.body)
	}
	// A tampered body fails verification: the check above can fail.
	if err := wh.Verify(append(got.body, ' '), got.header); err == nil {
		t.Error("a tampered body verified")
	}
}

func TestDeliver_SlackBody(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	rcv := newReceiver(t, nil)
	ep := Endpoint{Name: "chat", URL: rcv.URL, Format: FormatSlack}
	d := startDispatcher(t, st, Options{Endpoints: []Endpoint{ep}})
	ev := budgetEvent("80")
	ev.Details["tenant"] = "<!channel> & co"
	if err := d.Raise(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	got := rcv.next(t)
	if got.header.Get("webhook-signature") != "" {
		t.Error("a slack delivery is signed")
	}
	var m map[string]any
	if err := json.Unmarshal(got.body, &m); err != nil {
		t.Fatal(err)
	}
	if m["text"] != "Switchyard: tenant acme spent 81% of its monthly budget" {
		t.Errorf("text = %v", m["text"])
	}
	blocks, _ := m["blocks"].([]any)
	if len(blocks) != 1 {
		t.Fatalf("blocks = %v", m["blocks"])
	}
	b := blocks[0].(map[string]any)
	text := b["text"].(map[string]any)
	if b["type"] != "section" || text["type"] != "mrkdwn" || !strings.Contains(text["text"].(string), "spent_usd: 81.5") ||
		!strings.Contains(text["text"].(string), "&lt;!channel&gt; &amp; co") {
		t.Errorf("block = %v", b)
	}
	for k := range m {
		if k != "text" && k != "blocks" {
			t.Errorf("unexpected field %q", k)
		}
	}
}

func TestDeliver_RetriedThenDeliveredOnce(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	rcv := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	d := startDispatcher(t, st, Options{Endpoints: []Endpoint{testEndpoint(t, rcv.URL, FormatStandard)}})
	if err := d.Raise(t.Context(), budgetEvent("80")); err != nil {
		t.Fatal(err)
	}
	rcv.next(t)
	d.Close()
	reqs := rcv.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if r.header.Get("webhook-id") != reqs[0].header.Get("webhook-id") {
			t.Error("retries carry different webhook-ids")
		}
		verifyByHand(t, r)
	}
	as, err := st.ListAlerts(t.Context(), 10)
	if err != nil || len(as) != 1 || as[0].DeliveredAt == nil || as[0].Attempts != 3 {
		t.Fatalf("outbox = %+v, %v", as, err)
	}
}

func TestDeliver_PermanentRefusalGivesUp(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	rcv := newReceiver(t, func(int) int { return http.StatusGone })
	d := startDispatcher(t, st, Options{Endpoints: []Endpoint{testEndpoint(t, rcv.URL, FormatStandard)}})
	if err := d.Raise(t.Context(), budgetEvent("80")); err != nil {
		t.Fatal(err)
	}
	as := waitAlert(t, st, func(a store.Alert) bool { return a.GaveUpAt != nil })
	if as.Attempts != 1 || !strings.Contains(as.LastError, "410") {
		t.Errorf("alert = %+v", as)
	}
}

func TestDeliver_AttemptsBounded(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	rcv := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	d := startDispatcher(t, st, Options{Endpoints: []Endpoint{testEndpoint(t, rcv.URL, FormatStandard)}, MaxAttempts: 3})
	if err := d.Raise(t.Context(), budgetEvent("80")); err != nil {
		t.Fatal(err)
	}
	as := waitAlert(t, st, func(a store.Alert) bool { return a.GaveUpAt != nil })
	if as.Attempts != 3 || len(rcv.requests()) != 3 {
		t.Errorf("alert = %+v after %d requests", as, len(rcv.requests()))
	}
}

// waitAlert waits until the only alert in st satisfies ok.
func waitAlert(t *testing.T, st *sqlstore.Store, ok func(store.Alert) bool) store.Alert {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		as, err := st.ListAlerts(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) == 1 && ok(as[0]) {
			return as[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts = %+v", as)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRaise_OncePerKeyAcrossDispatchers(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	rcv := newReceiver(t, nil)
	eps := []Endpoint{testEndpoint(t, rcv.URL, FormatStandard)}
	a := startDispatcher(t, st, Options{Endpoints: eps})
	b := startDispatcher(t, st, Options{Endpoints: eps})
	var wg sync.WaitGroup
	for _, d := range []*Dispatcher{a, b, a, b} {
		for _, th := range []string{"50", "80"} {
			wg.Go(func() {
				if err := d.Raise(t.Context(), budgetEvent(th)); err != nil {
					t.Error(err)
				}
			})
		}
	}
	// Notify goes through the same record.
	a.Notify(budgetEvent("50"))
	wg.Wait()
	rcv.next(t)
	rcv.next(t)
	a.Close()
	b.Close()
	seen := map[string]int{}
	for _, r := range rcv.requests() {
		var p payload
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		seen[p.Data.Threshold]++
	}
	if seen["50"] != 1 || seen["80"] != 1 || len(seen) != 2 {
		t.Errorf("deliveries by threshold = %v, want one each of 50 and 80", seen)
	}
}

func TestRestart_DeliversPendingAlert(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	var down sync.Mutex
	failing := true
	rcv := newReceiver(t, func(int) int {
		down.Lock()
		defer down.Unlock()
		if failing {
			return http.StatusBadGateway
		}
		return 0
	})
	eps := []Endpoint{testEndpoint(t, rcv.URL, FormatStandard)}
	// The first run fails once and then waits an hour to retry: it stops
	// with the alert undelivered.
	first := startDispatcher(t, st, Options{Endpoints: eps, MinBackoff: time.Hour, MaxBackoff: time.Hour, MaxElapsed: 2 * time.Hour})
	if err := first.Raise(t.Context(), budgetEvent("100")); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, st, func(a store.Alert) bool { return a.Attempts == 1 })
	first.Close()
	down.Lock()
	failing = false
	down.Unlock()
	// The next run takes it over at start.
	startDispatcher(t, st, Options{Endpoints: eps})
	got := rcv.next(t)
	a := waitAlert(t, st, func(a store.Alert) bool { return a.DeliveredAt != nil })
	if a.Attempts != 2 || got.header.Get("webhook-id") != a.ID {
		t.Errorf("alert = %+v, delivered as %q", a, got.header.Get("webhook-id"))
	}
}

func TestTakeover_LapsedLease(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	rcv := newReceiver(t, nil)
	ev := budgetEvent("80")
	body, err := encode(&ev)
	if err != nil {
		t.Fatal(err)
	}
	// A replica recorded the alert and died holding its lease.
	a := store.Alert{Key: ev.key("ops"), Endpoint: "ops", Kind: string(ev.Kind), Subject: ev.Subject, Body: body}
	if ok, err := st.InsertAlert(t.Context(), &a, "dead", time.Now().Add(200*time.Millisecond)); err != nil || !ok {
		t.Fatal(ok, err)
	}
	d := startDispatcher(t, st, Options{Endpoints: []Endpoint{testEndpoint(t, rcv.URL, FormatStandard)}, SweepEvery: 20 * time.Millisecond})
	// Raising it again does not deliver it: it is recorded, and leased.
	if err := d.Raise(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	got := rcv.next(t)
	if got.header.Get("webhook-id") != a.ID {
		t.Errorf("delivered %q, want %q", got.header.Get("webhook-id"), a.ID)
	}
	d.Close()
	if n := len(rcv.requests()); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
}

func TestEndpoint_EventsFilter(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	rcv := newReceiver(t, nil)
	ep := testEndpoint(t, rcv.URL, FormatStandard)
	ep.Events = []Kind{BreakerOpen}
	d := startDispatcher(t, st, Options{Endpoints: []Endpoint{ep}})
	if err := d.Raise(t.Context(), budgetEvent("80")); err != nil {
		t.Fatal(err)
	}
	if err := d.Raise(t.Context(), Event{Kind: BreakerOpen, Subject: "channel:a", Period: "2026-12-07T12:00:00Z", Summary: "open"}); err != nil {
		t.Fatal(err)
	}
	got := rcv.next(t)
	if !strings.Contains(string(got.body), `"type":"breaker_open"`) {
		t.Errorf("body = %s", got.body)
	}
	as, _ := st.ListAlerts(t.Context(), 10)
	if len(as) != 1 {
		t.Errorf("%d alerts recorded, want only the breaker's", len(as))
	}
}

func TestParseSecret(t *testing.T) {
	if b, err := ParseSecret(testSecret); err != nil || len(b) != 32 {
		t.Errorf("ParseSecret = %d bytes, %v", len(b), err)
	}
	for _, bad := range []string{"", "whsec_", "whsec_not base64!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "base64!") {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
}

func FuzzParseSecret(f *testing.F) {
	f.Add(testSecret)
	f.Add("whsec_")
	f.Add("whsec_AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseSecret(s)
		if err == nil && (len(b) < 24 || len(b) > 64) {
			t.Fatalf("accepted a %d-byte secret", len(b))
		}
		if err != nil && len(s) > 12 && strings.Contains(err.Error(), s) {
			t.Fatalf("error repeats the secret: %v", err)
		}
	})
}

func FuzzDecode(f *testing.F) {
	ev := budgetEvent("80")
	body, _ := encode(&ev)
	f.Add(body)
	f.Add(`{"type":"x","data":{"kind":"x"}}`)
	f.Add(`{"type":"","data":null}`)
	f.Fuzz(func(t *testing.T, s string) {
		ev, err := decode(s)
		if err != nil {
			return
		}
		// What decodes renders for both formats and round-trips.
		if _, err := slackBody(ev); err != nil {
			t.Fatal(err)
		}
		again, err := encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decode(again); err != nil {
			t.Fatalf("re-encoded body does not decode: %v", err)
		}
	})
}
