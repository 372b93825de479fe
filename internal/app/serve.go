package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"switchyard/internal/access"
	"switchyard/internal/admin"
	"switchyard/internal/alert"
	"switchyard/internal/api"
	"switchyard/internal/auth"
	"switchyard/internal/config"
	"switchyard/internal/console"
	"switchyard/internal/gateway"
	"switchyard/internal/llm"
	"switchyard/internal/outage"
	"switchyard/internal/ratelimit"
	"switchyard/internal/route"
	"switchyard/internal/session"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/telemetry"
	"switchyard/internal/tracing"
	"switchyard/internal/usage"
)

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("serve", env)
	path := fs.String("config", "switchyard.yaml", "config file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the whole run to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile (pprof: alloc_space, alloc_objects) of the whole run to this file at shutdown")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *memProfile != "" {
		stop, err := startMemProfile(*memProfile)
		if err != nil {
			return err
		}
		defer func() {
			if err := stop(); err != nil {
				fmt.Fprintf(env.Stderr, "switchyard: %v\n", err)
			}
		}()
	}
	// SIGHUP is caught before the listeners open: one that arrives while
	// the gateway starts would otherwise end the process. It is applied
	// once the gateway runs.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	// The limit is the process's, so it is set here and not in Start,
	// which tests run many times in one process.
	if limit := memoryLimit(cfg.Process.MemoryLimitMiB, env.Getenv, os.ReadFile); limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	inst, err := Start(ctx, cfg, env, StartOptions{ConfigPath: *path})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "switchyard: serving on %s (admin %s)\n", inst.URL(), inst.AdminURL())
	// Like the memory limit, the collector's settings are the process's.
	stopRelief := startMemoryRelief(inst.metrics.InFlight, inst.upstream.CloseIdleConnections, env.Getenv)
	defer stopRelief()
	for {
		select {
		case <-ctx.Done():
			return inst.Shutdown()
		case <-hup:
			_ = inst.reloadFor(ctx, "SIGHUP") // logged there, refused or not
		}
	}
}

// StartOptions adjust Start for embedding (demo, tests).
type StartOptions struct {
	// Listener and AdminListener, when set, are used instead of listening
	// on the configured addresses.
	Listener, AdminListener net.Listener
	// LogLevel defaults to info.
	LogLevel slog.Level
	// ConfigPath is the file cfg came from, for reloads; empty disables
	// them.
	ConfigPath string
	// requestStore, when set, wraps what client requests read of the
	// store (tests count those reads through it).
	requestStore func(requestStore) requestStore
}

// requestStore is what a client request may read of the store while it
// waits: its key and tenant (cached by the authenticator, see
// auth.AuthOptions.CacheTTL) and, once per process and budget period, a
// budget's spend so far.
type requestStore interface {
	auth.KeyStore
	SpendSince(ctx context.Context, tenantID, keyID string, since time.Time) (float64, error)
}

// Instance is a running gateway.
type Instance struct {
	cfg      *config.Config
	metrics  *telemetry.Metrics
	log      *slog.Logger
	logw     *telemetry.LogWriter
	store    *sqlstore.Store
	ledger   *usage.Writer
	srv      *http.Server
	adminSrv *http.Server
	admin    *admin.Service
	ln       net.Listener
	adminLn  net.Listener
	closers  []func() error
	// adminToken is the break-glass admin token in force, re-read from
	// admin.token_file on every reload.
	adminToken atomic.Pointer[string]
	// lastUsed gathers keys' last use for the store.
	lastUsed *auth.LastUsed
	reload   *reloader
	// certs are the listeners' TLS identities, re-read on Reload.
	certs, adminCerts *api.Certificates
	served            chan error
	shutdown          time.Duration
	// breakers are the request-path dependencies' breaker counters, by
	// name ("store", "rate limiter", "budget counters").
	breakers map[string]func() outage.Stats
	// upstream is the client of every channel, across reloads: one pool
	// of connections, whose idle ones are closed after an overload burst.
	upstream *http.Client
	// alerts records and delivers alerts; every router built is given
	// its breaker hook.
	alerts *alert.Dispatcher
	// checker raises the alerts found by looking (budgets, commitments,
	// compliance, keys).
	checker *alertChecker
}

