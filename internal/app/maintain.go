package app

import (
	"context"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"switchyard/internal/capture"
	"switchyard/internal/config"

	"switchyard/internal/route"
	"switchyard/internal/session"
	"switchyard/internal/store/sqlstore"
)

// maintainer runs the periodic upkeep that keeps the store small: ledger
// roll-ups and pruning, and purging expired stored responses. Every
// replica may run it; the store makes each step safe to run concurrently.
type maintainer struct {
	st        *sqlstore.Store
	sessions  *session.Runtime
	retention time.Duration
	// payloadRetention is how long captured payloads are kept.
	payloadRetention time.Duration
	every            time.Duration
	log              *slog.Logger

	stop chan struct{}
	wg   sync.WaitGroup
}

func (m *maintainer) start() {
	m.stop = make(chan struct{})
	m.wg.Go(func() {
		t := time.NewTicker(m.every)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.once(context.Background(), time.Now())
			}
		}
	})
}

// once runs one round of upkeep; errors are logged and retried next round.
func (m *maintainer) once(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, m.every)
	defer cancel()
	if n, err := m.st.Rollup(ctx, now); err != nil {
		m.log.Warn("rolling up the usage ledger", "err", err)
	} else if n > 0 {
		m.log.Debug("usage ledger rolled up", "records", n)
	}
	if n, err := m.st.PruneUsage(ctx, now.Add(-m.retention)); err != nil {
		m.log.Warn("pruning the usage ledger", "err", err)
	} else if n > 0 {
		m.log.Info("usage ledger pruned", "rows", n)
	}
	if n, err := m.st.PrunePayloads(ctx, now.Add(-m.payloadRetention)); err != nil {
		m.log.Warn("pruning captured payloads", "err", err)
	} else if n > 0 {
		m.log.Info("captured payloads pruned", "rows", n)
	}
	if m.sessions != nil {
		if n, err := m.sessions.PurgeExpired(ctx, now); err != nil {
			m.log.Warn("purging expired responses", "err", err)
		} else if n > 0 {
			m.log.Info("expired responses purged", "count", n)
		}
	}
}

func (m *maintainer) close() error {
	if m.stop != nil {
		close(m.stop)
		m.wg.Wait()
	}
	return nil
}

// capturePolicy compiles log.payloads; nil when it captures nothing.
// Validate has checked its patterns.
func capturePolicy(c config.Payloads) *capture.Policy {
	o := capture.Options{NeverTenants: c.NeverTenants, MaxBytes: c.MaxBytes}
	for _, r := range c.Rules {
		o.Rules = append(o.Rules, capture.Rule{Tenant: r.Tenant, Key: r.Key, Model: r.Model, SampleRate: r.SampleRate})
	}
	for _, re := range c.Redact {
		o.Redact = append(o.Redact, regexp.MustCompile(re))
	}
	return capture.New(o)
}

// seedCommitments loads each commitment's spend in its current period from
// the ledger, so a restarted gateway paces from where it was.
func seedCommitments(ctx context.Context, st *sqlstore.Store, r *route.Router, now time.Time) error {
	bySince := map[time.Time]map[string]float64{}
	for _, c := range r.CommitmentStatus(now) {
		spend, ok := bySince[c.PeriodStart]
		if !ok {
			var err error
			if spend, err = st.SpendByProvider(ctx, c.PeriodStart); err != nil {
				return err
			}
			bySince[c.PeriodStart] = spend
		}
		r.SeedSpend(c.Provider, c.PeriodStart, spend[c.Provider])
	}
	return nil
}
