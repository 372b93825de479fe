package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"switchyard/internal/alert"
	"switchyard/internal/billing"
	"switchyard/internal/config"
	"switchyard/internal/route"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/telemetry"
)

// buildAlerts makes the alert dispatcher of alerts: each endpoint's URL
// and signing secret read from where the configuration says.
func buildAlerts(c config.Alerts, getenv func(string) string, st *sqlstore.Store, log *slog.Logger) (*alert.Dispatcher, error) {
	eps := make([]alert.Endpoint, 0, len(c.Endpoints))
	for i, e := range c.Endpoints {
		ep, err := alertEndpoint(fmt.Sprintf("alerts.endpoints[%d]", i), e, getenv)
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	return alert.New(alert.Options{Outbox: st, Endpoints: eps, Timeout: c.Timeout.Std(), MaxAttempts: c.MaxAttempts,
		MaxElapsed: c.MaxElapsed.Std(), Concurrency: c.Concurrency, Queue: c.Queue, SweepEvery: c.CheckInterval.Std(),
		Logger: log.With("component", "alerts")}), nil
}

// alertEndpoint resolves one configured endpoint (at is its path in the
// configuration): its URL, from the file or the environment when it says
// so, and a standard endpoint's signing secret.
func alertEndpoint(at string, e config.AlertEndpoint, getenv func(string) string) (alert.Endpoint, error) {
	url := e.URL
	if e.URLEnv != "" || e.URLFile != "" {
		v, err := secret(getenv, at+".url", e.URLEnv, e.URLFile)
		if err != nil {
			return alert.Endpoint{}, err
		}
		url = v
	}
	// The error never repeats the URL, which may be a secret.
	if u, err := neturl.Parse(url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return alert.Endpoint{}, fmt.Errorf("%s.url: must be an http or https URL with a host", at)
	}
	ep := alert.Endpoint{Name: e.Name, URL: url, Format: e.Format}
	for _, k := range e.Events {
		ep.Events = append(ep.Events, alert.Kind(k))
	}
	if e.Format == alert.FormatStandard {
		s, err := secret(getenv, at+".secret", e.SecretEnv, e.SecretFile)
		if err != nil {
			return alert.Endpoint{}, err
		}
		if ep.Secret, err = alert.ParseSecret(s); err != nil {
			return alert.Endpoint{}, fmt.Errorf("%s.secret: %w", at, err)
		}
	}
	return ep, nil
}

// alertChecker raises the alerts that come from looking: budgets,
// commitments, compliance and keys about to expire, every
// alerts.check_interval. Breakers raise theirs as they open (see
// breakerAlert). Every replica checks; the outbox makes each alert one.
type alertChecker struct {
	cfg    config.Alerts
	st     *sqlstore.Store
	router func() *route.Router
	d      *alert.Dispatcher
	log    *slog.Logger
	// budgets is the last check's budget use of every budgeted tenant,
	// for switchyard_budget_used_ratio.
	budgets atomic.Pointer[[]telemetry.BudgetState]

	stop chan struct{}
	wg   sync.WaitGroup
}

func (c *alertChecker) start() {
	c.stop = make(chan struct{})
	c.wg.Go(func() {
		t := time.NewTicker(c.cfg.CheckInterval.Std())
		defer t.Stop()
		for {
			c.check(context.Background(), time.Now())
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
		}
	})
}

func (c *alertChecker) close() error {
	if c.stop != nil {
		close(c.stop)
		c.wg.Wait()
	}
	return nil
}

// budgetState is the source of switchyard_budget_used_ratio.
func (c *alertChecker) budgetState() []telemetry.BudgetState {
	if p := c.budgets.Load(); p != nil {
		return *p
	}
	return nil
}

// check runs one round; a failing step is logged and retried next round,
// and does not stop the others.
func (c *alertChecker) check(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, max(c.cfg.CheckInterval.Std(), 10*time.Second))
	defer cancel()
	for _, step := range []struct {
		name string
		fn   func(context.Context, time.Time) error
	}{{"budgets", c.checkBudgets}, {"commitments", c.checkCommitments}, {"compliance", c.checkCompliance}, {"key expiry", c.checkKeys}} {
		if err := step.fn(ctx, now); err != nil {
			c.log.Warn("checking alerts", "check", step.name, "err", err)
		}
	}
}

