package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"switchyard/internal/config"
	"switchyard/internal/fakecloud"
	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/provider/anthropic"
	"switchyard/internal/provider/azure"
	"switchyard/internal/provider/bedrock"
	"switchyard/internal/provider/gemini"
	"switchyard/internal/provider/openai"
	"switchyard/internal/provider/vertex"
	"switchyard/internal/route"
	"switchyard/internal/usage"
)

// upstreamTransport is shared by every channel: keep-alive pools sized
// for a gateway, and no response-header wait beyond the channel timeout.
func upstreamTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	// A connection keeps its buffers while its answer streams, which can
	// be minutes, and a gateway holds thousands of such connections: 2 KiB
	// holds a request's headers (a SigV4-signed one included), and larger
	// writes bypass the buffer. Reads of a chunked answer do not: each
	// HTTP chunk (one per flush of the upstream, so one per stream event)
	// is read through the buffer, so a burst of events takes a read
	// system call per buffer's worth. 4 KiB (Go's default, and the floor's)
	// takes a fast stream's burst in about half the reads of 2 KiB, for
	// 2 KiB more per open stream.
	t.WriteBufferSize = 2 << 10
	t.ReadBufferSize = 4 << 10
	// A fast stream's burst, queued in the socket past that buffer, is
	// read in one system call all the same (burstConn).
	t.DialContext = burstDialer(t.DialContext)
	return t
}

// keepIdleFor sizes t's pool of idle connections to what admission
// control lets wait on channels at once: a's max_requests unary calls,
// working or parked. A smaller pool turns every call past it into a new
// connection, dialled, then closed once its answer is in because the
// pool is full; and a gateway has the most calls waiting on channels at
// once under overload, when admitted requests wait longest for a CPU.
// Each such call then costs the gateway a dial (socket, connect, poller
// registration), two goroutines and their buffers, and a close, and the
// channel an accept: CPU taken from the requests being served, so that
// each costs more the more the gateway is overloaded. A large pool costs
// no memory that the calls did not hold while under way, and it is
// emptied once a burst is over (the serve command's memory relief, and
// admission control's release after refusals). With admission control
// off nothing bounds the calls, and the pool is left as it is.
func keepIdleFor(t *http.Transport, a config.Admission) {
	if a.Mode == "off" {
		return
	}
	t.MaxIdleConns = max(t.MaxIdleConns, a.MaxRequests)
	t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, a.MaxRequests)
}

// buildProviders makes one adapter per configured channel (see
// buildChannel). hc (its transport from upstreamTransport) is the
// channels' client.
func buildProviders(ctx context.Context, cfg *config.Config, hc *http.Client, getenv func(string) string, log *slog.Logger) (*provider.Registry, func() error, error) {
	reg := provider.NewRegistry()
	var closers []func() error
	closeAll := func() error {
		for _, c := range closers {
			_ = c()
		}
		hc.CloseIdleConnections()
		return nil
	}
	for i := range cfg.Providers {
		p, closeChannel, err := buildChannel(ctx, cfg.Providers[i], getenv, hc)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, closeChannel)
		if err := reg.Add(p); err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	return reg, closeAll, nil
}

// buildChannel makes one channel's adapter, as serve and validate both
// do. Channels of type fake get their own in-process simulated cloud on
// loopback and the real adapter of that cloud pointed at it, so the demo
// and tests exercise the same code as production; the returned function
// stops that cloud.
func buildChannel(ctx context.Context, pc config.Provider, getenv func(string) string, hc *http.Client) (provider.Provider, func() error, error) {
	closeChannel := func() error { return nil }
	if pc.Type == config.TypeFake {
		fc := pc.Fake
		_, ln, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{Faults: fakecloud.Faults{
			Latency: fc.Latency.Std(), TokensPerSecond: fc.TokensPerSecond, FailRate: fc.FailRate, FailStatus: fc.FailStatus,
			HangRate: fc.HangRate, CutStreamAfter: fc.CutStreamAfter,
		}})
		if err != nil {
			return nil, nil, fmt.Errorf("provider %q: starting simulated cloud: %w", pc.Name, err)
		}
		closeChannel = ln.Close
		pc.Type, pc.BaseURL = fc.Cloud, "http://"+ln.Addr().String()+"/"+fc.Cloud
		switch fc.Cloud {
		case config.TypeOpenAI:
			pc.BaseURL += "/v1"
		case config.TypeBedrock:
			if pc.Region == "" {
				pc.Region = "us-east-1"
			}
		}
		getenv = withFakeCredentials(getenv, &pc)
	}
	p, err := newProvider(ctx, pc, getenv, hc)
	if err != nil {
		closeChannel()
		return nil, nil, fmt.Errorf("provider %q: %w", pc.Name, err)
	}
	return p, closeChannel, nil
}

