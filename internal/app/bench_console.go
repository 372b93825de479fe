package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// The console scenario seeds a ledger of -ledger-rows requests spread
// over the last 30 days (several tenants, keys, models, channels and
// contracts, a few per cent failed), rolls it up as the gateway's upkeep
// does, starts a gateway on it and times every console page, signed in
// as an operator is.

// consoleTarget is the time one console page may take to render.
const consoleTarget = 200 * time.Millisecond

// consoleCatalog is the console gateway's channels, models and contracts.
// Every channel is the fast simulated upstream; the regions and
// contracts give the contracts page its traffic, compliance and
// burn-down charts.
const consoleCatalog = `ledger: {maintenance_interval: 1h}
providers:
  - {name: azure-us, type: openai, base_url: "{{upstream}}/openai/v1", api_key_env: BENCH_UPSTREAM_KEY, region: eastus}
  - {name: azure-eu, type: openai, base_url: "{{upstream}}/openai/v1", api_key_env: BENCH_UPSTREAM_KEY, region: swedencentral}
  - {name: aws-us, type: openai, base_url: "{{upstream}}/openai/v1", api_key_env: BENCH_UPSTREAM_KEY, region: us-east-1}
  - {name: aws-eu, type: openai, base_url: "{{upstream}}/openai/v1", api_key_env: BENCH_UPSTREAM_KEY, region: eu-central-1}
  - {name: anthropic, type: openai, base_url: "{{upstream}}/openai/v1", api_key_env: BENCH_UPSTREAM_KEY, region: us}
models:
  - name: gpt-5
    offerings:
      - {provider: azure-us, upstream_model: gpt-5, price: {input_per_mtok: 1.25, output_per_mtok: 10}}
      - {provider: aws-us, upstream_model: gpt-5, price: {input_per_mtok: 1.25, output_per_mtok: 10}}
      - {provider: azure-eu, upstream_model: gpt-5, price: {input_per_mtok: 1.25, output_per_mtok: 10}}
      - {provider: aws-eu, upstream_model: gpt-5, price: {input_per_mtok: 1.25, output_per_mtok: 10}}
  - name: gpt-4o-mini
    offerings:
      - {provider: azure-us, upstream_model: gpt-4o-mini, price: {input_per_mtok: 0.15, output_per_mtok: 0.6}}
      - {provider: azure-eu, upstream_model: gpt-4o-mini, price: {input_per_mtok: 0.15, output_per_mtok: 0.6}}
  - name: claude-sonnet-4
    offerings:
      - {provider: anthropic, upstream_model: claude-sonnet-4, price: {input_per_mtok: 3, output_per_mtok: 15}}
      - {provider: aws-us, upstream_model: claude-sonnet-4, price: {input_per_mtok: 3, output_per_mtok: 15}}
      - {provider: aws-eu, upstream_model: claude-sonnet-4, price: {input_per_mtok: 3, output_per_mtok: 15}}
  - name: llama-70b
    offerings:
      - {provider: aws-us, upstream_model: llama-70b, price: {input_per_mtok: 0.7, output_per_mtok: 0.9}}
      - {provider: aws-eu, upstream_model: llama-70b, price: {input_per_mtok: 0.7, output_per_mtok: 0.9}}
  - name: embed-small
    offerings:
      - {provider: azure-us, upstream_model: text-embedding-3-small, price: {input_per_mtok: 0.02}}
      - {provider: azure-eu, upstream_model: text-embedding-3-small, price: {input_per_mtok: 0.02}}
contracts:
  - name: eu-stays-in-eu
    match: {tenants: [acme-eu]}
    allow: {regions: ["eu-*", swedencentral]}
  - name: aws-commitment
    commitment: {provider: aws-us, amount_usd: 60000, period: month}
  - name: azure-commitment
    commitment: {provider: azure-us, amount_usd: 40000, period: month}
`

