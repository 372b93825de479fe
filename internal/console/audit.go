package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"switchyard/internal/admin"
)

// auditPage is the audit log page's size.
const auditPage = 50

type auditData struct {
	Query admin.AuditQuery
	Rows  []admin.AuditEntry
	// Older continues the listing; empty on the last page.
	Older string
	// Verdict is the chain check, when asked for (verify=1).
	Verdict *admin.AuditVerdict
}

// audit shows the audit log, newest first, filtered as the admin API's
// GET /admin/v1/audit is, and checks the chain on request.
func (c *console) audit(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx, cancel := pageContext(r)
	defer cancel()
	get := func(k string) string { return strings.TrimSpace(r.URL.Query().Get(k)) }
	d := &auditData{Query: admin.AuditQuery{Subject: get("subject"), Action: get("action"), Target: get("target"),
		Since: get("since"), Until: get("until"), Cursor: get("cursor"), Limit: strconv.Itoa(auditPage)}}
	v.Title, v.Nav, v.Data, v.template = "Audit log", "audit", d, "audit"
	if get("verify") != "" {
		verdict, err := c.svc.VerifyAudit(ctx)
		if err != nil {
			return err
		}
		d.Verdict = verdict
	}
	page, err := c.svc.Audit(ctx, d.Query)
	if err != nil {
		status, msg := admin.Problem(err)
		if status == http.StatusInternalServerError {
			return err
		}
		v.Error, v.status = msg, status
		return nil
	}
	d.Rows = page.Data
	if page.NextCursor != "" {
		q := url.Values{}
		for k, x := range map[string]string{"subject": d.Query.Subject, "action": d.Query.Action, "target": d.Query.Target,
			"since": d.Query.Since, "until": d.Query.Until, "cursor": page.NextCursor} {
			if x != "" {
				q.Set(k, x)
			}
		}
		d.Older = "/ui/audit?" + q.Encode()
	}
	return nil
}
