package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchyard/internal/access"
	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/telemetry"
)

// pageNames are the templates in templates/, each rendered inside
// layout.html.
var pageNames = []string{"signin", "error", "overview", "channels", "models", "contracts", "tenants", "tenant", "issued", "audit",
	"usage", "requests", "request", "config", "ssodone"}

func parseTemplates() map[string]*template.Template {
	funcs := template.FuncMap{
		"usd":   usd,
		"count": func(v any) string { return count(toFloat(v)) },
		"pct":   func(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" },
		"ms": func(v float64) string {
			if v == 0 {
				return "–"
			}
			if v < 10 {
				return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
			}
			return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
		},
		"dur": func(d time.Duration) string {
			if d == 0 {
				return "–"
			}
			return d.Round(time.Millisecond).String()
		},
		"when": func(t any) string {
			switch x := t.(type) {
			case time.Time:
				return x.UTC().Format("2006-01-02 15:04 UTC")
			case *time.Time:
				if x != nil {
					return x.UTC().Format("2006-01-02 15:04 UTC")
				}
			}
			return ""
		},
		"join": strings.Join,
		// labels renders labels as sorted k=v pairs, as the form takes them.
		"labels": func(md map[string]string) string {
			out := make([]string, 0, len(md))
			for k, v := range md {
				out = append(out, k+"="+v)
			}
			slices.Sort(out)
			return strings.Join(out, ",")
		},
		"list": func(s ...string) []string { return s },
		// The limits form takes a pointer: nil leaves every field empty.
		"nolimits": func() *admin.Limits { return nil },
		"limitsOf": func(l admin.Limits) *admin.Limits { return &l },
		"f1":       func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
		"stamp":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"path":     url.PathEscape,
		"inc":      func(i int) int { return i + 1 },
	}
	base := template.Must(template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
	}
	return out
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

// roundTrip reads a report that the admin package hands over as an API
// value (its JSON shape is the admin API's contract) into the console's
// own view of it.
func roundTrip(src, dst any) error {
	b, err := json.Marshal(src)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

// ---- sign-in ----

func (c *console) signinForm(w http.ResponseWriter, r *http.Request) {
	if s, _ := c.signedIn(r); s != nil {
		http.Redirect(w, r, landing(s.who), http.StatusSeeOther)
		return
	}
	c.showSignin(w, r, "", http.StatusOK)
}

type signinData struct {
	// SSO offers single sign-on.
	SSO bool
}

func (c *console) showSignin(w http.ResponseWriter, r *http.Request, problem string, status int) {
	tok := randomToken()
	setCookie(w, r, signinCookie, tok, 600)
	if c.o.Admin.CurrentToken() == "" && c.o.SSO == nil && len(c.o.Admin.Authenticators) == 0 && problem == "" {
		problem = "Sign-in is disabled: the admin token environment variable (admin.token_env) was empty when the gateway started."
	}
	c.render(w, r, &view{Title: "Sign in", CSRF: tok, Error: problem, template: "signin", status: status,
		Data: signinData{SSO: c.o.SSO != nil}})
}

// signIn checks a credential and returns the principal it names: the
// admin token, then the admin API's other authenticators. It is the one
// place a token sign-in is judged.
func (c *console) signIn(ctx context.Context, token string) (access.Principal, error) {
	if cur := c.o.Admin.CurrentToken(); cur != "" && tokensEqual(token, cur) {
		return access.BreakGlass, nil
	}
	return c.o.Admin.Authenticators.Authenticate(ctx, token)
}

func (c *console) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.showSignin(w, r, "The form could not be read.", http.StatusBadRequest)
		return
	}
	ck, err := r.Cookie(signinCookie)
	if err != nil || ck.Value == "" || !tokensEqual(ck.Value, r.PostForm.Get("csrf")) {
		c.showSignin(w, r, "The sign-in form expired or its security token is missing; try again.", http.StatusForbidden)
		return
	}
	who, err := c.signIn(r.Context(), r.PostForm.Get("token"))
	if err != nil && !errors.Is(err, access.ErrNoMatch) {
		c.log.Error("console sign-in failed", "remote", r.RemoteAddr, "err", err)
		c.showSignin(w, r, "Sign-in could not be checked just now; try again.", http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		c.log.Warn("console sign-in refused", "remote", r.RemoteAddr)
		c.showSignin(w, r, "That is not the admin token.", http.StatusUnauthorized)
		return
	}
	id, _ := c.sessions.create(who)
	setCookie(w, r, signinCookie, "", -1)
	setCookie(w, r, sessionCookie, id, 0)
	c.log.Info("console sign-in", "subject", who.Subject, "role", string(who.Role), "remote", r.RemoteAddr)
	if c.svc != nil {
		c.svc.SignedIn(access.WithOrigin(r.Context(), access.Origin{Address: r.RemoteAddr, RequestID: "ui_" + randomToken()[:16]}), who)
	}
	http.Redirect(w, r, landing(who), http.StatusSeeOther)
}

func (c *console) signout(w http.ResponseWriter, r *http.Request, s *session, v *view) (string, error) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.delete(ck.Value)
	}
	setCookie(w, r, sessionCookie, "", -1)
	return "/ui/signin", nil
}