// consoleModel is a model of the seeded ledger: its channels in routing
// order for US and EU tenants, its prices per million tokens and how
// often it is asked for.
type consoleModel struct {
	name         string
	us, eu       []string
	inPrice, out float64
	weight       int
	embedding    bool
	usContracts  []string
}

var consoleModels = []consoleModel{
	{name: "gpt-5", us: []string{"azure-us", "aws-us"}, eu: []string{"azure-eu", "aws-eu"}, inPrice: 1.25, out: 10, weight: 3,
		usContracts: []string{"aws-commitment", "azure-commitment"}},
	{name: "gpt-4o-mini", us: []string{"azure-us", "azure-eu"}, eu: []string{"azure-eu"}, inPrice: 0.15, out: 0.6, weight: 5,
		usContracts: []string{"azure-commitment"}},
	{name: "claude-sonnet-4", us: []string{"anthropic", "aws-us"}, eu: []string{"aws-eu"}, inPrice: 3, out: 15, weight: 3,
		usContracts: []string{"aws-commitment"}},
	{name: "llama-70b", us: []string{"aws-us", "aws-eu"}, eu: []string{"aws-eu"}, inPrice: 0.7, out: 0.9, weight: 1,
		usContracts: []string{"aws-commitment"}},
	{name: "embed-small", us: []string{"azure-us", "azure-eu"}, eu: []string{"azure-eu"}, inPrice: 0.02, weight: 2, embedding: true,
		usContracts: []string{"azure-commitment"}},
}

// consoleTenants are the seeded tenants; acme-eu is under the EU
// contract. Each gets consoleKeysPerTenant keys.
var consoleTenants = []string{"acme", "acme-eu", "globex", "initech", "umbrella", "hooli", "stark", "wayne"}

const consoleKeysPerTenant = 3

// seededLedger is what seedConsoleLedger made: the tenants' IDs by name
// and one request ID of the ledger, and how long seeding and the rollup
// took.
type seededLedger struct {
	tenants map[string]string
	request string
	took    time.Duration
	rolled  time.Duration
	// analyzed is how long refreshing Postgres's statistics took (zero on
	// SQLite).
	analyzed time.Duration
}

