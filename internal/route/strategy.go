package route

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// orderBy sorts the candidate indices idx in place by strategy and
// explains the result. snaps is indexed by candidate index.
func (r *Router) orderBy(strategy string, m *Model, in *Input, idx []int, snaps []snapshot) string {
	switch strategy {
	case StrategyWeighted:
		return r.orderWeighted(m, idx)
	case StrategyLeastLatency:
		return r.orderLeastLatency(m, idx, snaps)
	case StrategyLowestCost:
		return orderLowestCost(m, in, idx)
	}
	return "priority: configured order"
}

func weight(o *Offering) float64 {
	if o.Weight == 0 {
		return 1
	}
	return o.Weight
}

// orderWeighted draws the first offering by weight, then each fallback the
// same way from those left: a weighted permutation without replacement.
func (r *Router) orderWeighted(m *Model, idx []int) string {
	var total float64
	for _, i := range idx {
		total += weight(&m.Offerings[i])
	}
	var b strings.Builder
	b.WriteString("weighted: ")
	if len(idx) == 0 {
		b.WriteString("nothing to draw from")
		return b.String()
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
	b.WriteString("drew ")
	b.WriteString(first.Provider)
	b.WriteString(" first (weight ")
	b.WriteString(formatFloat(weight(first)))
	b.WriteString(" of ")
	b.WriteString(formatFloat(total))
	b.WriteString(")")
	if len(idx) > 1 {
		b.WriteString(", then ")
		writeProviders(&b, m, idx[1:])
		b.WriteString(" by weight")
	}
	return b.String()
}

// orderLeastLatency puts channels without samples first (so they get
// measured), then the others by average time to first byte (total latency
// when a channel has no TTFB samples). With probability Exploration one of
// the slower channels, drawn uniformly, goes first, so a channel that got
// faster is noticed.
func (r *Router) orderLeastLatency(m *Model, idx []int, snaps []snapshot) string {
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
	var b strings.Builder
	b.WriteString("least_latency: ")
	for k, i := range idx {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.Offerings[i].Provider)
		if s, ok := score(i); ok {
			b.WriteByte(' ')
			b.WriteString(s.Round(100 * time.Microsecond).String())
		} else {
			b.WriteString(" (no samples yet)")
		}
	}
	// Exploration only matters once every channel has samples: channels
	// without any already go first.
	if len(idx) > 1 && r.explore > 0 && snaps[idx[0]].ttfb.n+snaps[idx[0]].total.n > 0 && r.rand() < r.explore {
		j := 1 + int(r.rand()*float64(len(idx)-1))
		j = min(j, len(idx)-1)
		moveToFront(idx, j)
		b.WriteString("; exploring ")
		b.WriteString(m.Offerings[idx[0]].Provider)
		b.WriteString(" first (")
		b.WriteString(formatFloat(r.explore * 100))
		b.WriteString("% of requests)")
	}
	return b.String()
}

// orderLowestCost sorts by the price of the expected tokens, keeping the
// configured order among equal prices.
func orderLowestCost(m *Model, in *Input, idx []int) string {
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
	var b strings.Builder
	if perMillion {
		b.WriteString("lowest_cost per million input and output tokens: ")
	} else {
		b.WriteString("lowest_cost for ")
		b.WriteString(strconv.FormatInt(in.EstInputTokens, 10))
		b.WriteString(" input and ")
		b.WriteString(strconv.FormatInt(in.EstOutputTokens, 10))
		b.WriteString(" output tokens: ")
	}
	for k, i := range idx {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.Offerings[i].Provider)
		b.WriteByte(' ')
		b.WriteString(formatUSD(cost(i)))
	}
	return b.String()
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

func writeProviders(b *strings.Builder, m *Model, idx []int) {
	for k, i := range idx {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.Offerings[i].Provider)
	}
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// formatUSD renders an amount rounded to a millionth of a dollar.
func formatUSD(v float64) string {
	return "$" + strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}
