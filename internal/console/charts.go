package console

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Charts are drawn here, on the server, as coordinates an SVG template
// renders: the pages need no script, and each chart has a text
// alternative (its title and description, and the table beside it).

const (
	chartW, chartH = 640.0, 240.0
	padL, padB     = 84.0, 30.0
	padT, padR     = 10.0, 8.0
)

// bar is one rectangle of a bar chart.
type bar struct {
	X, Y, W, H float64
	// Class is "bar" or "bar err" (the stylesheet colours them).
	Class string
	// Label is the bar's tooltip: its bucket and value.
	Label string
}

// tick is a labelled position on an axis.
type tick struct {
	X, Y  float64
	Label string
}

// barChart is a bar chart of values per time bucket.
type barChart struct {
	ID, Title, Desc string
	W, H            float64
	Bars            []bar
	XTicks, YTicks  []tick
	// Base is the y of the x axis.
	Base, Left, Right float64
}

// series is one chart's buckets: a label per bucket, a value per bucket
// and, optionally, an overlaid part of each value (errors of requests).
type series struct {
	labels       []string
	values, part []float64
	format       func(float64) string
}

func newBarChart(id, title, desc string, s series) barChart {
	c := barChart{ID: id, Title: title, Desc: desc, W: chartW, H: chartH, Base: chartH - padB, Left: padL, Right: chartW - padR}
	top := 0.0
	for _, v := range s.values {
		top = max(top, v)
	}
	top = niceCeil(top)
	plotH := chartH - padB - padT
	n := len(s.values)
	if n == 0 {
		return c
	}
	slot := (chartW - padL - padR) / float64(n)
	y := func(v float64) float64 { return padT + plotH*(1-v/top) }
	for i, v := range s.values {
		x := padL + float64(i)*slot + slot*0.1
		w := slot * 0.8
		label := s.labels[i] + ": " + s.format(v)
		if s.part != nil {
			label += " (" + s.format(s.part[i]) + " errors)"
		}
		c.Bars = append(c.Bars, bar{X: x, Y: y(v), W: w, H: c.Base - y(v), Class: "bar", Label: label})
		if s.part != nil && s.part[i] > 0 {
			c.Bars = append(c.Bars, bar{X: x, Y: y(s.part[i]), W: w, H: c.Base - y(s.part[i]), Class: "bar err", Label: label})
		}
	}
	every := max(1, n/6)
	for i := 0; i < n; i += every {
		c.XTicks = append(c.XTicks, tick{X: padL + (float64(i)+0.5)*slot, Y: chartH - 8, Label: s.labels[i]})
	}
	for _, f := range []float64{0, 0.5, 1} {
		c.YTicks = append(c.YTicks, tick{X: padL - 6, Y: y(top*f) + 6, Label: s.format(top * f)})
	}
	return c
}

// niceCeil rounds v up to a round multiple of a power of ten (1, 1.2,
// 1.5, 2, 2.5, 3, 4, 5, 6 or 8 of it), so that axis labels read well.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1e-6
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			return max(m*p, 1e-6)
		}
	}
	return 10 * p
}

// burnDown is a commitment's chart over its period: the spend so far
// (cumulative, from the ledger, ending at the live figure), the even
// pacing line to the amount, and the line to the period's end of the
// commitment report's forecast (the one projection every surface shows).
type burnDown struct {
	ID, Title, Desc string
	W, H            float64
	Spent           string // polyline points
	Pacing          string
	Projection      string
	// Amount is the y of the commitment's amount; Now the x of now.
	AmountY, NowX     float64
	Base, Left, Right float64
	YTicks, XTicks    []tick
	ProjectedUSD      float64
}

// forecast is the commitment report's projection of a commitment to its
// period's end (billing's method, computed once for the API, the CLI and
// the console).
type forecast struct {
	Method       string  `json:"method"`
	ProjectedUSD float64 `json:"projected_usd"`
	EndsShort    bool    `json:"ends_short"`
}

// point is a cumulative spend at a time.
type point struct {
	at  time.Time
	usd float64
}

func newBurnDown(id, title string, start, end, now time.Time, amount float64, f forecast, spent []point) burnDown {
	b := burnDown{ID: id, Title: title, W: chartW, H: chartH, Base: chartH - padB, Left: padL, Right: chartW - padR}
	span := end.Sub(start).Seconds()
	if span <= 0 {
		return b
	}
	if now.After(end) {
		now = end
	}
	last := 0.0
	if len(spent) > 0 {
		last = spent[len(spent)-1].usd
	}
	elapsed := now.Sub(start).Seconds()
	b.ProjectedUSD = f.ProjectedUSD
	top := niceCeil(max(amount, b.ProjectedUSD, last) * 1.05)
	plotW, plotH := chartW-padL-padR, chartH-padB-padT
	x := func(t time.Time) float64 { return padL + plotW*min(max(t.Sub(start).Seconds()/span, 0), 1) }
	y := func(v float64) float64 { return padT + plotH*(1-v/top) }
	pts := func(ps ...point) string {
		var s strings.Builder
		for i, p := range ps {
			if i > 0 {
				s.WriteByte(' ')
			}
			fmt.Fprintf(&s, "%.1f,%.1f", x(p.at), y(p.usd))
		}
		return s.String()
	}
	b.Spent = pts(append([]point{{start, 0}}, spent...)...)
	b.Pacing = pts(point{start, 0}, point{end, amount})
	if elapsed > 0 {
		b.Projection = pts(point{now, last}, point{end, b.ProjectedUSD})
	}
	b.AmountY, b.NowX = y(amount), x(now)
	for _, f := range []float64{0, 0.5, 1} {
		b.YTicks = append(b.YTicks, tick{X: padL - 6, Y: y(top*f) + 6, Label: usd(top * f)})
	}
	b.XTicks = []tick{{X: padL + 24, Y: chartH - 8, Label: start.UTC().Format("Jan 2")}, {X: chartW - padR - 20, Y: chartH - 8, Label: end.UTC().Format("Jan 2")}}
	b.Desc = fmt.Sprintf("Spent %s of %s so far; even pacing is a straight line to %s at %s; the forecast (%s) ends the period at %s.",
		usd(last), usd(amount), usd(amount), end.UTC().Format(time.DateTime), f.Method, usd(b.ProjectedUSD))
	return b
}

// usd formats dollars for people: cents below 100, whole dollars above.
func usd(v float64) string {
	switch {
	case v == 0:
		return "$0"
	case v < 0.000001:
		return "< $0.000001"
	case v < 0.01:
		return "$" + strings.TrimRight(strconv.FormatFloat(v, 'f', 6, 64), "0")
	case v < 100:
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	}
	return "$" + group(int64(v+0.5))
}

// count formats an integer with thousands separators.
func count(v float64) string { return group(int64(v + 0.5)) }

func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