// Addr is the client-facing address.
func (in *Instance) Addr() string { return in.ln.Addr().String() }

// AdminAddr is the admin address, or "" when disabled.
func (in *Instance) AdminAddr() string {
	if in.adminLn == nil {
		return ""
	}
	return in.adminLn.Addr().String()
}

// URL is the client-facing base URL: https when server.tls is set.
func (in *Instance) URL() string { return scheme(in.certs) + in.Addr() }

// AdminURL is the admin base URL, or "" when disabled.
func (in *Instance) AdminURL() string {
	if in.adminLn == nil {
		return ""
	}
	return scheme(in.adminCerts) + in.AdminAddr()
}

func scheme(c *api.Certificates) string {
	if c != nil {
		return "https://"
	}
	return "http://"
}

// Store is the instance's store.
func (in *Instance) Store() *sqlstore.Store { return in.store }

// Start builds every dependency from cfg and starts serving. The caller
// must call Shutdown.
func Start(ctx context.Context, cfg *config.Config, env *Env, o StartOptions) (inst *Instance, err error) {
	// Secrets never reach the log, not even in a client-chosen path.
	logw := telemetry.NewLogWriter(env.Stderr, cfg.Log.FlushInterval.Std())
	log := redacting(telemetry.NewBufferedLogger(logw, o.LogLevel))
	in := &Instance{cfg: cfg, log: log, logw: logw, served: make(chan error, 2), shutdown: cfg.Server.ShutdownTimeout.Std(),
		breakers: map[string]func() outage.Stats{}}
	defer func() {
		if err != nil {
			in.closeAll()
			_ = logw.Close()
		}
	}()

	st, err := openConfiguredStore(ctx, cfg, env.Getenv)
	if err != nil {
		return nil, err
	}
	in.store = st
	in.closers = append(in.closers, st.Close)
	var reads requestStore = st
	if o.requestStore != nil {
		reads = o.requestStore(reads)
	}
	// One breaker for every store call made while a client waits (key
	// lookups, the stateful runtime, a budget's first read of the
	// ledger): a deadline of store.timeout each, and no call at all while
	// the store is known down.
	storeBreaker := outage.New(outage.Options{Name: "store", Timeout: cfg.Store.Timeout.Std(), Probe: st.Ping, Logger: log,
		Mode: auth.OutageMode(cfg.Store.Outage, cfg.Store.OutageMaxStale.Std()) + "; stateful calls get 503"})
	in.closers = append(in.closers, storeBreaker.Close)
	in.breakers["store"] = storeBreaker.Stats

	// Alerts are recorded in the store and delivered in the background;
	// the dispatcher stops (releasing what it holds) before the store
	// closes.
	if in.alerts, err = buildAlerts(cfg.Alerts, env.Getenv, st, log); err != nil {
		return nil, err
	}
	in.alerts.Start()
	in.closers = append(in.closers, in.alerts.Close)

	metrics := telemetry.NewMetrics()
	in.metrics = metrics
	in.ledger = usage.NewWriter(st, usage.WriterOptions{Logger: log, QueueSize: cfg.Ledger.QueueSize,
		OnError: func(error) { metrics.LedgerError() }, StoreDown: storeBreaker.Open})

	tracer, err := startTracing(ctx, cfg.Telemetry.Tracing, env.Getenv)
	if err != nil {
		return nil, err
	}
	// The gateway, the front door and the channels' transport see a
	// tracer only when tracing is on: off, they run as if it did not
	// exist.
	var gwTracer gateway.Tracer
	tr := upstreamTransport()
	keepIdleFor(tr, cfg.Server.Admission)
	var upstream http.RoundTripper = tr
	if tracer != nil {
		in.closers = append(in.closers, tracer.Shutdown)
		gwTracer, upstream = tracer, tracer.Transport(upstream)
		metrics.TraceExemplars(tracing.TraceID)
	}
	in.upstream = &http.Client{Transport: upstream}
	reg, closeProviders, err := buildProviders(ctx, cfg, in.upstream, env.Getenv, log)
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, closeProviders)
	router, err := buildRouter(cfg)
	if err != nil {
		return nil, err
	}
	router.OnBreakerOpen(breakerAlert(in.alerts, cfg.Alerts.BreakerEvery.Std()))
	limiter, spend, closeLimits, err := buildLimits(ctx, cfg, env.Getenv, log)
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, closeLimits)
	if r, ok := limiter.(*ratelimit.ResilientBudgets); ok {
		in.breakers["rate limiter"] = r.Stats
	}
	if r, ok := spend.(*ratelimit.ResilientSpend); ok {
		in.breakers["budget counters"] = r.Stats
	}
	// A budget's first read of the ledger is made while its request waits.
	spendSince := func(ctx context.Context, tenantID, keyID string, since time.Time) (usd float64, err error) {
		err = storeBreaker.Do(ctx, func(ctx context.Context) (err error) {
			usd, err = reads.SpendSince(ctx, tenantID, keyID, since)
			return err
		})
		return usd, err
	}
	gw := gateway.New(gateway.Options{
		Runtime:    gateway.Runtime{Router: router, Providers: reg},
		Ledger:     in.ledger,
		Cost:       func(u llm.Usage, p route.Price) float64 { return usage.Cost(u, usage.Price(p)) },
		Limiter:    limiter,
		Spend:      spend,
		SpendSince: spendSince,
		OnAttempt:  metrics.Attempt,
		OnAttemptEnd: func(channel string, out gateway.AttemptOutcome) {
			metrics.AttemptEnded(channel, out.Duration, out.Fallback)
		},
		Tracer: gwTracer,
		Logger: log,
		// The gateway enforces the stream size cap, and so bounds every
		// front door's stream alike.
		MaxStreamBytes: cfg.Server.MaxStreamBytes,
	})
	metrics.WatchDependencies(func() []telemetry.DependencyState {
		out := make([]telemetry.DependencyState, 0, len(in.breakers))
		for name, stats := range in.breakers {
			st := stats()
			out = append(out, telemetry.DependencyState{Dependency: strings.ReplaceAll(name, " ", "_"), Up: !st.Open, Outages: st.Outages})
		}
		return out
	})
	metrics.WatchCommitments(func() []telemetry.CommitmentState {
		var out []telemetry.CommitmentState
		for _, c := range gw.Router().CommitmentStatus(time.Now()) {
			out = append(out, telemetry.CommitmentState{Contract: c.Contract, Channel: c.Provider, AmountUSD: c.AmountUSD,
				SpentUSD: c.SpentUSD, DueUSD: c.PacingUSD})
		}
		return out
	})
	metrics.WatchStreams(gw.OpenStreams)
	metrics.WatchChannels(func() []telemetry.ChannelState {
		health := gw.Router().Health()
		out := make([]telemetry.ChannelState, 0, len(health))
		for _, h := range health {
			out = append(out, telemetry.ChannelState{Channel: h.Channel, State: h.State, ErrorRate: h.ErrorRate})
		}
		return out
	})
	sealer, err := masterSealer(env.Getenv)
	if err != nil {
		return nil, err
	}
	in.admin = &admin.Service{Store: st, Sealer: sealer, Logger: log}
	// Keys' last use is gathered in memory and written once a minute (and
	// at shutdown): never a store write per request.
	lastUsed := auth.NewLastUsed(st, cfg.Store.Timeout.Std(), log)
	in.lastUsed = lastUsed
	usedCtx, stopUsed := context.WithCancel(context.Background())
	usedDone := make(chan struct{})
	go func() { defer close(usedDone); lastUsed.Run(usedCtx, auth.DefaultLastUsedInterval) }()
	in.closers = append(in.closers, func() error { stopUsed(); <-usedDone; return nil })
	authn := auth.NewAuthenticator(reads, auth.AuthOptions{Sealer: sealer, Outage: cfg.Store.Outage,
		MaxStale: cfg.Store.OutageMaxStale.Std(), Breaker: storeBreaker, LastUsed: lastUsed})
	// A key or tenant changed through this process (the admin API, the
	// console) holds from its next request; through another replica,
	// within the authenticator's cache TTL.
	in.admin.Changed = authn.Invalidate
	trusted, err := auth.ParseCIDRs(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("server.trusted_proxies: %w", err)
	}
	if err := seedCommitments(ctx, st, router, time.Now()); err != nil {
		return nil, fmt.Errorf("seeding commitments from the ledger: %w", err)
	}
	sessions := session.New(session.Options{Store: st, ResponseTTL: cfg.Sessions.ResponseTTL.Std(), Breaker: storeBreaker})
	maint := &maintainer{st: st, sessions: sessions, retention: cfg.Ledger.Retention.Std(), every: cfg.Ledger.MaintenanceInterval.Std(), log: log,
		payloadRetention: cfg.Log.Payloads.Retention.Std()}
	maint.start()
	in.closers = append(in.closers, maint.close)
	in.checker = &alertChecker{cfg: cfg.Alerts, st: st, router: gw.Router, d: in.alerts, log: log}
	metrics.WatchBudgets(in.checker.budgetState)
	in.checker.start()
	in.closers = append(in.closers, in.checker.close)
	in.reload = &reloader{path: o.ConfigPath, cfg: cfg, env: env, inst: in, gw: gw}
	in.closers = append(in.closers, func() error { in.reload.close(); return nil })
	in.closers = append(in.closers, startCommitmentRefresh(st, in.ledger.Flush, gw.Router, log, commitmentRefreshEvery))
	admission, stopAdmission := admissionLimiter(cfg.Server.Admission, metrics, log, func() {
		// The connections a burst opened to the channels would idle for
		// their pool's timeout (90 s), each with two goroutines and its
		// buffers; the next requests open what they need.
		in.upstream.CloseIdleConnections()
		// Two collections: what sync.Pools hold survives the first one
		// (net/http pools a bufio reader and writer, 8 KiB, for each
		// connection the burst had open: 16 MiB after 2,000 clients),
		// and FreeOSMemory's own collection then frees it and returns
		// the pages.
		runtime.GC()
		debug.FreeOSMemory()
	})
	in.closers = append(in.closers, stopAdmission)
	front := api.New(api.Options{
		Gateway: gw, Auth: authn, Logger: log, Metrics: metrics,
		MaxBodyBytes: cfg.Server.MaxBodyBytes, StreamIdleTimeout: cfg.Server.StreamIdleTimeout.Std(),
		Ready: func(ctx context.Context) error { return storeBreaker.Do(ctx, st.Ping) }, Sessions: sessions, Admission: admission,
		MaxHeaderBytes: cfg.Server.MaxHeaderBytes, MaxModelNameBytes: cfg.Server.MaxModelNameBytes,
		BedrockRegions: cfg.Server.BedrockRegions, Capture: capturePolicy(cfg.Log.Payloads), TrustedProxies: trusted,
	})

	// Certificates are loaded before anything listens: a gateway whose
	// pair does not load does not start.
	if t := cfg.Server.TLS; t.CertFile != "" {
		if in.certs, err = api.NewCertificates(t.CertFile, t.KeyFile, "", log); err != nil {
			return nil, fmt.Errorf("server.tls: %w", err)
		}
	}
	if t := cfg.Admin.TLS; t.CertFile != "" && cfg.Admin.Listen != "off" {
		if in.adminCerts, err = api.NewCertificates(t.CertFile, t.KeyFile, t.ClientCAFile, log); err != nil {
			return nil, fmt.Errorf("admin.tls: %w", err)
		}
	}

	in.ln = o.Listener
	if in.ln == nil {
		if in.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("listening: %w", err)
		}
	}
	// Both listeners bound what one client can hold: the time to send a
	// request's headers and body, idle keep-alive connections, header
	// size, and the number of open connections (past the cap a new one is
	// reset at once, see api.LimitListener).
	var clientHandler http.Handler = front
	if tracer != nil {
		clientHandler = tracer.Middleware(front)
	}
	in.srv = edgeServer(cfg.Server, clientHandler, log)
	// The front door enforces the configured header limit in the client's
	// dialect; Go's parser stops only at twice that.
	in.srv.MaxHeaderBytes = api.ServerMaxHeaderBytes(cfg.Server.MaxHeaderBytes)
	// HTTP/2 without TLS (h2c) too: the Bedrock JavaScript SDK speaks
	// nothing else.
	in.srv.Protocols = new(http.Protocols)
	in.srv.Protocols.SetHTTP1(true)
	in.srv.Protocols.SetUnencryptedHTTP2(true)
	clientLn := api.LimitListener(in.ln, cfg.Server.MaxConnections, func() { metrics.ConnectionRefused("client") })
	if in.certs != nil {
		// TLS is terminated beneath the dialect wrapper, which then sees
		// the plain text it sees on a plain listener; HTTP/2 negotiated by
		// ALPN arrives as h2c does (see api.Server.TLSListener).
		clientLn = front.TLSListener(clientLn, in.certs.TLSConfig(), cfg.Server.ReadHeaderTimeout.Std())
	}
	clientLn = front.Listener(clientLn)
	go func() { in.served <- in.srv.Serve(clientLn) }()

	if cfg.Admin.Listen != "off" {
		in.adminLn = o.AdminListener
		if in.adminLn == nil {
			if in.adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
				return nil, fmt.Errorf("listening (admin): %w", err)
			}
		}
		token, err := secret(env.Getenv, "admin.token", cfg.Admin.TokenEnv, cfg.Admin.TokenFile)
		if err != nil {
			return nil, err
		}
		oidc, err := singleSignOn(ctx, cfg.Admin.OIDC, env.Getenv, log)
		if err != nil {
			return nil, err
		}
		// Scoped admin tokens are looked up in the store on every request,
		// so a revocation holds on every replica from its next request.
		authenticators := access.Chain{in.admin.AdminTokens()}
		var redirectURL string
		if oidc != nil {
			in.closers = append(in.closers, oidc.Close)
			authenticators = append(authenticators, oidc)
			redirectURL = cfg.Admin.OIDC.RedirectURL
		}
		in.adminToken.Store(&token)
		ops := admin.Options{Service: in.admin, TokenFunc: func() string { return *in.adminToken.Load() },
			TokenEnv: cfg.Admin.TokenEnv, Authenticators: authenticators,
			Metrics: metrics.Handler(), Logger: log, Explain: explain(gw), Reload: in.Reload,
			Report: reports(st, gw.Router), Channels: channelStatus(gw.Router), ResetChannel: resetChannel(gw.Router),
			Models: modelList(gw.Router), WhatIf: whatIf(st, func() string { return in.reload.config().Prices.File }),
			Reconcile: func(ctx context.Context, q admin.ReconcileQuery, bill io.ReaderAt, size int64) (any, error) {
				rec, err := reconcileBill(ctx, in.reload.config(), st, q, bill, size)
				if err == nil {
					if err := billDrift(ctx, in.alerts, rec); err != nil {
						log.Warn("raising bill drift alerts", "err", err)
					}
				}
				return rec, err
			},
			Export: export(st, in.reload.config)}
		// The console shares the listener, the token and every operation
		// with the admin API.
		co := console.Options{Admin: ops, Figures: metrics.Figures, Config: in.runningConfig, SSORedirectURL: redirectURL}
		if oidc != nil {
			co.SSO = oidc
		}
		ui := console.Handler(co)
		handler := http.NewServeMux()
		handler.Handle("/", admin.Handler(ops))
		handler.Handle("/ui/", ui)
		handler.Handle("GET /{$}", ui)
		in.adminSrv = edgeServer(cfg.Server, handler, log)
		adminLn := api.LimitListener(in.adminLn, cfg.Server.AdminMaxConnections, func() { metrics.ConnectionRefused("admin") })
		if in.adminCerts != nil {
			// net/http sees *tls.Conn here: it bounds the handshake by
			// the read timeouts, negotiates HTTP/2 by ALPN and fills in
			// each request's TLS state.
			adminLn = tls.NewListener(adminLn, in.adminCerts.TLSConfig())
		}
		go func() { in.served <- in.adminSrv.Serve(adminLn) }()
	}
	log.Info("switchyard started", "listen", in.Addr(), "admin", in.AdminAddr(), "store", cfg.Store.Driver,
		"providers", len(cfg.Providers), "models", len(cfg.Models))
	return in, nil
}