// raise records ev; errors are collected so that one failed insert does
// not hide the rest of a round.
func (c *alertChecker) raise(ctx context.Context, ev alert.Event, errs *[]error) {
	if err := c.d.Raise(ctx, ev); err != nil {
		*errs = append(*errs, err)
	}
}

// periodLabel names a budget period by its start: a day, a month, or
// "all" for a budget that never resets.
func periodLabel(period string, start time.Time) string {
	switch period {
	case store.PeriodDay:
		return start.Format("2006-01-02")
	case store.PeriodMonth:
		return start.Format("2006-01")
	}
	return "all"
}

func (c *alertChecker) checkBudgets(ctx context.Context, now time.Time) error {
	fs, err := budgetForecasts(ctx, c.st, now)
	if err != nil {
		return err
	}
	var states []telemetry.BudgetState
	var errs []error
	for _, f := range fs {
		ratio := f.SpentUSD / f.BudgetUSD
		if f.Scope == store.GroupTenant {
			states = append(states, telemetry.BudgetState{Tenant: f.Name, UsedRatio: ratio})
		}
		who := "tenant " + f.Name
		if f.Scope == store.GroupKey {
			who = "key " + f.Name + " of tenant " + f.Tenant
		}
		per := map[string]string{store.PeriodDay: "daily ", store.PeriodMonth: "monthly "}[f.Period]
		if f.Forecast.RunsOut && ratio < 1 && f.Forecast.ExhaustsAt != nil {
			c.raise(ctx, alert.Event{Kind: alert.BudgetRunsOut, Subject: f.Scope + ":" + f.ID,
				Period: periodLabel(f.Period, f.PeriodStart), At: now,
				Summary: fmt.Sprintf("%s will spend its %sbudget ($%.2f) by %s at its run rate of $%.2f a day ($%.2f spent so far)",
					who, per, f.BudgetUSD, f.Forecast.ExhaustsAt.UTC().Format(time.RFC3339), f.Forecast.RunRateUSDPerDay, f.SpentUSD),
				Details: map[string]any{"scope": f.Scope, "id": f.ID, "name": f.Name, "tenant": f.Tenant, "period": f.Period,
					"budget_usd": f.BudgetUSD, "spent_usd": f.SpentUSD, "run_rate_usd_per_day": f.Forecast.RunRateUSDPerDay,
					"exhausts_at": f.Forecast.ExhaustsAt.UTC().Format(time.RFC3339), "method": f.Forecast.Method}}, &errs)
		}
		for _, th := range c.cfg.BudgetThresholds {
			if ratio*100 < th {
				continue
			}
			pct := strconv.FormatFloat(th, 'f', -1, 64)
			c.raise(ctx, alert.Event{Kind: alert.BudgetThreshold, Subject: f.Scope + ":" + f.ID, Threshold: pct,
				Period: periodLabel(f.Period, f.PeriodStart), At: now,
				Summary: fmt.Sprintf("%s has spent %.0f%% of its %sbudget ($%.2f of $%.2f), past the %s%% threshold",
					who, ratio*100, per, f.SpentUSD, f.BudgetUSD, pct),
				Details: map[string]any{"scope": f.Scope, "id": f.ID, "name": f.Name, "tenant": f.Tenant, "period": f.Period,
					"period_start": f.PeriodStart.Format(time.RFC3339), "budget_usd": f.BudgetUSD, "spent_usd": f.SpentUSD,
					"used_ratio": ratio}}, &errs)
		}
	}
	c.budgets.Store(&states)
	return joinErrs(errs)
}

