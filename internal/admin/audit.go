package admin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"switchyard/internal/access"
	"switchyard/internal/auth"
	"switchyard/internal/store"
)

// auditTimeout bounds one audit append, so that a slow store cannot hold
// an admin request (or a refusal) for long.
const auditTimeout = 10 * time.Second

// storeTimeout bounds one store call of an admin token check or of one
// page of the audit log.
const storeTimeout = 10 * time.Second

// who returns the principal acting in ctx: the one the admin API or the
// console put there, or Local for the CLI's direct store mode, which has
// the store's own credentials and so every power.
func who(ctx context.Context) access.Principal {
	if p, ok := access.FromContext(ctx); ok {
		return p
	}
	return access.Local
}

// record writes one audit record for an action by the principal in ctx:
// to the store's hash-chained log, and as one JSON line to the logger.
// change is marshalled to JSON with every secret redacted. A record the
// store could not take is logged whole at error level, so that it is not
// lost, and the action's result stands: the change has been made.
func (s *Service) record(ctx context.Context, action access.Action, outcome, target string, change any) {
	p := who(ctx)
	o := access.OriginFrom(ctx)
	rec := store.AuditRecord{Time: s.now(), Subject: p.Subject, Role: string(p.Role), Action: string(action),
		Target: target, Outcome: outcome, Change: redactedJSON(change), Source: o.Address, RequestID: o.RequestID}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	err := s.Store.AppendAudit(actx, &rec)
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	attrs := []any{"seq", rec.Seq, "time", rec.Time.UTC().Format(time.RFC3339Nano), "subject", rec.Subject, "role", rec.Role,
		"action", rec.Action, "target", rec.Target, "outcome", rec.Outcome, "change", rec.Change, "source", rec.Source,
		"request_id", rec.RequestID}
	if err != nil {
		log.Error("audit record not stored", append(attrs, "err", err.Error())...)
		return
	}
	log.Info("audit", attrs...)
}

// Refused records that the principal in ctx was refused action.
func (s *Service) Refused(ctx context.Context, action access.Action, target string) {
	s.record(ctx, action, store.AuditDenied, target, nil)
}

// SignedIn records a console sign-in by p.
func (s *Service) SignedIn(ctx context.Context, p access.Principal) {
	s.record(access.WithPrincipal(ctx, p), access.SignIn, store.AuditOK, p.Subject, nil)
}

// Recorded records an action the admin Options perform outside the
// Service (a reload, a breaker reset).
func (s *Service) Recorded(ctx context.Context, action access.Action, target string, change any) {
	s.record(ctx, action, store.AuditOK, target, change)
}

// secretField matches the JSON member names whose values are secrets.
func secretField(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"secret", "token", "password", "credential", "private"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// redactedJSON marshals v to JSON with the value of every secret-named
// member replaced and every key secret (sk-sy-...) in a string masked;
// nil is "".
func redactedJSON(v any) string {
	if v == nil {
		return ""
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var tree any
	if json.Unmarshal(raw, &tree) != nil {
		return ""
	}
	out, _ := json.Marshal(redactTree(tree))
	return string(out)
}

func redactTree(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if secretField(k) {
				if x != nil && x != "" {
					v[k] = "[redacted]"
				}
				continue
			}
			v[k] = redactTree(x)
		}
		return v
	case []any:
		for i := range v {
			v[i] = redactTree(v[i])
		}
		return v
	case string:
		return auth.RedactKeys(v)
	}
	return v
}

// AuditQuery selects a page of the audit log, newest first.
type AuditQuery struct {
	Subject, Action, Target string
	// Since is a duration back from now, an RFC 3339 time or a date;
	// Until an RFC 3339 time or a date.
	Since, Until string
	// Limit is the page size, 1 to 1000; default 100.
	Limit string
	// Cursor is the next_cursor of the page before.
	Cursor string
}

