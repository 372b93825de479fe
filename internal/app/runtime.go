package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/config"
	"switchyard/internal/gateway"
	"switchyard/internal/route"
	"switchyard/internal/store"
)

// reloader re-reads the configuration file and swaps the gateway's
// runtime (channels, models, contracts) atomically. Requests in flight
// finish on the runtime they started with.
type reloader struct {
	mu      sync.Mutex
	path    string
	cfg     *config.Config
	env     *Env
	inst    *Instance
	gw      *gateway.Gateway
	closers []func() error // of earlier runtimes, closed at shutdown
}

// config returns the configuration in force.
func (rl *reloader) config() *config.Config {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.cfg
}

// errNoConfigFile is returned by Reload when the gateway was started from
// a configuration in memory (the demo).
var errNoConfigFile = errors.New("this gateway was not started from a config file")

// Reload validates the file first; an invalid file, or one that changes
// what only a restart can change, is refused with its errors and the
// running configuration stays. A refusal is logged whatever the trigger
// (SIGHUP or the admin API), since the operator who sent a signal sees
// nothing else and one who called the API may not be the one on call.
func (rl *reloader) Reload(ctx context.Context, trigger string) error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	err := rl.reload(ctx, trigger)
	if err != nil {
		rl.inst.log.Error("configuration reload refused; the running configuration stays", "trigger", trigger, "err", err)
	}
	return err
}

func (rl *reloader) reload(ctx context.Context, trigger string) error {
	if rl.path == "" {
		return errNoConfigFile
	}
	cfg, err := config.Load(rl.path)
	if err != nil {
		return err
	}
	if err := restartOnly(rl.cfg, cfg); err != nil {
		return err
	}
	router, err := buildRouter(cfg)
	if err != nil {
		return err
	}
	router.OnBreakerOpen(breakerAlert(rl.inst.alerts, rl.cfg.Alerts.BreakerEvery.Std()))
	// Seed every commitment from the ledger; the swap then carries the
	// running router's counts over the seeds of the periods it already
	// tracked, so only commitments the reload added or moved to another
	// period keep the seed. Without the store the reload still applies,
	// and the next refresh catches up.
	if err := seedCommitments(ctx, rl.inst.store, router, time.Now()); err != nil {
		rl.inst.log.Warn("seeding commitments from the ledger on reload", "err", err)
	}
	reg, closeProviders, err := buildProviders(ctx, cfg, rl.inst.upstream, rl.env.Getenv, rl.inst.log)
	if err != nil {
		return err
	}
	// The admin token is re-read too (a rotated token_file takes effect
	// with a reload); one that would become empty keeps the running one,
	// so that a half-written file never locks the operator out.
	token, err := secret(rl.env.Getenv, "admin.token", cfg.Admin.TokenEnv, cfg.Admin.TokenFile)
	if err == nil && token == "" && rl.inst.adminToken.Load() != nil && *rl.inst.adminToken.Load() != "" {
		err = errors.New("admin.token: would become empty; the running admin token stays")
	}
	if err != nil {
		_ = closeProviders()
		return err
	}
	rl.gw.Swap(gateway.Runtime{Router: router, Providers: reg})
	if rl.inst.adminToken.Load() != nil {
		rl.inst.adminToken.Store(&token)
	}
	rl.closers = append(rl.closers, closeProviders)
	rl.cfg = cfg
	rl.inst.log.Info("configuration reloaded", "trigger", trigger, "path", rl.path, "providers", len(cfg.Providers), "models", len(cfg.Models),
		"contracts", len(cfg.Contracts))
	return nil
}

// commitmentRefreshEvery is how often a gateway re-reads its commitments'
// spend from the ledger. Each replica counts only what it routes; the
// ledger, which every replica writes, has the whole spend.
const commitmentRefreshEvery = 30 * time.Second

// spendLedger is what refreshing commitments needs from the store.
type spendLedger interface {
	SpendByProvider(ctx context.Context, since time.Time) (map[string]float64, error)
}

// commitmentRefresher keeps the live router's commitment spend in step
// with the shared ledger, so replicas pace a commitment on the spend of
// all of them. Between refreshes each router adds what it observes itself.
type commitmentRefresher struct {
	ledger spendLedger
	flush  func(context.Context) error // the usage writer's Flush
	router func() *route.Router
	log    *slog.Logger
	every  time.Duration

	stop chan struct{}
	wg   sync.WaitGroup
}

// startCommitmentRefresh starts refreshing every commitment's spend
// every interval and returns the function that stops it.
func startCommitmentRefresh(st spendLedger, flush func(context.Context) error, router func() *route.Router, log *slog.Logger, every time.Duration) func() error {
	cr := &commitmentRefresher{ledger: st, flush: flush, router: router, log: log, every: every, stop: make(chan struct{})}
	cr.wg.Go(func() {
		t := time.NewTicker(cr.every)
		defer t.Stop()
		for {
			select {
			case <-cr.stop:
				return
			case <-t.C:
				if err := cr.once(context.Background()); err != nil {
					cr.log.Warn("refreshing commitment spend from the ledger", "err", err)
				}
			}
		}
	})
	return func() error {
		close(cr.stop)
		cr.wg.Wait()
		return nil
	}
}

