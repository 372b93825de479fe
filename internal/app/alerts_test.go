package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"switchyard/internal/admin"
	"switchyard/internal/billing"
	"switchyard/internal/config"
	"switchyard/internal/fakecloud"
	"switchyard/internal/route"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/syncbuf"
)

// alertSecret is the endpoints' Standard Webhooks secret (32 bytes).
var alertSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("switchyard-alerts-test-secret-32"))

// hook is a local webhook receiver that checks every standard delivery's
// signature by hand (HMAC-SHA256 of "id.timestamp.body").
type hook struct {
	*httptest.Server
	t        *testing.T
	mu       sync.Mutex
	failing  bool
	requests int
	accepted []alertDelivery
	arrived  chan struct{}
}

type alertDelivery struct {
	id   string
	Type string `json:"type"`
	Data struct {
		Kind, Subject, Threshold, Period, Summary string
	} `json:"data"`
}

func newHook(t *testing.T) *hook {
	h := &hook{t: t, arrived: make(chan struct{}, 100)}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(alertSecret, "whsec_"))
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, key)
		m.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "."))
		m.Write(body)
		if r.Header.Get("webhook-signature") != "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)) {
			t.Errorf("bad signature on %s", body)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.requests++
		if h.failing {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		d := alertDelivery{id: r.Header.Get("webhook-id")}
		if err := json.Unmarshal(body, &d); err != nil {
			t.Errorf("delivery %s: %v", body, err)
		}
		h.accepted = append(h.accepted, d)
		h.arrived <- struct{}{}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) setFailing(v bool) {
	h.mu.Lock()
	h.failing = v
	h.mu.Unlock()
}

func (h *hook) snapshot() (requests int, accepted []alertDelivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests, append([]alertDelivery(nil), h.accepted...)
}

// waitFor waits until accepted deliveries satisfy ok.
func (h *hook) waitFor(t *testing.T, what string, ok func([]alertDelivery) bool) []alertDelivery {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if _, acc := h.snapshot(); ok(acc) {
			return acc
		}
		select {
		case <-h.arrived:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			_, acc := h.snapshot()
			t.Fatalf("waiting for %s; deliveries: %+v", what, acc)
		}
	}
}

// thresholds counts accepted budget deliveries by subject and threshold.
func thresholds(ds []alertDelivery) map[string]int {
	out := map[string]int{}
	for _, d := range ds {
		if d.Type == "budget_threshold" {
			out[d.Data.Subject+" "+d.Data.Threshold]++
		}
	}
	return out
}

const alertGatewayConfig = `
listen: 127.0.0.1:0
store: {driver: @DRIVER@, dsn: "@DSN@"}
alerts:
  endpoints:
    - {name: ops, url: "@HOOK@", secret_env: ALERT_SECRET}
  check_interval: 50ms
providers:
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY}
models:
  - name: gpt-4o-mini
    offerings:
      - {provider: openai-sim, upstream_model: gpt-4o-mini, price: {input_per_mtok: 1, output_per_mtok: 2}}
`

