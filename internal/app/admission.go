package app

import (
	"switchyard/internal/config"
	"switchyard/internal/overload"
	"switchyard/internal/telemetry"
)

// admissionLimiter builds admission control from server.admission and
// reports it in the metrics; nil when the mode is off.
func admissionLimiter(c config.Admission, metrics *telemetry.Metrics) *overload.Limiter {
	if c.Mode == "off" {
		return nil
	}
	l := overload.New(overload.Config{
		MinInFlight: c.MinInFlight, MaxInFlight: c.MaxInFlight, MaxStreams: c.MaxStreams,
		Queue: c.Queue, QueueTimeout: c.QueueTimeout.Std(),
		Adaptive: c.Mode == "adaptive", TargetDelay: c.TargetDelay.Std(), CPUDelay: overload.SchedLatency(0.9),
	}, nil)
	metrics.WatchAdmission(func() telemetry.AdmissionState {
		s := l.Stats()
		refused := make(map[string]uint64, len(s.Refused))
		for r, n := range s.Refused {
			refused[string(r)] = n
		}
		return telemetry.AdmissionState{Limit: s.Limit, InFlight: s.InFlight, Queued: s.Queued,
			Streams: s.Streams, MaxStreams: s.MaxStreams, Admitted: s.Admitted, Refused: refused, Delay: s.Delay}
	})
	return l
}
