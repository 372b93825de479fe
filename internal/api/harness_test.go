package api

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/fakecloud"
	"switchyard/internal/gateway"
	"switchyard/internal/llm"
	"switchyard/internal/overload"
	"switchyard/internal/provider"
	"switchyard/internal/provider/anthropic"
	"switchyard/internal/provider/azure"
	"switchyard/internal/provider/bedrock"
	"switchyard/internal/provider/gemini"
	"switchyard/internal/provider/openai"
	"switchyard/internal/ratelimit"
	"switchyard/internal/route"
	"switchyard/internal/session"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/usage"
)

// harness is the client-facing server over a real gateway, store, key
// service and limiter, with one channel of every type on a simulated
// cloud. It listens on loopback for HTTP/1.1 and h2c, as the composition
// root does.
type harness struct {
	// URL is the front door's base, http://127.0.0.1:PORT.
	URL string
	// handler is the front door itself, for in-process requests.
	handler http.Handler
	cloud   *fakecloud.Server
	admin   *admin.Service
	store   *sqlstore.Store
	// key belongs to tenant "acme" and has an AWS key pair.
	key *admin.Issued
}

// harnessConfig adjusts a harness.
type harnessConfig struct {
	maxBody   int64
	now       func() time.Time
	keepAlive time.Duration
	admission *overload.Limiter
	log       *slog.Logger
	// maxStream is the gateway's stream size cap; 0 is its default.
	maxStream int64
	// sessions turns the Responses and Conversations APIs on.
	sessions bool
	// options, when set, adjusts the front door's options.
	options func(*Options)
	// cloud, when set, wraps the simulated cloud's handler.
	cloud func(http.Handler) http.Handler
	// contracts restrict the routes.
	contracts []route.Contract
}

// Channels of the harness, one per type, named after the cloud they use.
const (
	chanOpenAI    = "openai-sim"
	chanAzure     = "azure-sim"
	chanAnthropic = "anthropic-sim"
	chanBedrock   = "bedrock-sim"
	chanGemini    = "gemini-sim"
)

// Upstream model ids of the harness's offerings.
const (
	upOpenAI        = "gpt-4o-mini"
	upAzure         = "mini-deployment"
	upAnthropic     = "claude-sonnet-4-20250514"
	upBedrock       = "anthropic.claude-3-5-haiku-20241022-v1:0"
	upBedrockSonnet = "anthropic.claude-sonnet-4-20250514-v1:0"
	upGemini        = "gemini-2.5-flash"
)

// sonnet is served by Anthropic first and Bedrock second; Bedrock clients
// know it by its Bedrock model id, an alias.
const (
	sonnet      = "claude-sonnet-4"
	sonnetAlias = "anthropic.claude-sonnet-4-20250514-v1:0"
)

// harnessModels has one model per channel ("via-<type>"), so a test picks
// the cloud by picking the model, and sonnet with a fallback.
func harnessModels() []route.Model {
	price := route.Price{InputPerMTok: 3, OutputPerMTok: 15}
	one := func(name, ch, typ, upstream string) route.Model {
		return route.Model{Name: name, Offerings: []route.Offering{{Provider: ch, ProviderType: typ, UpstreamModel: upstream, Price: price}}}
	}
	return []route.Model{
		one("via-openai", chanOpenAI, "openai", upOpenAI),
		one("via-azure", chanAzure, "azure", upAzure),
		one("via-anthropic", chanAnthropic, "anthropic", upAnthropic),
		one("via-bedrock", chanBedrock, "bedrock", upBedrock),
		one("via-gemini", chanGemini, "gemini", upGemini),
		{Name: sonnet, Aliases: []string{sonnetAlias}, Offerings: []route.Offering{
			{Provider: chanAnthropic, ProviderType: "anthropic", UpstreamModel: upAnthropic, Price: price},
			{Provider: chanBedrock, ProviderType: "bedrock", Region: "us-east-1", UpstreamModel: upBedrockSonnet, Price: price},
		}},
	}
}