// ---- overview ----

type windowTotal struct {
	Label string
	Row   admin.UsageRow
}

type overviewData struct {
	Windows            []windowTotal
	Requests, DaySpend barChart
	MonthSpend         barChart
	Figures            *telemetry.Figures
	FiguresError       string
	Refusals           []refusal
	MetricsAvailable   bool
	RequestsSinceStart float64
	HourlyRows         []hourRow
}

type refusal struct {
	Kind  string
	Count float64
}

type hourRow struct {
	Label string
	Row   admin.UsageRow
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// addUsage adds row's figures to sum.
func addUsage(sum *admin.UsageRow, row admin.UsageRow) {
	sum.Requests += row.Requests
	sum.Errors += row.Errors
	sum.InputTokens += row.InputTokens
	sum.OutputTokens += row.OutputTokens
	sum.CachedInputTokens += row.CachedInputTokens
	sum.CacheWriteTokens += row.CacheWriteTokens
	sum.ReasoningTokens += row.ReasoningTokens
	sum.CostUSD += row.CostUSD
}

// total sums the ledger over [since, until).
func (c *console) total(r *http.Request, since, until time.Time) (admin.UsageRow, error) {
	rep, err := c.svc.Usage(r.Context(), admin.UsageQuery{Since: rfc3339(since), Until: rfc3339(until)})
	if err != nil || len(rep.Data) == 0 {
		return admin.UsageRow{}, err
	}
	return rep.Data[0], nil
}

func (c *console) overview(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx, cancel := pageContext(r)
	defer cancel()
	r = r.WithContext(ctx)
	now := c.now().UTC()
	d := &overviewData{}
	until := now.Add(time.Minute)
	// Three ledger reads whatever the traffic, each from the rollups: the
	// last hour's total, the last day hour by hour and the last 30 days
	// day by day. The day's and the 30 days' totals are their series'
	// sums; each series' first hour or day counts only the part inside the
	// window, and the charts show the whole ones that follow.
	lastHour, err := c.total(r, now.Add(-time.Hour), until)
	if err != nil {
		return err
	}
	hours, err := c.svc.UsageByHour(ctx, admin.UsageQuery{Since: rfc3339(now.Add(-24 * time.Hour)), Until: rfc3339(until)})
	if err != nil {
		return err
	}
	month, err := c.svc.UsageByDay(ctx, admin.UsageQuery{Since: rfc3339(now.Add(-30 * 24 * time.Hour)), Until: rfc3339(until)})
	if err != nil {
		return err
	}
	var dayTotal, monthTotal admin.UsageRow
	byHour := make(map[time.Time]admin.UsageRow, len(hours))
	for _, h := range hours {
		addUsage(&dayTotal, h.UsageRow)
		byHour[h.Hour] = h.UsageRow
	}
	for _, day := range month {
		addUsage(&monthTotal, day.UsageRow)
	}
	d.Windows = []windowTotal{{"Last hour", lastHour}, {"Last day", dayTotal}, {"Last 30 days", monthTotal}}
	// The last 24 hours by hour, and the last 30 days by day (UTC).
	hourStart := now.Truncate(time.Hour).Add(-23 * time.Hour)
	var hs series
	spend := series{format: usd}
	hs.format = count
	for i := range 24 {
		from := hourStart.Add(time.Duration(i) * time.Hour)
		row := byHour[from]
		label := from.Format("15:04")
		hs.labels, hs.values, hs.part = append(hs.labels, label), append(hs.values, float64(row.Requests)), append(hs.part, float64(row.Errors))
		spend.labels, spend.values = append(spend.labels, label), append(spend.values, row.CostUSD)
		d.HourlyRows = append(d.HourlyRows, hourRow{label, row})
	}
	d.Requests = newBarChart("requests-24h", "Requests per hour, last 24 hours (UTC)", "Requests per hour, with the failed ones overlaid.", hs)
	d.DaySpend = newBarChart("spend-24h", "Spend per hour, last 24 hours (UTC)", "Spend in USD per hour.", spend)
	dayStart := now.Truncate(24*time.Hour).AddDate(0, 0, -29)
	days := make([]float64, 30)
	for _, day := range month {
		if i := int(day.Day.Sub(dayStart) / (24 * time.Hour)); !day.Day.Before(dayStart) && i < len(days) {
			days[i] += day.CostUSD
		}
	}
	daily := series{format: usd}
	for i := range days {
		daily.labels, daily.values = append(daily.labels, dayStart.AddDate(0, 0, i).Format("Jan 2")), append(daily.values, days[i])
	}
	d.MonthSpend = newBarChart("spend-30d", "Spend per day, last 30 days (UTC)", "Spend in USD per day.", daily)
	if c.o.Figures != nil {
		d.MetricsAvailable = true
		f, err := c.o.Figures()
		if err != nil {
			d.FiguresError = "the metrics could not be read"
		} else {
			d.Figures = &f
			for k, n := range f.Refusals {
				if n == 0 {
					continue
				}
				d.Refusals = append(d.Refusals, refusal{k, n})
			}
			slices.SortFunc(d.Refusals, func(a, b refusal) int { return strings.Compare(a.Kind, b.Kind) })
		}
	}
	v.Title, v.Nav, v.Data, v.template = "Overview", "overview", d, "overview"
	return nil
}

// ---- channels ----

type channelRow struct {
	admin.ChannelStatus
	// LedgerRequests and LedgerErrors are the last hour's, from the ledger.
	LedgerRequests, LedgerErrors int64
}

func (c *console) channels(w http.ResponseWriter, r *http.Request, v *view) error {
	if c.o.Admin.Channels == nil {
		return notFound("channel health is not available on this gateway")
	}
	ctx, cancel := pageContext(r)
	defer cancel()
	cs, err := c.o.Admin.Channels(ctx)
	if err != nil {
		return err
	}
	rep, err := c.svc.Usage(ctx, admin.UsageQuery{Since: "1h", By: "provider"})
	if err != nil {
		return err
	}
	byChannel := map[string]admin.UsageRow{}
	for _, row := range rep.Data {
		byChannel[row.Group] = row
	}
	rows := make([]channelRow, 0, len(cs))
	for _, ch := range cs {
		u := byChannel[ch.Name]
		rows = append(rows, channelRow{ChannelStatus: ch, LedgerRequests: u.Requests, LedgerErrors: u.Errors})
	}
	v.Title, v.Nav, v.Data, v.template = "Channels", "channels", rows, "channels"
	return nil
}

func (c *console) resetChannel(w http.ResponseWriter, r *http.Request, s *session, v *view) (string, error) {
	ctx, cancel := pageContext(r)
	defer cancel()
	name := r.PathValue("name")
	if err := c.o.Admin.ResetBreaker(ctx, name); err != nil {
		return "", err
	}
	c.sessions.setFlash(s, "The circuit breaker of "+name+" is reset (closed).")
	return "/ui/channels", nil
}

// ---- models and route explain ----

type offeringView struct {
	Provider      string  `json:"provider"`
	ProviderType  string  `json:"provider_type"`
	Region        string  `json:"region"`
	UpstreamModel string  `json:"upstream_model"`
	Weight        float64 `json:"weight"`
}

type candidateView struct {
	offeringView
	Health    string   `json:"health"`
	Reason    string   `json:"reason"`
	Removed   string   `json:"removed"`
	Contracts []string `json:"contracts"`
	// Live is the channel's breaker state now.
	Live string `json:"-"`
}

type decisionView struct {
	Model       string          `json:"model"`
	Tenant      string          `json:"tenant"`
	Traffic     string          `json:"traffic"`
	Strategy    string          `json:"strategy"`
	MaxAttempts int             `json:"max_attempts"`
	Order       []offeringView  `json:"order"`
	Candidates  []candidateView `json:"candidates"`
	Contracts   []string        `json:"contracts"`
	Why         []string        `json:"why"`
}

type explanationView struct {
	Decision *decisionView `json:"decision"`
	Error    string        `json:"error"`
}

type modelsData struct {
	Models  []admin.ModelInfo
	Query   admin.ExplainQuery
	Asked   bool
	Explain *explanationView
	// ExplainError is a problem with the question itself.
	ExplainError string
	Tenants      []admin.TenantView
}

func (c *console) models(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx, cancel := pageContext(r)
	defer cancel()
	d := &modelsData{}
	if c.o.Admin.Models != nil {
		ms, err := c.o.Admin.Models(ctx)
		if err != nil {
			return err
		}
		d.Models = ms
	}
	ts, err := c.svc.ListTenants(ctx)
	if err != nil {
		return err
	}
	d.Tenants = ts
	q := r.URL.Query()
	if q.Has("model") {
		d.Asked = true
		d.Query = admin.ExplainQuery{Model: q.Get("model"), Tenant: q.Get("tenant"), Traffic: q.Get("traffic")}
		out, err := c.o.Admin.RouteExplain(ctx, d.Query)
		if err != nil {
			status, msg := admin.Problem(err)
			if status == http.StatusInternalServerError {
				return err
			}
			d.ExplainError = msg
			v.status = status
		} else {
			var ex explanationView
			if err := roundTrip(out, &ex); err != nil {
				return err
			}
			if ex.Decision != nil && c.o.Admin.Channels != nil {
				cs, err := c.o.Admin.Channels(ctx)
				if err != nil {
					return err
				}
				live := map[string]string{}
				for _, ch := range cs {
					live[ch.Name] = ch.State
				}
				for i := range ex.Decision.Candidates {
					ex.Decision.Candidates[i].Live = live[ex.Decision.Candidates[i].Provider]
				}
			}
			d.Explain = &ex
		}
	}
	v.Title, v.Nav, v.Data, v.template = "Models and routes", "models", d, "models"
	return nil
}

// ---- contracts ----

type commitmentView struct {
	Contract    string    `json:"contract"`
	Provider    string    `json:"provider"`
	Period      string    `json:"period"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	AmountUSD   float64   `json:"amount_usd"`
	SpentUSD    float64   `json:"spent_usd"`
	PacingUSD   float64   `json:"pacing_usd"`
	Behind      bool      `json:"behind"`
	Forecast    forecast  `json:"forecast"`
	Chart       burnDown  `json:"-"`
}

type contractReportView struct {
	Since       time.Time        `json:"since"`
	Until       time.Time        `json:"until"`
	Contracts   []admin.UsageRow `json:"contracts"`
	Commitments []commitmentView `json:"commitments"`
}

type violationView struct {
	RequestID string   `json:"request_id"`
	Time      string   `json:"time"`
	Tenant    string   `json:"tenant"`
	Model     string   `json:"model"`
	Traffic   string   `json:"traffic"`
	Provider  string   `json:"provider"`
	Status    int      `json:"status"`
	Contracts []string `json:"contracts"`
}

type complianceView struct {
	Since      time.Time       `json:"since"`
	Until      time.Time       `json:"until"`
	Checked    int64           `json:"checked"`
	Violations []violationView `json:"violations"`
	Unrecorded []violationView `json:"unrecorded"`
	Unjudged   int64           `json:"unjudged"`
}

type contractsData struct {
	Since      string
	Report     contractReportView
	Compliance complianceView
	// Checked is the compliance check's window, shorter by default than
	// the traffic's: it reads the raw records, one per request.
	Checked string
}

// complianceWindows are the compliance check's windows, the first the
// default: the last hour reads a few thousand raw records even on a busy
// gateway; a longer window is asked for.
var complianceWindows = []string{"1h", "24h", "7d", "30d"}

// burnBuckets bounds the points of one burn-down chart: a month's days.
const burnBuckets = 31

func (c *console) contracts(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx, cancel := pageContext(r)
	defer cancel()
	since := r.URL.Query().Get("since")
	if since == "" {
		since = "30d"
	}
	d := &contractsData{Since: since, Checked: r.URL.Query().Get("checked")}
	if !slices.Contains(complianceWindows, d.Checked) {
		d.Checked = complianceWindows[0]
	}
	rep, err := c.o.Admin.UsageReport(ctx, admin.UsageQuery{By: "contract", Since: since})
	if err != nil {
		return err
	}
	if err := roundTrip(rep, &d.Report); err != nil {
		return err
	}
	comp, err := c.o.Admin.UsageReport(ctx, admin.UsageQuery{By: "compliance", Since: d.Checked})
	if err != nil {
		return err
	}
	if err := roundTrip(comp, &d.Compliance); err != nil {
		return err
	}
	now := c.now()
	for i := range d.Report.Commitments {
		cm := &d.Report.Commitments[i]
		spent, err := c.cumulativeSpend(r.WithContext(ctx), cm.Provider, cm.PeriodStart, cm.PeriodEnd, now)
		if err != nil {
			return err
		}
		// The live figure (the router's, seeded from the ledger and counting
		// what is not written yet) ends the line.
		spent = append(spent, point{now, cm.SpentUSD})
		cm.Chart = newBurnDown(fmt.Sprintf("burn-%d", i), fmt.Sprintf("%s on %s: %s commitment, %s", cm.Contract, cm.Provider, usd(cm.AmountUSD), cm.Period),
			cm.PeriodStart, cm.PeriodEnd, now, cm.AmountUSD, cm.Forecast, spent)
	}
	v.Title, v.Nav, v.Data, v.template = "Contracts", "contracts", d, "contracts"
	return nil
}

// cumulativeSpend reads the channel's spend in the period so far from the
// ledger in one query and returns it as at most burnBuckets points, the
// last at now. The points are a whole number of days apart (of hours, for
// a period shorter than burnBuckets days), counted from the period's
// start, which is a UTC midnight, so that every point is exact and the
// query reads the daily rollup (the hourly one for short periods) rather
// than an hourly series of the whole period.
func (c *console) cumulativeSpend(r *http.Request, channel string, start, end, now time.Time) ([]point, error) {
	span := end.Sub(start)
	if span <= 0 || !start.Before(now) {
		return nil, nil
	}
	step := (span + burnBuckets - 1) / burnBuckets
	type amount struct {
		at  time.Time
		usd float64
	}
	var series []amount
	q := admin.UsageQuery{Since: rfc3339(start), Until: rfc3339(now), Provider: channel}
	if step < 24*time.Hour {
		step = (step + time.Hour - 1).Truncate(time.Hour)
		hours, err := c.svc.UsageByHour(r.Context(), q)
		if err != nil {
			return nil, err
		}
		for _, h := range hours {
			series = append(series, amount{h.Hour, h.CostUSD})
		}
	} else {
		step = (step + 24*time.Hour - 1).Truncate(24 * time.Hour)
		days, err := c.svc.UsageByDay(r.Context(), q)
		if err != nil {
			return nil, err
		}
		for _, d := range days {
			series = append(series, amount{d.Day, d.CostUSD})
		}
	}
	var out []point
	total, next := 0.0, 0
	for i := 1; ; i++ {
		to := start.Add(time.Duration(i) * step)
		if !to.Before(now) {
			to = now
		}
		for ; next < len(series) && series[next].at.Before(to); next++ {
			total += series[next].usd
		}
		out = append(out, point{to, total})
		if to.Equal(now) || !to.Before(end) {
			break
		}
	}
	return out, nil
}

// ---- tenants and keys ----

type tenantRow struct {
	admin.TenantView
	Spend30d float64
}

type tenantsData struct {
	Query   string
	Tenants []tenantRow
	Total   int
}

func (c *console) tenantSpend(r *http.Request, tenant, by string) (map[string]admin.UsageRow, error) {
	rep, err := c.svc.Usage(r.Context(), admin.UsageQuery{Since: "30d", By: by, Tenant: tenant})
	if err != nil {
		return nil, err
	}
	out := map[string]admin.UsageRow{}
	for _, row := range rep.Data {
		out[row.Group] = row
	}
	return out, nil
}

func (c *console) tenants(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx, cancel := pageContext(r)
	defer cancel()
	r = r.WithContext(ctx)
	ts, err := c.svc.ListTenants(ctx)
	if err != nil {
		return err
	}
	spend, err := c.tenantSpend(r, "", "tenant")
	if err != nil {
		return err
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := &tenantsData{Query: q, Total: len(ts)}
	for _, t := range ts {
		if q != "" && !strings.Contains(strings.ToLower(t.Name), strings.ToLower(q)) && t.ID != q {
			continue
		}
		d.Tenants = append(d.Tenants, tenantRow{TenantView: t, Spend30d: spend[t.ID].CostUSD})
	}
	v.Title, v.Nav, v.Data, v.template = "Tenants and keys", "tenants", d, "tenants"
	return nil
}

// limitsFrom reads the limit fields of a form; a field left empty is 0.
func limitsFrom(f url.Values) (admin.Limits, error) {
	var l admin.Limits
	var errs []error
	num := func(name string, dst *int) {
		if s := strings.TrimSpace(f.Get(name)); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: must be a whole number", name))
			}
			*dst = n
		}
	}
	num("rpm", &l.RPM)
	num("tpm", &l.TPM)
	num("max_streams", &l.MaxStreams)
	if s := strings.TrimSpace(f.Get("budget_usd")); s != "" {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			errs = append(errs, errors.New("budget_usd: must be a number"))
		}
		l.BudgetUSD = x
	}
	l.BudgetPeriod = f.Get("budget_period")
	if err := errors.Join(errs...); err != nil {
		return l, badRequest(err.Error())
	}
	return l, nil
}

func (c *console) createTenant(w http.ResponseWriter, r *http.Request, s *session, v *view) (string, error) {
	l, err := limitsFrom(r.PostForm)
	if err != nil {
		return "", err
	}
	ctx, cancel := pageContext(r)
	defer cancel()
	t, err := c.svc.CreateTenant(ctx, admin.TenantSpec{Name: strings.TrimSpace(r.PostForm.Get("name")), Limits: l})
	if err != nil {
		return "", err
	}
	c.sessions.setFlash(s, "Tenant "+t.Name+" created.")
	return "/ui/tenants/" + url.PathEscape(t.ID), nil
}

type keyRow struct {
	admin.KeyView
	Spend30d float64
	Requests int64
}

type tenantData struct {
	Tenant admin.TenantView
	Keys   []keyRow
	Spend  admin.UsageRow
}

func (c *console) tenant(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx, cancel := pageContext(r)
	defer cancel()
	r = r.WithContext(ctx)
	t, err := c.svc.Tenant(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	ks, err := c.svc.ListKeys(ctx, t.ID)
	if err != nil {
		return err
	}
	byKey, err := c.tenantSpend(r, t.ID, "key")
	if err != nil {
		return err
	}
	d := &tenantData{Tenant: admin.ViewTenant(t)}
	for _, k := range ks {
		u := byKey[k.ID]
		d.Keys = append(d.Keys, keyRow{KeyView: k, Spend30d: u.CostUSD, Requests: u.Requests})
		d.Spend.Requests += u.Requests
		d.Spend.CostUSD += u.CostUSD
		d.Spend.Errors += u.Errors
	}
	v.Title, v.Nav, v.Data, v.template = "Tenant "+t.Name, "tenants", d, "tenant"
	return nil
}

func (c *console) updateTenant(w http.ResponseWriter, r *http.Request, s *session, v *view) (string, error) {
	l, err := limitsFrom(r.PostForm)
	if err != nil {
		return "", err
	}
	disabled := r.PostForm.Get("disabled") == "on"
	ctx, cancel := pageContext(r)
	defer cancel()
	cidrs := nonNilList(splitList(r.PostForm.Get("allowed_cidrs")))
	t, err := c.svc.UpdateTenant(ctx, r.PathValue("id"), admin.TenantUpdate{Disabled: &disabled, AllowedCIDRs: &cidrs,
		LimitsUpdate: admin.LimitsUpdate{RPM: &l.RPM, TPM: &l.TPM, MaxStreams: &l.MaxStreams, BudgetUSD: &l.BudgetUSD, BudgetPeriod: &l.BudgetPeriod}})
	if err != nil {
		return "", err
	}
	c.sessions.setFlash(s, "Limits and budget of "+t.Name+" saved.")
	return "/ui/tenants/" + url.PathEscape(t.ID), nil
}

type issuedData struct {
	Issued admin.IssuedView
	// Rotated names the key the new one replaced.
	Rotated string
	Tenant  string
}

func (c *console) issueKey(w http.ResponseWriter, r *http.Request, s *session, v *view) (string, error) {
	l, err := limitsFrom(r.PostForm)
	if err != nil {
		return "", err
	}
	var models []string
	for _, m := range strings.Split(r.PostForm.Get("allowed_models"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			models = append(models, m)
		}
	}
	ctx, cancel := pageContext(r)
	defer cancel()
	labels, err := parseLabels(r.PostForm.Get("labels"))
	if err != nil {
		return "", err
	}
	iss, err := c.svc.IssueKey(ctx, admin.KeySpec{Tenant: r.PathValue("id"), Name: strings.TrimSpace(r.PostForm.Get("name")),
		AllowedModels: models, Limits: l, Metadata: labels, AllowedCIDRs: splitList(r.PostForm.Get("allowed_cidrs"))})
	if err != nil {
		return "", err
	}
	v.Title, v.Nav, v.template = "Key issued", "tenants", "issued"
	v.Data = &issuedData{Issued: admin.ViewIssued(iss), Tenant: iss.Key.TenantID}
	return "", nil
}

func (c *console) revokeKey(w http.ResponseWriter, r *http.Request, s *session, v *view) (string, error) {
	ctx, cancel := pageContext(r)
	defer cancel()
	k, err := c.svc.RevokeKey(ctx, r.PathValue("id"))
	if err != nil {
		return "", err
	}
	c.sessions.setFlash(s, "Key "+k.Prefix+"… revoked.")
	return "/ui/tenants/" + url.PathEscape(k.TenantID), nil
}

func (c *console) rotateKey(w http.ResponseWriter, r *http.Request, s *session, v *view) (string, error) {
	ctx, cancel := pageContext(r)
	defer cancel()
	id := r.PathValue("id")
	var grace time.Duration
	if g := r.PostForm.Get("grace"); g != "" {
		var err error
		if grace, err = time.ParseDuration(g); err != nil {
			return "", &admin.FieldError{Field: "grace", Problem: `must be a duration such as "24h"`}
		}
	}
	iss, err := c.svc.RotateKey(ctx, id, grace)
	if err != nil {
		return "", err
	}
	v.Title, v.Nav, v.template = "Key rotated", "tenants", "issued"
	v.Data = &issuedData{Issued: admin.ViewIssued(iss), Rotated: id, Tenant: iss.Key.TenantID}
	return "", nil
}

// keySettings saves a key's labels and IP allow-list.
func (c *console) keySettings(w http.ResponseWriter, r *http.Request, s *session, v *view) (string, error) {
	labels, err := parseLabels(r.PostForm.Get("labels"))
	if err != nil {
		return "", err
	}
	cidrs := nonNilList(splitList(r.PostForm.Get("allowed_cidrs")))
	if labels == nil {
		labels = map[string]string{}
	}
	ctx, cancel := pageContext(r)
	defer cancel()
	k, err := c.svc.UpdateKey(ctx, r.PathValue("id"), admin.KeyUpdate{Metadata: labels, AllowedCIDRs: &cidrs})
	if err != nil {
		return "", err
	}
	c.sessions.setFlash(s, "Labels and allowed IPs of key "+k.Prefix+"… saved.")
	return "/ui/tenants/" + url.PathEscape(k.TenantID), nil
}

// splitList splits a comma-separated form field, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// parseLabels reads "k=v, k2=v2"; nil when empty.
func parseLabels(v string) (map[string]string, error) {
	items := splitList(v)
	if len(items) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(items))
	for _, it := range items {
		k, val, ok := strings.Cut(it, "=")
		if k = strings.TrimSpace(k); !ok || k == "" {
			return nil, &admin.FieldError{Field: "labels", Problem: fmt.Sprintf("want k=v, got %q", it)}
		}
		out[k] = strings.TrimSpace(val)
	}
	return out, nil
}

// ---- usage ----

// usageGroups are the groupings the usage page offers, with the admin
// report's name for each.
var usageGroups = []struct{ Value, Label, By string }{
	{"tenant", "Tenant", "tenant"}, {"key", "Key", "key"}, {"model", "Model", "model"},
	{"channel", "Channel", "provider"}, {"contract", "Contract", "contract"},
}

type usageRowView struct {
	admin.UsageRow
	Name string
}

type usageData struct {
	By, Since, Until string
	Groups           []struct{ Value, Label, By string }
	Rows             []usageRowView
	Total            admin.UsageRow
	CSV              string
}

// usageReport runs the usage page's query and names each group.
func (c *console) usageReport(r *http.Request) (*usageData, error) {
	q := r.URL.Query()
	d := &usageData{By: q.Get("by"), Since: q.Get("since"), Until: q.Get("until"), Groups: usageGroups}
	if d.By == "" {
		d.By = "tenant"
	}
	if d.Since == "" {
		d.Since = "24h"
	}
	by := ""
	for _, g := range usageGroups {
		if g.Value == d.By {
			by = g.By
		}
	}
	if by == "" {
		return d, badRequest("group by must be tenant, key, model, channel or contract")
	}
	rep, err := c.o.Admin.UsageReport(r.Context(), admin.UsageQuery{By: by, Since: d.Since, Until: d.Until})
	if err != nil {
		return d, err
	}
	var rows []admin.UsageRow
	switch x := rep.(type) {
	case *admin.UsageReport:
		rows = x.Data
	default:
		var cr contractReportView
		if err := roundTrip(rep, &cr); err != nil {
			return d, err
		}
		rows = cr.Contracts
	}
	names := map[string]string{}
	switch by {
	case "tenant":
		ts, err := c.svc.ListTenants(r.Context())
		if err != nil {
			return d, err
		}
		for _, t := range ts {
			names[t.ID] = t.Name
		}
	case "key":
		ks, err := c.svc.ListKeys(r.Context(), "")
		if err != nil {
			return d, err
		}
		for _, k := range ks {
			names[k.ID] = k.Prefix + "… " + k.Name
		}
	}
	for _, row := range rows {
		name := row.Group
		if n, ok := names[row.Group]; ok {
			name = n
		}
		if name == "" {
			name = "(none)"
		}
		d.Rows = append(d.Rows, usageRowView{UsageRow: row, Name: name})
		d.Total.Requests += row.Requests
		d.Total.Errors += row.Errors
		d.Total.InputTokens += row.InputTokens
		d.Total.OutputTokens += row.OutputTokens
		d.Total.CostUSD += row.CostUSD
	}
	d.CSV = "/ui/usage.csv?" + url.Values{"by": {d.By}, "since": {d.Since}, "until": {d.Until}}.Encode()
	return d, nil
}

func (c *console) usage(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx, cancel := pageContext(r)
	defer cancel()
	d, err := c.usageReport(r.WithContext(ctx))
	v.Title, v.Nav, v.Data, v.template = "Usage", "usage", d, "usage"
	if err != nil {
		status, msg := admin.Problem(err)
		var p *httpProblem
		if errors.As(err, &p) {
			status, msg = p.status, p.msg
		}
		if status == http.StatusInternalServerError {
			return err
		}
		d.Rows = nil
		v.Error, v.status = msg, status
	}
	return nil
}

func (c *console) usageCSV(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx, cancel := pageContext(r)
	defer cancel()
	d, err := c.usageReport(r.WithContext(ctx))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="switchyard-usage-by-%s.csv"`, d.By))
	w.Header().Set("Cache-Control", "no-store")
	return writeUsageCSV(w, d)
}

