package telemetry

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWatchAdmission(t *testing.T) {
	m := NewMetrics()
	m.WatchAdmission(func() AdmissionState {
		return AdmissionState{Limit: 48, InFlight: 40, Parked: 600, RequestLimit: 1024, Queued: 3, Streams: 7, MaxStreams: 10000, Admitted: 900,
			Refused: map[string]uint64{"queue_full": 2, "queue_timeout": 5, "streams_full": 0}, Delay: 4 * time.Millisecond}
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"switchyard_admission_limit 48\n",
		"switchyard_admission_in_flight 40\n",
		"switchyard_admission_queue_length 3\n",
		"switchyard_admission_parked 600\n",
		"switchyard_admission_requests_limit 1024\n",
		"switchyard_admission_streams 7\n",
		"switchyard_admission_streams_limit 10000\n",
		"switchyard_admission_admitted_total 900\n",
		`switchyard_admission_refusals_total{reason="queue_full"} 2` + "\n",
		`switchyard_admission_refusals_total{reason="queue_timeout"} 5` + "\n",
		`switchyard_admission_refusals_total{reason="streams_full"} 0` + "\n",
		"switchyard_admission_delay_seconds 0.004\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", strings.TrimSpace(want))
		}
	}
}