// newHarness starts a harness; everything stops when the test ends.
func newHarness(t testing.TB, opts ...func(*harnessConfig)) *harness {
	t.Helper()
	var cfg harnessConfig
	for _, o := range opts {
		o(&cfg)
	}
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)

	cloud := fakecloud.New(fakecloud.Options{Seed: 1})
	var cloudHandler http.Handler = cloud
	if cfg.cloud != nil {
		cloudHandler = cfg.cloud(cloud)
	}
	cs := httptest.NewServer(cloudHandler)
	t.Cleanup(cs.Close)

	hc := &http.Client{}
	reg := provider.NewRegistry()
	bed, err := bedrock.New(bedrock.Options{Name: chanBedrock, Region: "us-east-1", BaseURL: cs.URL + "/bedrock", HTTPClient: hc,
		Credentials: bedrock.Credentials{AccessKeyID: fakecloud.DefaultAWSAccessKeyID, SecretAccessKey: fakecloud.DefaultAWSSecretAccessKey},
		// As the composition root wires it: Claude streams to Anthropic
		// clients through InvokeModelWithResponseStream.
		Messages: &bedrock.Messages{Dialect: anthropic.Dialect, Body: anthropic.MessagesBody,
			Decoder: func(name string) func(string, []byte) ([]llm.Event, error) {
				return anthropic.NewStreamDecoder(name).Decode
			}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []provider.Provider{
		openai.New(openai.Options{Name: chanOpenAI, BaseURL: cs.URL + "/openai/v1", APIKey: fakecloud.DefaultKey, HTTPClient: hc}),
		azure.New(azure.Options{Name: chanAzure, BaseURL: cs.URL + "/azure", APIKey: fakecloud.DefaultKey, APIVersion: "2024-10-21", HTTPClient: hc}),
		anthropic.New(anthropic.Options{Name: chanAnthropic, BaseURL: cs.URL + "/anthropic", APIKey: fakecloud.DefaultKey, HTTPClient: hc}),
		bed,
		gemini.New(gemini.Options{Name: chanGemini, BaseURL: cs.URL + "/gemini", APIKey: fakecloud.DefaultKey, HTTPClient: hc}),
	} {
		if err := reg.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	catalog, err := route.NewCatalog(harnessModels())
	if err != nil {
		t.Fatal(err)
	}
	router, err := route.New(route.Options{Catalog: catalog, Contracts: cfg.contracts})
	if err != nil {
		t.Fatal(err)
	}

	ledger := usage.NewWriter(st, usage.WriterOptions{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ledger.Close(ctx); err != nil {
			t.Errorf("closing ledger: %v", err)
		}
	})
	gw := gateway.New(gateway.Options{
		Runtime:        gateway.Runtime{Router: router, Providers: reg},
		Ledger:         ledger,
		Cost:           func(u llm.Usage, p route.Price) float64 { return usage.Cost(u, usage.Price(p)) },
		Limiter:        ratelimit.NewMemory(),
		Spend:          ratelimit.NewMemorySpend(),
		SpendSince:     st.SpendSince,
		MaxStreamBytes: cfg.maxStream,
	})

	sealer, err := auth.NewSealer(bytes.Repeat([]byte{7}, auth.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	svc := &admin.Service{Store: st, Sealer: sealer}
	// No cache: a key revoked by a test is refused at once.
	authn := auth.NewAuthenticator(st, auth.AuthOptions{Sealer: sealer, CacheTTL: time.Nanosecond})
	var sessions *session.Runtime
	if cfg.sessions {
		sessions = session.New(session.Options{Store: st})
	}
	o := Options{Gateway: gw, Auth: authn, MaxBodyBytes: cfg.maxBody, Now: cfg.now, StreamKeepAlive: cfg.keepAlive,
		Admission: cfg.admission, Logger: cfg.log, Sessions: sessions}
	if cfg.options != nil {
		cfg.options(&o)
	}
	front := New(o)

	ts := httptest.NewUnstartedServer(front)
	ts.Config.Protocols = new(http.Protocols)
	ts.Config.Protocols.SetHTTP1(true)
	ts.Config.Protocols.SetUnencryptedHTTP2(true)
	ts.Start()
	t.Cleanup(ts.Close)

	h := &harness{URL: ts.URL, handler: front, cloud: cloud, admin: svc, store: st}
	h.key = h.issue(t, admin.KeySpec{Tenant: "acme", CreateTenant: true, Name: "test"})
	return h
}

// issue issues a key; the tenant is created when missing.
func (h *harness) issue(t testing.TB, spec admin.KeySpec) *admin.Issued {
	t.Helper()
	spec.CreateTenant = true
	iss, err := h.admin.IssueKey(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if iss.AWSAccessKeyID == "" || iss.AWSSecretAccessKey == "" {
		t.Fatal("issued key has no AWS key pair")
	}
	return iss
}

// records waits until the simulated clouds have recorded n requests since
// the last call (a cloud records a request when its handler returns, which
// can be just after the client saw the end of a stream), returns them and
// forgets them.
func (h *harness) records(t testing.TB, n int) []fakecloud.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(h.cloud.Records()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	recs := h.cloud.Records()
	h.cloud.Reset()
	if len(recs) != n {
		t.Errorf("clouds received %d requests, want %d: %+v", len(recs), n, recs)
	}
	return recs
}