// runningConfig is the configuration in service, as YAML with every
// secret redacted, for the console.
func (in *Instance) runningConfig() ([]byte, error) {
	in.reload.mu.Lock()
	cfg := in.reload.cfg
	in.reload.mu.Unlock()
	y, err := cfg.Redacted()
	if err != nil {
		return nil, err
	}
	return []byte(auth.RedactKeys(string(y))), nil
}

// Reload re-reads the listeners' certificates and the configuration file,
// and swaps channels, models and contracts without a restart. It is what
// POST /admin/v1/reload calls; SIGHUP calls reloadFor itself, so each is
// logged with its trigger.
func (in *Instance) Reload(ctx context.Context) error { return in.reloadFor(ctx, "admin API") }

// reloadFor is Reload with the trigger named in the log. A certificate
// that does not load is logged and the previous one kept; it does not
// refuse the configuration.
func (in *Instance) reloadFor(ctx context.Context, trigger string) error {
	for _, c := range []*api.Certificates{in.certs, in.adminCerts} {
		if c == nil {
			continue
		}
		if err := c.Reload(); err != nil {
			in.log.Error("TLS certificate reload failed; the previous certificate stays in service", "err", err, "trigger", trigger)
		}
	}
	return in.reload.Reload(ctx, trigger)
}