// ---- request log ----

// requestsPage is the request log page's size.
const requestsPage = 50

type requestRow struct {
	admin.RequestRecord
	// Tenant is the tenant's name, or its ID when it has none.
	Tenant string
}

type requestsData struct {
	Query admin.RequestQuery
	Rows  []requestRow
	// Older is the link to the next (older) page; empty after the last.
	Older string
}

// requestQuery reads the request log page's filters from its URL.
func requestQuery(q url.Values) admin.RequestQuery {
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	return admin.RequestQuery{Tenant: get("tenant"), Key: get("key"), Model: get("model"), Channel: get("channel"),
		Status: get("status"), Since: get("since"), Until: get("until"), Cursor: get("cursor"), Limit: strconv.Itoa(requestsPage)}
}

// olderLink continues the listing of q after cursor, with the same filters.
func olderLink(q admin.RequestQuery, cursor string) string {
	v := url.Values{}
	for k, x := range map[string]string{"tenant": q.Tenant, "key": q.Key, "model": q.Model, "channel": q.Channel,
		"status": q.Status, "since": q.Since, "until": q.Until, "cursor": cursor} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return "/ui/requests?" + v.Encode()
}

func (c *console) requests(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx, cancel := pageContext(r)
	defer cancel()
	d := &requestsData{Query: requestQuery(r.URL.Query())}
	v.Title, v.Nav, v.Data, v.template = "Requests", "requests", d, "requests"
	page, err := c.svc.Requests(ctx, d.Query)
	if err != nil {
		status, msg := admin.Problem(err)
		if status == http.StatusInternalServerError {
			return err
		}
		if status == http.StatusNotFound && d.Query.Tenant != "" {
			msg = fmt.Sprintf("No tenant %q.", d.Query.Tenant)
		}
		// A filter the log cannot use is shown above the form.
		v.Error, v.status = msg, status
		return nil
	}
	ts, err := c.svc.ListTenants(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, t := range ts {
		names[t.ID] = t.Name
	}
	for _, rec := range page.Data {
		name := names[rec.TenantID]
		if name == "" {
			name = rec.TenantID
		}
		d.Rows = append(d.Rows, requestRow{RequestRecord: rec, Tenant: name})
	}
	if page.NextCursor != "" {
		d.Older = olderLink(d.Query, page.NextCursor)
	}
	return nil
}

type requestData struct {
	Record *admin.RequestRecord
	Tenant string
}

func (c *console) request(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx, cancel := pageContext(r)
	defer cancel()
	id := r.PathValue("id")
	rec, err := c.svc.Request(ctx, id)
	if err != nil {
		if status, _ := admin.Problem(err); status == http.StatusNotFound {
			return notFound(fmt.Sprintf("No request %q in the request log.", id))
		}
		return err
	}
	d := &requestData{Record: rec, Tenant: rec.TenantID}
	if rec.TenantID != "" {
		if t, err := c.svc.Tenant(ctx, rec.TenantID); err == nil {
			d.Tenant = t.Name
		}
	}
	v.Title, v.Nav, v.Data, v.template = "Request "+rec.ID, "requests", d, "request"
	return nil
}

// ---- configuration ----

type configData struct {
	YAML     string
	Errors   []string
	Reloaded bool
	CanLoad  bool
}

func (c *console) config(w http.ResponseWriter, r *http.Request, v *view) error {
	d := &configData{CanLoad: c.o.Admin.Reload != nil}
	if c.o.Config != nil {
		y, err := c.o.Config()
		if err != nil {
			return err
		}
		d.YAML = string(y)
	}
	v.Title, v.Nav, v.Data, v.template = "Configuration", "config", d, "config"
	return nil
}

func (c *console) reload(w http.ResponseWriter, r *http.Request, s *session, v *view) (string, error) {
	if c.o.Admin.Reload == nil {
		return "", notFound("reload is not available: this gateway was not started from a config file")
	}
	ctx, cancel := pageContext(r)
	defer cancel()
	if err := c.o.Admin.ReloadConfig(ctx); err != nil {
		d := &configData{CanLoad: true}
		for _, line := range strings.Split(err.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				d.Errors = append(d.Errors, auth.RedactKeys(line))
			}
		}
		if c.o.Config != nil {
			if y, err := c.o.Config(); err == nil {
				d.YAML = string(y)
			}
		}
		v.Title, v.Nav, v.Data, v.template, v.status = "Configuration", "config", d, "config", http.StatusUnprocessableEntity
		return "", nil
	}
	c.sessions.setFlash(s, "Configuration reloaded: the file validated and is now running.")
	return "/ui/config", nil
}
