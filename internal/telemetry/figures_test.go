package telemetry

import (
	"testing"
	"time"
)

func TestFigures(t *testing.T) {
	m := NewMetrics()
	f, err := m.Figures()
	if err != nil {
		t.Fatal(err)
	}
	if f.Requests != 0 || f.P50 != 0 || f.P99 != 0 {
		t.Fatalf("empty registry: %+v", f)
	}
	// Series that exist from the start (the connection caps') count zero.
	for kind, n := range f.Refusals {
		if n != 0 {
			t.Fatalf("empty registry: refusals[%q] = %v", kind, n)
		}
	}
	// 98 requests in the 5-10 ms bucket, 2 in the 1-2.5 s bucket, over two
	// series that the figures merge.
	for i := range 100 {
		d, model := 0.007, "a"
		if i%2 == 1 {
			model = "b"
		}
		if i >= 98 {
			d = 2
		}
		m.duration.WithLabelValues("openai", model, "p").Observe(d)
		m.requests.WithLabelValues("openai", model, "p", "200").Inc()
	}
	m.ConnectionRefused("client")
	m.WatchAdmission(func() AdmissionState { return AdmissionState{Refused: map[string]uint64{"queue_full": 3}} })
	if f, err = m.Figures(); err != nil {
		t.Fatal(err)
	}
	if f.Requests != 100 {
		t.Errorf("requests = %v, want 100", f.Requests)
	}
	if f.P50 <= 5*time.Millisecond || f.P50 > 10*time.Millisecond {
		t.Errorf("p50 = %v, want within the 5-10 ms bucket", f.P50)
	}
	if f.P99 <= time.Second || f.P99 > 2500*time.Millisecond {
		t.Errorf("p99 = %v, want within the 1-2.5 s bucket", f.P99)
	}
	if f.Refusals["overload: queue_full"] != 3 || f.Refusals["connection cap: client"] != 1 {
		t.Errorf("refusals = %v", f.Refusals)
	}
}
