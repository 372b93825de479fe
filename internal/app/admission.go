package app

import (
	"context"
	"log/slog"
	"time"

	"switchyard/internal/config"
	"switchyard/internal/overload"
	"switchyard/internal/telemetry"
)

// cpuDelayQuantile is the quantile of the Go scheduler's latency the
// adaptive limit judges: high enough to see a run queue building, low
// enough that one GC pause does not halve the limit.
const cpuDelayQuantile = 0.75

// admissionLimiter builds admission control from server.admission, reports
// it in the metrics, and returns it (nil when the mode is off) with the
// function that stops its upkeep. release gives back what an overload
// burst took, once it is over (see watchRefusals).
func admissionLimiter(c config.Admission, metrics *telemetry.Metrics, log *slog.Logger, release func()) (*overload.Limiter, func() error) {
	if c.Mode == "off" {
		return nil, func() error { return nil }
	}
	cfg := overload.Config{
		MinInFlight: c.MinInFlight, MaxInFlight: c.MaxInFlight, MaxRequests: c.MaxRequests, MaxStreams: c.MaxStreams,
		Queue: c.Queue, QueueTimeout: c.QueueTimeout.Std(),
		Adaptive: c.Mode == "adaptive", TargetDelay: c.TargetDelay.Std(),
	}
	if cfg.Adaptive {
		cfg.CPUDelay = overload.SchedLatency(cpuDelayQuantile)
	}
	l := overload.New(cfg, nil)
	metrics.WatchAdmission(func() telemetry.AdmissionState {
		s := l.Stats()
		refused := make(map[string]uint64, len(s.Refused))
		for r, n := range s.Refused {
			refused[string(r)] = n
		}
		return telemetry.AdmissionState{Limit: s.Limit, InFlight: s.InFlight, Parked: s.Parked, RequestLimit: s.RequestLimit, Queued: s.Queued,
			Streams: s.Streams, MaxStreams: s.MaxStreams, Admitted: s.Admitted, Refused: refused, Delay: s.Delay}
	})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchRefusals(l, log, time.Second, 5, stop, release)
	}()
	return l, func() error { close(stop); <-done; return nil }
}

// watchRefusals does two things each period. Refusals get no access line
// of their own (see internal/api), so while they happen it logs one line
// summing up the period's refusals by reason, with the limits in force.
// And once a burst of refusals is over (quiet periods without a refusal,
// after some) it calls release, which in production closes the idle
// connections the burst opened to channels and gives the memory the burst
// took back to the operating system: Go's transport would keep those
// connections for minutes and its scavenger would take as long, and an
// operator reads a gateway whose RSS stays at its peak as a leak.
func watchRefusals(l *overload.Limiter, log *slog.Logger, every time.Duration, quiet int, stop <-chan struct{}, release func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := l.Stats().Refused
	calm := -1 // periods without a refusal since the last burst; -1: no burst
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		s := l.Stats()
		var total uint64
		attrs := make([]slog.Attr, 0, len(overload.Reasons)+6)
		attrs = append(attrs, slog.Duration("period", every))
		for _, r := range overload.Reasons {
			n := s.Refused[r] - last[r]
			total += n
			attrs = append(attrs, slog.Uint64(string(r), n))
		}
		last = s.Refused
		switch {
		case total > 0:
			attrs = append(attrs, slog.Uint64("refused", total), slog.Int("limit", s.Limit), slog.Int("requests_limit", s.RequestLimit),
				slog.Int("in_flight", s.InFlight), slog.Int("parked", s.Parked), slog.Duration("delay", s.Delay))
			log.LogAttrs(context.Background(), slog.LevelWarn, "requests refused: overloaded", attrs...)
			calm = 0
		case calm >= 0:
			if calm++; calm >= quiet {
				calm = -1
				release()
			}
		}
	}
}