// seedConsoleLedger creates the tenants and keys and inserts n usage
// records spread evenly (with jitter) over the 30 days before now, in
// batches of 10,000 records, each batch one transaction, then rolls up
// every complete hour. On Postgres it then vacuums and analyzes the
// ledger's tables, as autovacuum would shortly after such a load.
func seedConsoleLedger(ctx context.Context, driver, dsn string, n int, now time.Time) (*seededLedger, error) {
	st, err := sqlstore.Open(ctx, driver, dsn)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	svc := &admin.Service{Store: st}
	out := &seededLedger{tenants: map[string]string{}}
	type key struct{ id, tenantID, tenant string }
	var keys []key
	for _, name := range consoleTenants {
		for i := range consoleKeysPerTenant {
			iss, err := svc.IssueKey(ctx, admin.KeySpec{Tenant: name, CreateTenant: true, Name: fmt.Sprintf("%s-%d", name, i)})
			if err != nil {
				return nil, fmt.Errorf("issuing a key of %s: %w", name, err)
			}
			out.tenants[name] = iss.Key.TenantID
			keys = append(keys, key{iss.Key.ID, iss.Key.TenantID, name})
		}
	}
	var models []int // index into consoleModels, repeated by weight
	for i, m := range consoleModels {
		for range m.weight {
			models = append(models, i)
		}
	}
	rng := rand.New(rand.NewPCG(1, 14))
	start := now.Add(-30*24*time.Hour + time.Hour)
	span := now.Sub(start)
	const batch = 10_000
	recs := make([]store.UsageRecord, 0, batch)
	began := time.Now()
	for i := range n {
		k := keys[rng.IntN(len(keys))]
		m := consoleModels[models[rng.IntN(len(models))]]
		channels, contracts := m.us, m.usContracts
		if k.tenant == "acme-eu" {
			channels, contracts = m.eu, []string{"eu-stays-in-eu"}
		}
		at := start.Add(time.Duration(float64(span) * (float64(i) + rng.Float64()) / float64(n)))
		r := store.UsageRecord{RequestID: fmt.Sprintf("req_bench%09d", i), TenantID: k.tenantID, KeyID: k.id, Model: m.name,
			Dialect: "openai", Endpoint: "chat", Traffic: "stateless", Stream: rng.IntN(3) == 0, Status: http.StatusOK,
			Contracts: contracts, CreatedAt: at, Strategy: "priority"}
		if m.embedding {
			r.Endpoint, r.Stream = "embeddings", false
		}
		if rng.IntN(10) == 0 {
			r.Traffic = "stateful"
		}
		// Most requests are served by the first channel; a few fall back
		// to the second after a failure; a few fail outright.
		attempted := channels[:1]
		switch x := rng.IntN(1000); {
		case x < 40 && len(channels) > 1:
			attempted = channels[:2]
			r.AttemptLog = []store.Attempt{{Channel: channels[0], UpstreamModel: m.name, Status: 503, ErrorKind: "upstream_unavailable",
				Duration: 80 * time.Millisecond, Fallback: "upstream_unavailable"}}
		case x < 55:
			r.Status, r.ErrorKind, r.Error = 429, "rate_limited", "rate limit exceeded for this key"
		case x < 65:
			r.Status, r.ErrorKind, r.Error = 502, "upstream_error", "the channel answered with an error"
		}
		r.Provider, r.UpstreamModel = attempted[len(attempted)-1], m.name
		r.Attempts = len(attempted)
		r.AttemptLog = append(r.AttemptLog, store.Attempt{Channel: r.Provider, UpstreamModel: m.name, Status: r.Status, ErrorKind: r.ErrorKind,
			Duration: time.Duration(200+rng.IntN(3000)) * time.Millisecond})
		r.Route = "strategy=priority; attempts=" + strings.Join(attempted, ",") + "; contracts=" + strings.Join(contracts, ",")
		if r.Status == http.StatusOK {
			r.InputTokens = int64(50 + rng.IntN(4000))
			if !m.embedding {
				r.OutputTokens = int64(10 + rng.IntN(1200))
			}
			r.CostUSD = (float64(r.InputTokens)*m.inPrice + float64(r.OutputTokens)*m.out) / 1e6
		}
		r.Latency = r.AttemptLog[len(r.AttemptLog)-1].Duration
		if r.Stream {
			r.TTFB = r.Latency / 5
		}
		recs = append(recs, r)
		if len(recs) == batch || i == n-1 {
			if err := st.InsertUsage(ctx, recs); err != nil {
				return nil, err
			}
			recs = recs[:0]
		}
		if i == n/2 {
			out.request = r.RequestID
		}
	}
	out.took = time.Since(began)
	began = time.Now()
	if _, err := st.Rollup(ctx, now); err != nil {
		return nil, err
	}
	out.rolled = time.Since(began)
	if driver == sqlstore.DriverPostgres {
		began = time.Now()
		if err := st.RefreshLedgerStatistics(ctx); err != nil {
			return nil, err
		}
		out.analyzed = time.Since(began)
	}
	return out, nil
}

// consolePage is one page the scenario times.
type consolePage struct {
	label, path string
}