func (c *alertChecker) checkCommitments(ctx context.Context, now time.Time) error {
	var errs []error
	// Projections: a commitment whose run rate ends its period short,
	// once the period is far enough along for a run rate to mean much.
	fs, err := commitmentForecasts(ctx, c.st, c.router(), now)
	if err != nil {
		errs = append(errs, err)
	}
	for _, f := range fs {
		span := f.PeriodEnd.Sub(f.PeriodStart)
		if !f.Forecast.EndsShort || span <= 0 || now.Sub(f.PeriodStart) < time.Duration(float64(span)*c.cfg.CommitmentGrace) {
			continue
		}
		c.raise(ctx, alert.Event{Kind: alert.CommitmentEndsShort, Subject: "commitment:" + f.Contract + "/" + f.Provider,
			Period: f.PeriodStart.UTC().Format(time.RFC3339), At: now,
			Summary: fmt.Sprintf("commitment %s on %s is projected to end its period at $%.2f of the $%.2f committed ($%.2f a day; %s)",
				f.Contract, f.Provider, f.Forecast.ProjectedUSD, f.AmountUSD, f.Forecast.RunRateUSDPerDay, f.Forecast.Method),
			Details: map[string]any{"contract": f.Contract, "channel": f.Provider, "amount_usd": f.AmountUSD, "spent_usd": f.SpentUSD,
				"projected_usd": f.Forecast.ProjectedUSD, "run_rate_usd_per_day": f.Forecast.RunRateUSDPerDay, "burn_down": f.BurnDown,
				"period_end": f.PeriodEnd.UTC().Format(time.RFC3339)}}, &errs)
	}
	for _, s := range c.router().CommitmentStatus(now) {
		span := s.PeriodEnd.Sub(s.PeriodStart)
		if span <= 0 || now.Sub(s.PeriodStart) < time.Duration(float64(span)*c.cfg.CommitmentGrace) || s.PacingUSD <= 0 {
			continue
		}
		pace := s.SpentUSD / s.PacingUSD
		kind, word := alert.Kind(""), ""
		switch {
		case pace < c.cfg.CommitmentBehind:
			kind, word = alert.CommitmentBehind, "behind"
		case pace > c.cfg.CommitmentAhead:
			kind, word = alert.CommitmentAhead, "ahead of"
		default:
			continue
		}
		c.raise(ctx, alert.Event{Kind: kind, Subject: "commitment:" + s.Contract + "/" + s.Provider,
			Period: s.PeriodStart.UTC().Format(time.RFC3339), At: now,
			Summary: fmt.Sprintf("commitment %s on %s is %s its pace: $%.2f spent of $%.2f due by now (%.0f%%), $%.2f committed",
				s.Contract, s.Provider, word, s.SpentUSD, s.PacingUSD, pace*100, s.AmountUSD),
			Details: map[string]any{"contract": s.Contract, "channel": s.Provider, "amount_usd": s.AmountUSD,
				"spent_usd": s.SpentUSD, "due_usd": s.PacingUSD, "pace_ratio": pace,
				"period_start": s.PeriodStart.UTC().Format(time.RFC3339), "period_end": s.PeriodEnd.UTC().Format(time.RFC3339)}}, &errs)
	}
	return joinErrs(errs)
}

// complianceLookback is the least window of the ledger each compliance
// check reads: rows reach the ledger in batches, so the window reaches
// back over several checks.
const complianceLookback = 15 * time.Minute