// withFakeCredentials points a simulated channel's credential variables at
// fakecloud's documented defaults.
func withFakeCredentials(getenv func(string) string, pc *config.Provider) func(string) string {
	// A Bedrock channel takes a SigV4 key pair or an API key, not both.
	pc.APIKeyFile, pc.AccessKeyIDFile, pc.SecretAccessKeyFile, pc.SessionTokenFile = "", "", "", ""
	if pc.Type == config.TypeBedrock {
		pc.APIKeyEnv, pc.SessionTokenEnv = "", ""
		pc.AccessKeyIDEnv, pc.SecretAccessKeyEnv = "SWITCHYARD_FAKECLOUD_AWS_ACCESS_KEY_ID", "SWITCHYARD_FAKECLOUD_AWS_SECRET_ACCESS_KEY"
	} else {
		pc.APIKeyEnv = "SWITCHYARD_FAKECLOUD_KEY"
	}
	fixed := map[string]string{
		"SWITCHYARD_FAKECLOUD_KEY":                   fakecloud.DefaultKey,
		"SWITCHYARD_FAKECLOUD_AWS_ACCESS_KEY_ID":     fakecloud.DefaultAWSAccessKeyID,
		"SWITCHYARD_FAKECLOUD_AWS_SECRET_ACCESS_KEY": fakecloud.DefaultAWSSecretAccessKey,
	}
	return func(k string) string {
		if v, ok := fixed[k]; ok {
			return v
		}
		return getenv(k)
	}
}

// newProvider is the one switch from a channel type to its adapter.
func newProvider(ctx context.Context, pc config.Provider, getenv func(string) string, hc *http.Client) (provider.Provider, error) {
	key, err := secret(getenv, "api_key", pc.APIKeyEnv, pc.APIKeyFile)
	if err != nil {
		return nil, err
	}
	if pc.APIKeyEnv != "" && key == "" && pc.Type != config.TypeOpenAICompatible {
		return nil, fmt.Errorf("environment variable %s (api_key_env) is empty", pc.APIKeyEnv)
	}
	timeout := pc.Timeout.Std()
	switch pc.Type {
	case config.TypeOpenAI, config.TypeOpenAICompatible:
		base := pc.BaseURL
		if base == "" {
			base = "https://api.openai.com/v1"
		}
		return openai.New(openai.Options{Name: pc.Name, BaseURL: base, APIKey: key, Headers: pc.Headers,
			HTTPClient: hc, Timeout: timeout, Dialect: pc.Type}), nil
	case config.TypeAzure:
		o := azure.Options{Name: pc.Name, BaseURL: pc.BaseURL, APIKey: key, APIVersion: pc.APIVersion,
			HTTPClient: hc, Timeout: timeout}
		if pc.Auth == config.AuthEntra {
			ts, err := azure.DefaultEntraTokens()
			if err != nil {
				return nil, err
			}
			o.TokenSource = ts
		}
		return azure.New(o), nil
	case config.TypeAnthropic:
		base := pc.BaseURL
		if base == "" {
			base = "https://api.anthropic.com"
		}
		return anthropic.New(anthropic.Options{Name: pc.Name, BaseURL: base, APIKey: key, Version: pc.APIVersion,
			HTTPClient: hc, Timeout: timeout}), nil
	case config.TypeGemini:
		base := pc.BaseURL
		if base == "" {
			base = "https://generativelanguage.googleapis.com"
		}
		return gemini.New(gemini.Options{Name: pc.Name, BaseURL: base, APIKey: key, APIVersion: pc.APIVersion,
			HTTPClient: hc, Timeout: timeout}), nil
	case config.TypeVertex:
		// GOOGLE_APPLICATION_CREDENTIALS is read here, through getenv,
		// rather than by the credentials library from the process
		// environment.
		file := pc.CredentialsFile
		if file == "" {
			file = getenv("GOOGLE_APPLICATION_CREDENTIALS")
		}
		ts, err := vertex.Tokens(ctx, file, hc)
		if err != nil {
			return nil, err
		}
		return vertex.New(vertex.Options{Name: pc.Name, Project: pc.Project, Region: pc.Region, BaseURL: pc.BaseURL,
			Tokens: ts, HTTPClient: hc, Timeout: timeout})
	case config.TypeBedrock:
		var creds bedrock.Credentials
		for _, c := range []struct {
			dst             *string
			name, env, file string
		}{
			{&creds.AccessKeyID, "access_key_id", pc.AccessKeyIDEnv, pc.AccessKeyIDFile},
			{&creds.SecretAccessKey, "secret_access_key", pc.SecretAccessKeyEnv, pc.SecretAccessKeyFile},
			{&creds.SessionToken, "session_token", pc.SessionTokenEnv, pc.SessionTokenFile},
		} {
			if *c.dst, err = secret(getenv, c.name, c.env, c.file); err != nil {
				return nil, err
			}
		}
		if (pc.AccessKeyIDEnv != "" || pc.AccessKeyIDFile != "") && (creds.AccessKeyID == "" || creds.SecretAccessKey == "") {
			return nil, fmt.Errorf("access_key_id and secret_access_key must both be set (environment variables %s and %s)", pc.AccessKeyIDEnv, pc.SecretAccessKeyEnv)
		}
		return bedrock.New(bedrock.Options{Name: pc.Name, Region: pc.Region, BaseURL: pc.BaseURL, Credentials: creds,
			APIKey: key, HTTPClient: hc, Timeout: timeout, Messages: bedrockMessages()})
	}
	return nil, fmt.Errorf("unknown provider type %q", pc.Type)
}

