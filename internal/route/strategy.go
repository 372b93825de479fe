package route

import (
	"time"
)

// orderBy sorts the candidate indices idx in place by strategy and
// explains the result. snaps is indexed by candidate index.
func (r *Router) orderBy(t *text, strategy string, m *Model, in *Input, idx []int, snaps []snapshot) {
	switch strategy {
	case StrategyWeighted:
		r.orderWeighted(t, m, idx)
	case StrategyLeastLatency:
		r.orderLeastLatency(t, m, idx, snaps)
	case StrategyLowestCost:
		orderLowestCost(t, m, in, idx)
	default:
		t.whyLit("priority: configured order")
	}
}

func weight(o *Offering) float64 {
	if o.Weight == 0 {
		return 1
	}
	return o.Weight
}

// orderWeighted draws the first offering by weight, then each fallback the
// same way from those left: a weighted permutation without replacement.
func (r *Router) orderWeighted(t *text, m *Model, idx []int) {
	var total float64
	for _, i := range idx {
		total += weight(&m.Offerings[i])
	}
	left := total
	for k := 0; k < len(idx)-1; k++ {
		x := r.rand() * left
		j := k
		for ; j < len(idx)-1; j++ {
			x -= weight(&m.Offerings[idx[j]])
			if x < 0 {
				break
			}
		}
		moveToFront(idx[k:], j-k)
		left -= weight(&m.Offerings[idx[k]])
	}
	first := &m.Offerings[idx[0]]
	t.open()
	t.str("weighted: drew ")
	t.str(first.Provider)
	t.str(" first (weight ")
	t.float(weight(first))
	t.str(" of ")
	t.float(total)
	t.str(")")
	if len(idx) > 1 {
		t.str(", then ")
		t.list(m, idx[1:])
		t.str(" by weight")
	}
	t.closeWhy()
}

// orderLeastLatency puts channels without samples first (so they get
// measured), then the others by average time to first byte (total latency
// when a channel has no TTFB samples). With probability Exploration one of
// the slower channels, drawn uniformly, goes first, so a channel that got
// faster is noticed.
func (r *Router) orderLeastLatency(t *text, m *Model, idx []int, snaps []snapshot) {
	score := func(i int) (time.Duration, bool) {
		s := &snaps[i]
		switch {
		case s.ttfb.n > 0:
			return s.ttfb.duration(), true
		case s.total.n > 0:
			return s.total.duration(), true
		}
		return 0, false
	}
	insertionSort(idx, func(a, b int) bool {
		sa, oka := score(a)
		sb, okb := score(b)
		if oka != okb {
			return !oka
		}
		return sa < sb
	})
	t.open()
	t.str("least_latency: ")
	for k, i := range idx {
		if k > 0 {
			t.str(", ")
		}
		t.str(m.Offerings[i].Provider)
		if s, ok := score(i); ok {
			t.str(" ")
			t.ms(s)
		} else {
			t.str(" (no samples yet)")
		}
	}
	// Exploration only matters once every channel has samples: channels
	// without any already go first.
	if _, sampled := score(idx[0]); sampled && len(idx) > 1 && r.explore > 0 && r.rand() < r.explore {
		j := 1 + int(r.rand()*float64(len(idx)-1))
		moveToFront(idx, min(j, len(idx)-1))
		t.str("; exploring ")
		t.str(m.Offerings[idx[0]].Provider)
		t.str(" first (")
		t.float(r.explore * 100)
		t.str("% of requests)")
	}
	t.closeWhy()
}

// orderLowestCost sorts by the price of the expected tokens, keeping the
// configured order among equal prices.
func orderLowestCost(t *text, m *Model, in *Input, idx []int) {
	inTok, outTok := float64(in.EstInputTokens), float64(in.EstOutputTokens)
	perMillion := inTok == 0 && outTok == 0
	cost := func(i int) float64 {
		p := &m.Offerings[i].Price
		if perMillion {
			return p.InputPerMTok + p.OutputPerMTok
		}
		return (inTok*p.InputPerMTok + outTok*p.OutputPerMTok) / 1e6
	}
	insertionSort(idx, func(a, b int) bool { return cost(a) < cost(b) })
	t.open()
	if perMillion {
		t.str("lowest_cost per million input and output tokens: ")
	} else {
		t.str("lowest_cost for ")
		t.int(in.EstInputTokens)
		t.str(" input and ")
		t.int(in.EstOutputTokens)
		t.str(" output tokens: ")
	}
	for k, i := range idx {
		if k > 0 {
			t.str(", ")
		}
		t.str(m.Offerings[i].Provider)
		t.str(" ")
		t.usd(cost(i))
	}
	t.closeWhy()
}

// insertionSort is a stable, allocation-free sort for the few offerings of
// a model.
func insertionSort(idx []int, less func(a, b int) bool) {
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && less(idx[j], idx[j-1]); j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
}

// moveToFront moves s[j] to s[0], keeping the order of the others.
func moveToFront(s []int, j int) {
	v := s[j]
	copy(s[1:j+1], s[:j])
	s[0] = v
}
