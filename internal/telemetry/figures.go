package telemetry

import (
	"math"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Figures are the metrics an operator's overview shows, read from the
// registry since the process started.
type Figures struct {
	// Requests counts client requests answered.
	Requests float64
	// P50 and P99 estimate request duration quantiles from the duration
	// histogram (linear within a bucket, as Prometheus's
	// histogram_quantile does); zero without requests.
	P50, P99 time.Duration
	// Refusals counts refusals by kind: "overload: <reason>" from
	// admission control and "connection cap: <listener>" from the
	// listeners.
	Refusals map[string]float64
}

// Figures reads the overview's figures from the registry.
func (m *Metrics) Figures() (Figures, error) {
	f := Figures{Refusals: map[string]float64{}}
	mfs, err := m.Registry.Gather()
	if err != nil {
		return f, err
	}
	var buckets []*dto.Bucket
	for _, mf := range mfs {
		switch mf.GetName() {
		case "switchyard_requests_total":
			for _, x := range mf.GetMetric() {
				f.Requests += x.GetCounter().GetValue()
			}
		case "switchyard_request_duration_seconds":
			buckets = mergeBuckets(mf.GetMetric())
		case "switchyard_admission_refusals_total":
			for _, x := range mf.GetMetric() {
				f.Refusals["overload: "+label(x, "reason")] += x.GetCounter().GetValue()
			}
		case "switchyard_connections_refused_total":
			for _, x := range mf.GetMetric() {
				f.Refusals["connection cap: "+label(x, "listener")] += x.GetCounter().GetValue()
			}
		}
	}
	f.P50, f.P99 = quantile(0.5, buckets), quantile(0.99, buckets)
	return f, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// mergeBuckets sums the cumulative buckets of every series of one
// histogram.
func mergeBuckets(ms []*dto.Metric) []*dto.Bucket {
	sums := map[float64]uint64{}
	for _, m := range ms {
		for _, b := range m.GetHistogram().GetBucket() {
			sums[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	out := make([]*dto.Bucket, 0, len(sums))
	for ub, n := range sums {
		out = append(out, &dto.Bucket{UpperBound: &ub, CumulativeCount: &n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetUpperBound() < out[j].GetUpperBound() })
	return out
}

// quantile estimates the q-quantile from cumulative buckets; observations
// past the last bound are reported as that bound.
func quantile(q float64, bs []*dto.Bucket) time.Duration {
	if len(bs) == 0 {
		return 0
	}
	total := float64(bs[len(bs)-1].GetCumulativeCount())
	if total == 0 {
		return 0
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bs {
		n := float64(b.GetCumulativeCount())
		if n >= rank && !math.IsInf(b.GetUpperBound(), 1) {
			in := n - below
			frac := 1.0
			if in > 0 {
				frac = (rank - below) / in
			}
			return time.Duration((lower + (b.GetUpperBound()-lower)*frac) * float64(time.Second))
		}
		if !math.IsInf(b.GetUpperBound(), 1) {
			lower = b.GetUpperBound()
		}
		below = n
	}
	return time.Duration(lower * float64(time.Second))
}