// buildRouter turns the configured models, contracts and breaker settings
// into a router.
func buildRouter(cfg *config.Config) (*route.Router, error) {
	book, err := priceBook(cfg)
	if err != nil {
		return nil, err
	}
	o, err := routerOptions(cfg, book)
	if err != nil {
		return nil, err
	}
	return route.New(o)
}

// routerOptions is what a router is built from: the catalog with each
// offering's price decided by book, the contracts and the breaker
// settings. serve builds its router from them, and a what-if replay its
// proposal's.
func routerOptions(cfg *config.Config, book *usage.PriceBook) (route.Options, error) {
	models := make([]route.Model, 0, len(cfg.Models))
	for _, m := range cfg.Models {
		rm := route.Model{Name: m.Name, Aliases: m.Aliases, Strategy: m.Route.Strategy, MaxAttempts: m.Route.MaxAttempts,
			PerAttemptTimeout: m.Route.AttemptTimeout.Std()}
		for _, o := range m.Offerings {
			pc := cfg.ProviderByName(o.Provider)
			price, _ := offeringPrice(book, cfg, m, o)
			rm.Offerings = append(rm.Offerings, route.Offering{
				Provider: o.Provider, ProviderType: channelType(pc), Region: pc.Region, UpstreamModel: o.UpstreamModel, Weight: o.Weight,
				Price: route.Price{InputPerMTok: price.InputPerMTok, OutputPerMTok: price.OutputPerMTok,
					CachedInputPerMTok: price.CachedInputPerMTok, CacheWritePerMTok: price.CacheWritePerMTok,
					ReasoningPerMTok: price.ReasoningPerMTok},
			})
		}
		models = append(models, rm)
	}
	catalog, err := route.NewCatalog(models)
	if err != nil {
		return route.Options{}, err
	}
	contracts := make([]route.Contract, 0, len(cfg.Contracts))
	for _, c := range cfg.Contracts {
		rc := route.Contract{Name: c.Name, Match: route.Match{Models: c.Match.Models, Traffic: c.Match.Traffic, Tenants: c.Match.Tenants}}
		if a := c.Allow; a != nil {
			rc.Allow = &route.Allow{Providers: a.Providers, ProviderTypes: a.ProviderTypes, Regions: a.Regions}
		}
		if cm := c.Commitment; cm != nil {
			rc.Commitment = &route.Commitment{Provider: cm.Provider, AmountUSD: cm.AmountUSD, Period: route.Period(cm.Period), Pacing: cm.Pacing,
				BurnDown: cm.BurnDown}
		}
		contracts = append(contracts, rc)
	}
	b := cfg.Breaker
	return route.Options{Catalog: catalog, Contracts: contracts, Breaker: route.BreakerOptions{
		ErrorRate: b.ErrorRate, MinRequests: b.MinRequests, Window: b.Window.Std(),
		ConsecutiveFailures: b.ConsecutiveFailures, CoolOff: b.CoolOff.Std(), MaxCoolOff: b.MaxCoolOff.Std(),
		Probes: b.Probes, ProbeTimeout: b.ProbeTimeout.Std(), RateLimitCoolDown: b.RateLimitCoolDown.Std(),
	}}, nil
}

// bedrockMessages lets a Bedrock channel stream Claude to Anthropic
// clients through InvokeModelWithResponseStream, with the anthropic
// package's Messages body and stream decoder.
func bedrockMessages() *bedrock.Messages {
	return &bedrock.Messages{
		Dialect: anthropic.Dialect,
		Body:    anthropic.MessagesBody,
		Decoder: func(name string) func(string, []byte) ([]llm.Event, error) {
			return anthropic.NewStreamDecoder(name).Decode
		},
	}
}