func (c *alertChecker) checkCompliance(ctx context.Context, now time.Time) error {
	if len(c.router().Contracts()) == 0 {
		return nil
	}
	since := now.Add(-max(complianceLookback, 3*c.cfg.CheckInterval.Std()))
	rep, err := compliance(ctx, c.st, c.router(), since, now)
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range rep.Violations {
		day := v.Time
		if t, err := time.Parse(time.RFC3339, v.Time); err == nil {
			day = t.UTC().Format("2006-01-02")
		}
		for _, contract := range v.Contracts {
			c.raise(ctx, alert.Event{Kind: alert.ComplianceViolation, Subject: "contract:" + contract + "/" + v.Provider,
				Period: day, At: now,
				Summary: fmt.Sprintf("channel %s carried request %s (tenant %s, model %s), which contract %s does not allow",
					v.Provider, v.RequestID, v.Tenant, v.Model, contract),
				Details: map[string]any{"contract": contract, "channel": v.Provider, "request_id": v.RequestID,
					"tenant": v.Tenant, "model": v.Model, "time": v.Time, "status": v.Status}}, &errs)
		}
	}
	return joinErrs(errs)
}

func (c *alertChecker) checkKeys(ctx context.Context, now time.Time) error {
	notice := c.cfg.KeyExpiryNotice.Std()
	if notice <= 0 {
		return nil
	}
	keys, err := c.st.ListKeys(ctx, "")
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		if k.ExpiresAt == nil || k.Revoked(now) || k.Expired(now) || k.ExpiresAt.Sub(now) > notice {
			continue
		}
		exp := k.ExpiresAt.UTC().Format(time.RFC3339)
		c.raise(ctx, alert.Event{Kind: alert.KeyExpiring, Subject: "key:" + k.ID, Period: exp, At: now,
			Summary: fmt.Sprintf("key %s (%s…) expires at %s, in %s", k.Name, k.Prefix, exp, k.ExpiresAt.Sub(now).Round(time.Minute)),
			Details: map[string]any{"key_id": k.ID, "name": k.Name, "tenant_id": k.TenantID, "prefix": k.Prefix, "expires_at": exp}}, &errs)
	}
	return joinErrs(errs)
}

// breakerAlert is route.BreakerOptions.OnOpen: it raises one alert per
// channel per alerts.breaker_every window, without blocking the request
// whose attempt tripped the breaker.
func breakerAlert(d *alert.Dispatcher, every time.Duration) func(channel string, at time.Time) {
	return func(channel string, at time.Time) {
		d.Notify(alert.Event{Kind: alert.BreakerOpen, Subject: "channel:" + channel,
			Period: at.UTC().Truncate(every).Format(time.RFC3339), At: at,
			Summary: fmt.Sprintf("channel %s's circuit breaker opened: its traffic goes to other channels until a probe succeeds", channel),
			Details: map[string]any{"channel": channel, "opened_at": at.UTC().Format(time.RFC3339Nano)}})
	}
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d alerts not recorded: %w", len(errs), errs[0])
}

// billDrift raises a bill_drift alert for each discrepancy of a
// reconciliation: once per day, channel and model, however often the
// same bill is reconciled.
func billDrift(ctx context.Context, d *alert.Dispatcher, rec *billing.Reconciliation) error {
	var errs []error
	for _, r := range rec.Discrepancies {
		model := cmp.Or(r.Model, "(all)")
		if err := d.Raise(ctx, alert.Event{Kind: alert.BillDrift, Subject: "channel:" + r.Channel, Threshold: model,
			Period: r.Day.UTC().Format(time.DateOnly),
			Summary: fmt.Sprintf("the %s bill says $%.2f on %s for %s on %s, the ledger $%.2f (%+.1f%%)",
				rec.Provider, r.BilledUSD, r.Channel, model, r.Day.UTC().Format(time.DateOnly), r.LedgerUSD, r.DiffPct),
			Details: map[string]any{"bill": rec.Provider, "channel": r.Channel, "model": model, "day": r.Day.UTC().Format(time.DateOnly),
				"billed_usd": r.BilledUSD, "ledger_usd": r.LedgerUSD, "diff_usd": r.DiffUSD, "diff_pct": r.DiffPct,
				"threshold_pct": rec.ThresholdPct, "threshold_usd": rec.ThresholdUSD}}); err != nil {
			errs = append(errs, err)
		}
	}
	return joinErrs(errs)
}
