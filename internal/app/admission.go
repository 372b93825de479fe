package app

import (
	"runtime/debug"
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
// function that stops its upkeep.
func admissionLimiter(c config.Admission, metrics *telemetry.Metrics) (*overload.Limiter, func() error) {
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
	go returnMemoryAfterBursts(l, 5*time.Second, stop)
	return l, func() error { close(stop); return nil }
}

// returnMemoryAfterBursts gives the memory an overload burst took back to
// the operating system once the burst is over (no refusal for a whole
// period, after some): Go's own scavenger would take minutes, and an
// operator reads a gateway whose RSS stays at its peak as a leak.
func returnMemoryAfterBursts(l *overload.Limiter, every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	refusals := func() uint64 {
		var n uint64
		for _, v := range l.Stats().Refused {
			n += v
		}
		return n
	}
	last, burst := refusals(), false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		n := refusals()
		switch {
		case n != last:
			burst = true
		case burst:
			burst = false
			debug.FreeOSMemory()
		}
		last = n
	}
}