// once refreshes every commitment of the live router: it marks what the
// router has counted, flushes this gateway's ledger rows so the ledger
// holds everything marked, and replaces the counts with the ledger's
// sums (plus what the router observed since the mark). When the flush
// fails the ledger may lack this gateway's own rows, so nothing changes.
func (cr *commitmentRefresher) once(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, cr.every)
	defer cancel()
	r := cr.router()
	marks := r.MarkSpend()
	if len(marks) == 0 {
		return nil
	}
	if err := cr.flush(ctx); err != nil {
		return err
	}
	bySince := map[time.Time]map[string]float64{}
	for _, m := range marks {
		spend, ok := bySince[m.PeriodStart]
		if !ok {
			var err error
			if spend, err = cr.ledger.SpendByProvider(ctx, m.PeriodStart); err != nil {
				return err
			}
			bySince[m.PeriodStart] = spend
		}
		r.RefreshSpend(m, spend[m.Channel])
	}
	return nil
}

// restartOnly refuses changes that a reload cannot apply.
func restartOnly(old, cur *config.Config) error {
	var errs []error
	for _, f := range []struct {
		name     string
		old, cur any
	}{
		{"listen", old.Listen, cur.Listen},
		{"admin", old.Admin, cur.Admin},
		{"store", old.Store, cur.Store},
		{"limits", old.Limits, cur.Limits},
		{"server", old.Server, cur.Server},
		// The front door's capture policy is built once.
		{"log.payloads", old.Log.Payloads, cur.Log.Payloads},
		// The alert dispatcher and its checks are built once.
		{"alerts", old.Alerts, cur.Alerts},
	} {
		if !reflect.DeepEqual(f.old, f.cur) {
			errs = append(errs, fmt.Errorf("%s: changed; it takes a restart, not a reload", f.name))
		}
	}
	return errors.Join(errs...)
}

func (rl *reloader) close() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for _, c := range rl.closers {
		_ = c()
	}
	rl.closers = nil
}

// explain answers a routing question against the live router (with its
// channel health).
func explain(gw *gateway.Gateway) func(ctx context.Context, q admin.ExplainQuery) (any, error) {
	return func(ctx context.Context, q admin.ExplainQuery) (any, error) {
		return explainWith(gw.Router(), q), nil
	}
}

// Explanation is what `route explain` and the admin API print.
type Explanation struct {
	Decision *route.Decision `json:"decision,omitempty"`
	// Error is set when the request would be refused, naming the
	// contract(s) that left no channel.
	Error string `json:"error,omitempty"`
}

func explainWith(r *route.Router, q admin.ExplainQuery) Explanation {
	d, err := r.Explain(route.Input{Model: q.Model, Tenant: q.Tenant, Traffic: q.Traffic})
	out := Explanation{Decision: d}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}

// channelStatus reports every channel's health for the admin API and the
// console.
func channelStatus(router func() *route.Router) func(ctx context.Context) ([]admin.ChannelStatus, error) {
	return func(ctx context.Context) ([]admin.ChannelStatus, error) {
		hs := router().Health()
		out := make([]admin.ChannelStatus, 0, len(hs))
		for _, h := range hs {
			s := admin.ChannelStatus{Name: h.Channel, State: h.State, ConsecutiveFailures: h.ConsecutiveFailures,
				ErrorRate: h.ErrorRate, WindowRequests: h.WindowRequests, Trips: h.Trips,
				LatencyMS: float64(h.LatencyEWMA) / float64(time.Millisecond), TTFBMS: float64(h.TTFBEWMA) / float64(time.Millisecond)}
			if !h.OpenUntil.IsZero() {
				s.OpenUntil = &h.OpenUntil
			}
			if !h.CoolingUntil.IsZero() {
				s.CoolingUntil = &h.CoolingUntil
			}
			out = append(out, s)
		}
		return out, nil
	}
}

// resetChannel closes a channel's breaker in the router serving now.
func resetChannel(router func() *route.Router) func(ctx context.Context, name string) error {
	return func(ctx context.Context, name string) error {
		if !router().ResetBreaker(name) {
			return store.ErrNotFound
		}
		return nil
	}
}

// modelList describes the catalogue of the router serving now.
func modelList(router func() *route.Router) func(ctx context.Context) ([]admin.ModelInfo, error) {
	return func(ctx context.Context) ([]admin.ModelInfo, error) {
		ms := router().Catalog().Models()
		out := make([]admin.ModelInfo, 0, len(ms))
		for _, m := range ms {
			mi := admin.ModelInfo{Name: m.Name, Aliases: m.Aliases, Strategy: m.EffectiveStrategy(),
				MaxAttempts: m.AttemptBudget(), Offerings: make([]admin.OfferingInfo, 0, len(m.Offerings))}
			for _, o := range m.Offerings {
				mi.Offerings = append(mi.Offerings, admin.OfferingInfo{Provider: o.Provider, ProviderType: o.ProviderType,
					Region: o.Region, UpstreamModel: o.UpstreamModel, Weight: o.Weight, InputPerMTok: o.Price.InputPerMTok,
					OutputPerMTok: o.Price.OutputPerMTok, CachedInputPerMTok: o.Price.CachedInputPerMTok})
			}
			out = append(out, mi)
		}
		return out, nil
	}
}