// startAlertGateway runs a gateway in-process with alerts sent to h.
func startAlertGateway(t *testing.T, cloud string, driver, dsn string, h *hook) *Instance {
	t.Helper()
	yaml := strings.NewReplacer("@DRIVER@", driver, "@DSN@", dsn, "@HOOK@", h.URL, "FAKECLOUD", cloud).Replace(alertGatewayConfig)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Getenv: func(k string) string {
		switch k {
		case "SIM_KEY":
			return fakecloud.DefaultKey
		case "ALERT_SECRET":
			return alertSecret
		}
		return ""
	}, Stdout: io.Discard, Stderr: &syncbuf.Buffer{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := Start(context.Background(), cfg, env, StartOptions{Listener: ln, AdminListener: adminLn})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func startCloud(t *testing.T) string {
	t.Helper()
	_, ln, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return "http://" + ln.Addr().String()
}

// spend sends n chat requests with key to inst and flushes the ledger.
func spend(t *testing.T, inst *Instance, key string, n int) {
	t.Helper()
	c := openai.NewClient(option.WithBaseURL("http://"+inst.Addr()+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
	for range n {
		if _, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := inst.ledger.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// setBudget gives the tenant a daily budget of usd.
func setBudget(t *testing.T, inst *Instance, tenant string, usd float64) {
	t.Helper()
	day := store.PeriodDay
	if _, err := inst.admin.UpdateTenant(t.Context(), tenant, admin.TenantUpdate{LimitsUpdate: admin.LimitsUpdate{BudgetUSD: &usd, BudgetPeriod: &day}}); err != nil {
		t.Fatal(err)
	}
}

func tenantSpend(t *testing.T, st *sqlstore.Store, tenantID string) float64 {
	t.Helper()
	since, _ := store.PeriodStart(store.PeriodDay, time.Now())
	usd, err := st.SpendSince(t.Context(), tenantID, "", since)
	if err != nil {
		t.Fatal(err)
	}
	return usd
}

// TestAlerts_TwoReplicasOneDeliveryPerThreshold runs two gateways on one
// Postgres store, both checking budgets every 50ms: a tenant crossing
// 50%, then 80% and 100% of its budget is told once per threshold.
func TestAlerts_TwoReplicasOneDeliveryPerThreshold(t *testing.T) {
	dsn := sqlstore.TestDSN(t, sqlstore.DriverPostgres)
	cloud := startCloud(t)
	h := newHook(t)
	a := startAlertGateway(t, cloud, sqlstore.DriverPostgres, dsn, h)
	b := startAlertGateway(t, cloud, sqlstore.DriverPostgres, dsn, h)
	stopA, stopB := sync.OnceFunc(func() { a.Shutdown() }), sync.OnceFunc(func() { b.Shutdown() })
	t.Cleanup(stopA)
	t.Cleanup(stopB)
	iss, err := a.admin.IssueKey(t.Context(), admin.KeySpec{Tenant: "acme", CreateTenant: true, Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	spend(t, a, iss.Secret, 1)
	spend(t, b, iss.Secret, 1)
	spent := tenantSpend(t, a.store, iss.Key.TenantID)
	if spent <= 0 {
		t.Fatalf("spent %v", spent)
	}
	subject := "tenant:" + iss.Key.TenantID
	// 60% of the budget: the 50% threshold only.
	setBudget(t, a, "acme", spent/0.6)
	h.waitFor(t, "the 50% alert", func(ds []alertDelivery) bool { return thresholds(ds)[subject+" 50"] == 1 })
	// Past the budget: 80% and 100%.
	setBudget(t, a, "acme", spent*0.99)
	h.waitFor(t, "the 80% and 100% alerts", func(ds []alertDelivery) bool {
		th := thresholds(ds)
		return th[subject+" 80"] == 1 && th[subject+" 100"] == 1
	})
	// Both replicas check again (each has checked many times already),
	// then stop, finishing any delivery under way.
	for _, in := range []*Instance{a, b} {
		in.checker.check(t.Context(), time.Now())
	}
	metrics := scrapeAdmin(t, a)
	if !strings.Contains(metrics, `switchyard_budget_used_ratio{tenant="acme"}`) {
		t.Error("no switchyard_budget_used_ratio for acme")
	}
	stopA()
	stopB()
	_, acc := h.snapshot()
	th := thresholds(acc)
	// The run rate may also project the budget spent before its period
	// ends: that alert too comes once, whichever replica raised it.
	runsOut := 0
	for _, d := range acc {
		if d.Type == "budget_runs_out" {
			runsOut++
		}
	}
	if len(acc) != 3+runsOut || runsOut > 1 || th[subject+" 50"] != 1 || th[subject+" 80"] != 1 || th[subject+" 100"] != 1 {
		t.Errorf("deliveries = %v and %d budget_runs_out (%d in all), want one each of 50, 80 and 100, and at most one projection",
			th, runsOut, len(acc))
	}
	st, err := sqlstore.Open(t.Context(), sqlstore.DriverPostgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.ListAlerts(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(acc) {
		t.Errorf("%d outbox rows, want one per delivery (%d)", len(rows), len(acc))
	}
	for _, r := range rows {
		if r.DeliveredAt == nil {
			t.Errorf("alert %s not marked delivered", r.ID)
		}
	}
}

// TestAlerts_RestartDeliversPending stops a gateway while its receiver
// refuses an alert; the next gateway on the same store delivers it, once.
func TestAlerts_RestartDeliversPending(t *testing.T) {
	dsn := sqlstore.TestDSN(t, sqlstore.DriverSQLite)
	cloud := startCloud(t)
	h := newHook(t)
	h.setFailing(true)
	first := startAlertGateway(t, cloud, sqlstore.DriverSQLite, dsn, h)
	stopFirst := sync.OnceFunc(func() { first.Shutdown() })
	t.Cleanup(stopFirst)
	iss, err := first.admin.IssueKey(t.Context(), admin.KeySpec{Tenant: "acme", CreateTenant: true, Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	spend(t, first, iss.Secret, 1)
	setBudget(t, first, "acme", tenantSpend(t, first.store, iss.Key.TenantID)/0.9) // 90%: 50 and 80
	deadline := time.Now().Add(60 * time.Second)
	for {
		if n, _ := h.snapshot(); n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery attempted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopFirst()
	h.setFailing(false)
	second := startAlertGateway(t, cloud, sqlstore.DriverSQLite, dsn, h)
	t.Cleanup(func() { second.Shutdown() })
	subject := "tenant:" + iss.Key.TenantID
	acc := h.waitFor(t, "the 50% and 80% alerts after the restart", func(ds []alertDelivery) bool {
		th := thresholds(ds)
		return th[subject+" 50"] >= 1 && th[subject+" 80"] >= 1
	})
	second.Shutdown()
	_, acc = h.snapshot()
	// The run rate's projection of the budget (budget_runs_out) may come
	// too, once.
	runsOut := 0
	for _, d := range acc {
		if d.Type == "budget_runs_out" {
			runsOut++
		}
	}
	if th := thresholds(acc); len(acc) != 2+runsOut || runsOut > 1 || th[subject+" 50"] != 1 || th[subject+" 80"] != 1 {
		t.Errorf("deliveries = %v and %d budget_runs_out, want one each of 50 and 80 and at most one projection", th, runsOut)
	}
}

// TestAlerts_BreakerAndKeyExpiry raises a breaker opening (twice in one
// window: one alert) and a key about to expire through a gateway.
func TestAlerts_BreakerAndKeyExpiry(t *testing.T) {
	dsn := sqlstore.TestDSN(t, sqlstore.DriverSQLite)
	h := newHook(t)
	inst := startAlertGateway(t, startCloud(t), sqlstore.DriverSQLite, dsn, h)
	t.Cleanup(func() { inst.Shutdown() })
	exp := time.Now().Add(48 * time.Hour)
	iss, err := inst.admin.IssueKey(t.Context(), admin.KeySpec{Tenant: "acme", CreateTenant: true, Name: "soon", ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	open := breakerAlert(inst.alerts, time.Hour)
	now := time.Now()
	open("openai-sim", now)
	open("openai-sim", now.Add(time.Second))
	h.waitFor(t, "the breaker and key alerts", func(ds []alertDelivery) bool {
		var breaker, key bool
		for _, d := range ds {
			breaker = breaker || d.Type == "breaker_open" && d.Data.Subject == "channel:openai-sim"
			key = key || d.Type == "key_expiring" && d.Data.Subject == "key:"+iss.Key.ID
		}
		return breaker && key
	})
	inst.checker.check(t.Context(), time.Now())
	inst.Shutdown()
	_, acc := h.snapshot()
	if len(acc) != 2 {
		t.Errorf("deliveries = %+v, want one breaker and one key alert", acc)
	}
}

// scrapeAdmin returns the admin listener's /metrics.
func scrapeAdmin(t *testing.T, in *Instance) string {
	t.Helper()
	resp, err := http.Get(in.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestAlerts_CommitmentAndCompliance checks a commitment behind its pace
// past the grace, and a request a contract forbids in the ledger.
func TestAlerts_CommitmentAndCompliance(t *testing.T) {
	cfg := mustParse(t, `
store: {driver: sqlite, dsn: x.db}
providers:
  - {name: a, type: openai, api_key_env: K}
  - {name: b, type: openai, api_key_env: K}
models:
  - name: m
    offerings: [{provider: a}, {provider: b}]
contracts:
  - name: only-a
    match: {models: [m]}
    allow: {providers: [a]}
  - name: b-commitment
    commitment: {provider: b, amount_usd: 1000, period: month}
`)
	router, err := buildRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	ten := &store.Tenant{Name: "acme"}
	if err := st.CreateTenant(t.Context(), ten); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	mid := time.Date(now.Year(), now.Month(), 15, 12, 0, 0, 0, time.UTC)
	if err := st.InsertUsage(t.Context(), []store.UsageRecord{{RequestID: "req_1", TenantID: ten.ID, Model: "m", Provider: "b",
		Status: 200, Traffic: "stateless", CreatedAt: mid.Add(-time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	h := newHook(t)
	d, err := buildAlerts(config.Alerts{Endpoints: []config.AlertEndpoint{{Name: "ops", URL: h.URL, Format: "standard",
		SecretEnv: "S"}}}, func(string) string { return alertSecret }, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	defer d.Close()
	ac := config.Default().Alerts
	c := &alertChecker{cfg: ac, st: st, router: func() *route.Router { return router }, d: d, log: slog.New(slog.DiscardHandler)}
	// A day into the month (within the 10% grace) the pace is not judged
	// (and the request is not in the compliance window yet).
	c.check(t.Context(), time.Date(now.Year(), now.Month(), 2, 0, 0, 0, 0, time.UTC))
	if rows, err := st.ListAlerts(t.Context(), 10); err != nil || len(rows) != 0 {
		t.Fatalf("alerts within the grace: %+v, %v", rows, err)
	}
	c.check(t.Context(), mid)
	acc := h.waitFor(t, "the commitment and compliance alerts", func(ds []alertDelivery) bool { return len(ds) >= 3 })
	got := map[string]string{}
	for _, d := range acc {
		got[d.Type] = d.Data.Subject + " " + d.Data.Period
	}
	if got["commitment_behind"] != "commitment:b-commitment/b "+time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339) {
		t.Errorf("commitment alert = %q", got["commitment_behind"])
	}
	if got["compliance_violation"] != "contract:only-a/b "+mid.Format("2006-01-02") {
		t.Errorf("compliance alert = %q", got["compliance_violation"])
	}
	// Nothing spent on b in half a month: its run rate ends the period
	// far short of the $1000.
	if got["commitment_ends_short"] != "commitment:b-commitment/b "+time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339) {
		t.Errorf("projection alert = %q", got["commitment_ends_short"])
	}
	// Checked again: nothing new.
	c.check(t.Context(), mid)
	d.Close()
	if _, acc := h.snapshot(); len(acc) != 3 {
		t.Errorf("%d deliveries, want 3: %+v", len(acc), acc)
	}
}

// TestAlerts_BillDrift: a reconciliation's discrepancies raise one
// bill_drift alert each, once however often the bill is reconciled.
func TestAlerts_BillDrift(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	h := newHook(t)
	d, err := buildAlerts(config.Alerts{Endpoints: []config.AlertEndpoint{{Name: "ops", URL: h.URL, Format: "standard",
		SecretEnv: "S"}}}, func(string) string { return alertSecret }, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	defer d.Close()
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	rec := &billing.Reconciliation{Provider: "aws", ThresholdPct: 5, ThresholdUSD: 0.01, Discrepancies: []billing.ReconcileRow{
		{Day: day, Channel: "bedrock-us", Model: "claude", BilledUSD: 9.9, LedgerUSD: 6, DiffUSD: 3.9, DiffPct: 65},
		{Day: day, Channel: "bedrock-eu", BilledUSD: 1, LedgerUSD: 0, DiffUSD: 1, DiffPct: 100},
	}}
	for range 2 {
		if err := billDrift(t.Context(), d, rec); err != nil {
			t.Fatal(err)
		}
	}
	h.waitFor(t, "two bill_drift alerts", func(ds []alertDelivery) bool { return len(ds) >= 2 })
	d.Close()
	_, acc := h.snapshot()
	got := map[string]bool{}
	for _, a := range acc {
		got[a.Type+" "+a.Data.Subject+" "+a.Data.Threshold+" "+a.Data.Period] = true
	}
	if len(acc) != 2 || !got["bill_drift channel:bedrock-us claude 2026-11-02"] || !got["bill_drift channel:bedrock-eu (all) 2026-11-02"] {
		t.Errorf("deliveries %+v, want one bill_drift per discrepancy", acc)
	}
}