// AuditEntry is one audit record as the API shows it.
type AuditEntry struct {
	Seq       int64           `json:"seq"`
	Time      time.Time       `json:"time"`
	Subject   string          `json:"subject"`
	Role      string          `json:"role"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	Outcome   string          `json:"outcome"`
	Change    json.RawMessage `json:"change,omitempty"`
	Source    string          `json:"source,omitempty"`
	RequestID string          `json:"request_id,omitempty"`
	// PrevHash and Hash link the record into the chain (hex).
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// AuditPage is one page of the audit log.
type AuditPage struct {
	Data []AuditEntry `json:"data"`
	// NextCursor continues the listing; empty after the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

func viewAudit(r *store.AuditRecord) AuditEntry {
	e := AuditEntry{Seq: r.Seq, Time: r.Time.UTC(), Subject: r.Subject, Role: r.Role, Action: r.Action, Target: r.Target,
		Outcome: r.Outcome, Source: r.Source, RequestID: r.RequestID, PrevHash: hex.EncodeToString(r.PrevHash), Hash: hex.EncodeToString(r.Hash)}
	if r.Change != "" && json.Valid([]byte(r.Change)) {
		e.Change = json.RawMessage(r.Change)
	}
	return e
}

// Audit lists a page of the audit log.
func (s *Service) Audit(ctx context.Context, q AuditQuery) (*AuditPage, error) {
	f := store.AuditFilter{Subject: q.Subject, Action: q.Action, Target: q.Target, Limit: 100}
	for name, v := range map[string]string{"subject": q.Subject, "action": q.Action, "target": q.Target} {
		if !utf8.ValidString(v) || len(v) > 1024 {
			return nil, &FieldError{name, "must be UTF-8 text of at most 1024 bytes"}
		}
	}
	now := s.now()
	var err error
	if q.Since != "" {
		if f.Since, err = ParseSince(q.Since, now); err != nil {
			return nil, &FieldError{"since", err.Error()}
		}
	}
	if q.Until != "" {
		if f.Until, err = ParseUntil(q.Until); err != nil {
			return nil, &FieldError{"until", err.Error()}
		}
	}
	if q.Limit != "" {
		if f.Limit, err = strconv.Atoi(q.Limit); err != nil || f.Limit < 1 || f.Limit > store.MaxAuditPage {
			return nil, &FieldError{"limit", "must be 1 to 1000"}
		}
	}
	if q.Cursor != "" {
		if f.Before, err = strconv.ParseInt(q.Cursor, 10, 64); err != nil || f.Before < 1 {
			return nil, &FieldError{"cursor", "not a cursor this listing gave"}
		}
	}
	lctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	recs, err := s.Store.ListAudit(lctx, f)
	if err != nil {
		return nil, err
	}
	page := &AuditPage{Data: make([]AuditEntry, 0, len(recs))}
	for i := range recs {
		page.Data = append(page.Data, viewAudit(&recs[i]))
	}
	if len(recs) == f.Limit && recs[len(recs)-1].Seq > 1 {
		page.NextCursor = strconv.FormatInt(recs[len(recs)-1].Seq, 10)
	}
	return page, nil
}

// AuditVerdict is the result of checking the whole audit chain.
type AuditVerdict struct {
	// OK is true when every record links to the one before and matches
	// its hash.
	OK bool `json:"ok"`
	// Records is how many records were checked.
	Records int64 `json:"records"`
	// Head is the last record's hash (hex): keep it elsewhere to detect
	// a later truncation of the log's tail.
	Head string `json:"head,omitempty"`
	// FirstBad names the first record at which the chain breaks.
	FirstBad *store.ChainFault `json:"first_bad,omitempty"`
}

// VerifyAudit reads the whole audit log, oldest first, and checks its
// chain.
func (s *Service) VerifyAudit(ctx context.Context) (*AuditVerdict, error) {
	var (
		seq  int64
		prev = []byte{}
		out  = &AuditVerdict{OK: true}
	)
	for {
		pctx, cancel := context.WithTimeout(ctx, storeTimeout)
		recs, err := s.Store.ListAudit(pctx, store.AuditFilter{After: seq, Ascending: true, Limit: store.MaxAuditPage})
		cancel()
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return out, nil
		}
		if fault := store.VerifyChain(seq, prev, recs); fault != nil {
			out.OK, out.FirstBad = false, fault
			return out, nil
		}
		last := recs[len(recs)-1]
		seq, prev = last.Seq, last.Hash
		out.Records += int64(len(recs))
		out.Head = hex.EncodeToString(last.Hash)
	}
}

func (a *api) audit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := a.svc.Audit(r.Context(), AuditQuery{Subject: q.Get("subject"), Action: q.Get("action"), Target: q.Get("target"),
		Since: q.Get("since"), Until: q.Get("until"), Limit: q.Get("limit"), Cursor: q.Get("cursor")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (a *api) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.VerifyAudit(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