// Shutdown stops accepting, drains in-flight requests and streams up to
// the configured deadline, then flushes the usage ledger and closes the
// store. Nothing accepted is lost: the ledger is flushed even when the
// drain deadline passes.
func (in *Instance) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), in.shutdown)
	defer cancel()
	var errs []error
	if in.adminSrv != nil {
		_ = in.adminSrv.Shutdown(ctx)
	}
	if err := in.srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("draining: %w", err))
		_ = in.srv.Close()
	}
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelFlush()
	if err := in.ledger.Close(flushCtx); err != nil {
		errs = append(errs, fmt.Errorf("flushing usage ledger: %w", err))
	}
	in.closeAll()
	in.log.Info("switchyard stopped")
	_ = in.logw.Close()
	return errors.Join(errs...)
}

func (in *Instance) closeAll() {
	for i := len(in.closers) - 1; i >= 0; i-- {
		_ = in.closers[i]()
	}
	in.closers = nil
}

// edgeServer is an http.Server for h with the configured bounds on what a
// client may hold: ReadTimeout covers a request's headers and body (per
// stream over HTTP/2) and is cleared once the body is read, so responses
// and streams are not limited by it.
func edgeServer(c config.Server, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadHeaderTimeout.Std(), ReadTimeout: c.ReadTimeout.Std(),
		IdleTimeout: c.IdleTimeout.Std(), MaxHeaderBytes: c.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}