func (b *bench) console(ctx context.Context) (string, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n## Console on a million rows\n\n"+
		"A ledger of %d requests spread over the last 30 days (%d tenants with %d keys each, %d models on 5 channels, an EU\n"+
		"tenant under an exclusivity contract, two commitments, 4%% of requests falling back to a second channel and 2.5%%\n"+
		"failing), inserted through the store in transactions of 10,000 rows and rolled up as the gateway's upkeep does\n"+
		"(the current hour stays raw; on Postgres the ledger's tables are then vacuumed and analyzed, as autovacuum\n"+
		"would soon after such a load). A gateway child then serves the console on it; the bench signs in with the admin\n"+
		"token and renders each page %d times in turn, after one warm-up render, timing each from the request to the\n"+
		"last byte of the page. Target: every page under %s; met means its slowest render was.\n",
		b.ledgerRows, len(consoleTenants), consoleKeysPerTenant, len(consoleModels), b.renders, consoleTarget)
	var stores []struct{ name, dsn string }
	for _, s := range strings.Split(b.consoleStores, ",") {
		switch s = strings.TrimSpace(s); s {
		case "sqlite":
			stores = append(stores, struct{ name, dsn string }{"SQLite", ""})
		case "postgres":
			if b.postgres == "" {
				b.notes = append(b.notes, "the console on a million rows on Postgres (no -postgres DSN)")
				continue
			}
			stores = append(stores, struct{ name, dsn string }{"Postgres", "postgres"})
		case "":
		default:
			return "", fmt.Errorf("-console-stores: unknown store %q (sqlite, postgres)", s)
		}
	}
	for _, s := range stores {
		fmt.Fprintf(b.env.Stderr, "bench: console: %s: seeding %d rows\n", s.name, b.ledgerRows)
		out, err := b.consoleOn(ctx, s.name, s.dsn)
		if err != nil {
			return "", fmt.Errorf("%s: %w", s.name, err)
		}
		sb.WriteString(out)
	}
	return sb.String(), nil
}

// consoleOn seeds a store (SQLite when dsn is "", a scratch Postgres
// schema otherwise) and times the console's pages on it.
func (b *bench) consoleOn(ctx context.Context, name, dsn string) (string, error) {
	driver := sqlstore.DriverSQLite
	gwName := "console-" + strings.ToLower(name)
	if dsn == "" {
		dsn = filepath.Join(b.dir, gwName+".db")
	} else {
		driver = sqlstore.DriverPostgres
		d, drop, _, err := b.scratchStores(ctx)
		if err != nil {
			return "", err
		}
		defer drop()
		dsn = d
	}
	now := time.Now()
	seeded, err := seedConsoleLedger(ctx, driver, dsn, b.ledgerRows, now)
	if err != nil {
		return "", fmt.Errorf("seeding: %w", err)
	}
	// startGateway opens <dir>/<name>.db for a SQLite store.
	o := gatewayOptions{name: gwName, catalog: consoleCatalog}
	if driver == sqlstore.DriverPostgres {
		o.storeDSN = dsn
	}
	g, err := b.startGateway(ctx, o)
	if err != nil {
		return "", err
	}
	defer g.stop()
	c, err := consoleSignIn(ctx, g.admin)
	if err != nil {
		return "", err
	}
	cursor, err := secondPageCursor(ctx, g.admin)
	if err != nil {
		return "", err
	}
	pages := []consolePage{
		{"overview", "/ui/"},
		{"channels", "/ui/channels"},
		{"models", "/ui/models"},
		{"route explain", "/ui/models?model=gpt-5&tenant=acme-eu&traffic=stateless"},
		{"contracts (30 days, compliance, 2 burn-downs)", "/ui/contracts"},
		{"tenants (30-day spend)", "/ui/tenants"},
		{"one tenant (30-day spend by key)", "/ui/tenants/" + url.PathEscape(seeded.tenants["acme"])},
		{"usage by tenant, 24 h", "/ui/usage"},
		{"usage by key, 30 days", "/ui/usage?by=key&since=30d"},
		{"usage by contract, 30 days", "/ui/usage?by=contract&since=30d"},
		{"usage CSV by model, 30 days", "/ui/usage.csv?by=model&since=30d"},
		{"requests, newest", "/ui/requests"},
		{"requests, next page", "/ui/requests?cursor=" + url.QueryEscape(cursor)},
		{"requests, tenant and status 502", "/ui/requests?tenant=acme&status=502"},
		{"one request", "/ui/requests/" + url.PathEscape(seeded.request)},
		{"configuration", "/ui/config"},
	}
	times := make([][]time.Duration, len(pages))
	for round := -1; round < b.renders; round++ {
		for i, p := range pages {
			d, err := renderPage(ctx, c, g.admin+p.path)
			if err != nil {
				return "", fmt.Errorf("%s: %w", p.label, err)
			}
			if round >= 0 {
				times[i] = append(times[i], d)
			}
		}
	}
	var sb strings.Builder
	analyzed := ""
	if seeded.analyzed > 0 {
		analyzed = fmt.Sprintf(", vacuumed and analyzed in %s (VACUUM ANALYZE of the ledger's tables, which autovacuum would do shortly after such a load)",
			seeded.analyzed.Round(100*time.Millisecond))
	}
	fmt.Fprintf(&sb, "\n### %s\n\nSeeded in %s (%.0f rows/s), rolled up in %s%s; the gateway's store is %s.\n\n",
		name, seeded.took.Round(time.Second), float64(b.ledgerRows)/seeded.took.Seconds(), seeded.rolled.Round(100*time.Millisecond), analyzed,
		storeDescription(driver))
	sb.WriteString("| page | median | max | target | met |\n|---|---|---|---|---|\n")
	for i, p := range pages {
		med, top := percentile(times[i], 50), slices.Max(times[i])
		met := "yes"
		if top >= consoleTarget {
			met = "**no**"
		}
		fmt.Fprintf(&sb, "| %s (`%s`) | %s | %s | < %s | %s |\n", p.label, shortPath(p.path), ms(med), ms(top), ms(consoleTarget), met)
	}
	return sb.String(), nil
}

func storeDescription(driver string) string {
	if driver == sqlstore.DriverPostgres {
		return "a scratch schema on the machine's Postgres"
	}
	return "a SQLite file"
}

// shortPath drops a long cursor or ID from a page's path, for the table.
func shortPath(p string) string {
	if i := strings.Index(p, "cursor="); i >= 0 {
		return p[:i] + "cursor=…"
	}
	if strings.HasPrefix(p, "/ui/tenants/") {
		return "/ui/tenants/{id}"
	}
	if strings.HasPrefix(p, "/ui/requests/") {
		return "/ui/requests/{id}"
	}
	return p
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleSignIn signs in to the console at adminURL with the bench's
// admin token and returns a client carrying the session.
func consoleSignIn(ctx context.Context, adminURL string) (*http.Client, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/ui/signin", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	m := csrfField.FindSubmatch(body)
	if m == nil {
		return nil, fmt.Errorf("the sign-in form (status %d) has no CSRF token", resp.StatusCode)
	}
	form := url.Values{"csrf": {string(m[1])}, "token": {"bench-admin-token"}}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, adminURL+"/ui/signin", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/ui/" {
		return nil, fmt.Errorf("signing in: status %d at %s", resp.StatusCode, resp.Request.URL.Path)
	}
	return c, nil
}

// secondPageCursor asks the admin API for the request log's first page of
// 50 (the console's page size) and returns the cursor of the next.
func secondPageCursor(ctx context.Context, adminURL string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/admin/v1/requests?limit=50", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer bench-admin-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return "", err
	}
	if page.NextCursor == "" {
		return "", fmt.Errorf("the request log has one page (status %d)", resp.StatusCode)
	}
	return page.NextCursor, nil
}

// renderPage fetches one page and returns the time to its last byte; any
// status but 200 is an error.
func renderPage(ctx context.Context, c *http.Client, u string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if resp.Request.URL.Path == "/ui/signin" {
		return 0, fmt.Errorf("GET %s: sent to sign in", u)
	}
	return d, nil
}
