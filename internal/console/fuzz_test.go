package console

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"switchyard/internal/admin"
)

// FuzzLimitsForm feeds arbitrary form bodies to the limits decoder: it
// returns limits or a 400 naming the field, and never panics.
func FuzzLimitsForm(f *testing.F) {
	for _, s := range []string{"rpm=60&tpm=1000&budget_usd=5.5&budget_period=day", "rpm=-1", "rpm=1e9", "budget_usd=NaN",
		"rpm=%zz", "max_streams=99999999999999999999", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		_, err = limitsFrom(form)
		var p *httpProblem
		if err != nil && (!errors.As(err, &p) || p.status != http.StatusBadRequest) {
			t.Fatalf("limitsFrom(%q) = %v, want a 400", body, err)
		}
	})
}

// FuzzSignIn posts arbitrary bodies and cookies to the sign-in form: the
// answer is a page (never a 5xx), and only the token signs in.
func FuzzSignIn(f *testing.F) {
	const token = "fuzz-admin-token"
	for _, s := range []string{"csrf=a&token=" + token, "csrf=a&token=b", "token=" + token, "%", strings.Repeat("a=b&", 100)} {
		f.Add(s, "a")
	}
	h := Handler(Options{Admin: admin.Options{Token: token}})
	f.Fuzz(func(t *testing.T, body, cookie string) {
		req := httptest.NewRequest("POST", "/ui/signin", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: signinCookie, Value: url.QueryEscape(cookie)})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("sign-in with %q = %d", body, rec.Code)
		}
		form, _ := url.ParseQuery(body)
		ok := form.Get("token") == token && form.Get("csrf") == url.QueryEscape(cookie) && cookie != ""
		if signedIn := rec.Code == http.StatusSeeOther; signedIn && !ok {
			t.Fatalf("sign-in with %q and cookie %q succeeded", body, cookie)
		}
	})
}

// FuzzRequestsQuery reads arbitrary query strings as the request log
// page's filters: the older link it makes carries every filter and the
// cursor back unchanged.
func FuzzRequestsQuery(f *testing.F) {
	for _, s := range []string{"tenant=acme&status=429&since=24h", "model=a%26b&channel=x+y", "cursor=abc&until=2026-01-01T00:00:00Z", "%", "key=%00"} {
		f.Add(s, "next")
	}
	f.Fuzz(func(t *testing.T, query, cursor string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		q := requestQuery(v)
		link, err := url.Parse(olderLink(q, cursor))
		if err != nil || link.Path != "/ui/requests" {
			t.Fatalf("older link of %q: %v %v", query, link, err)
		}
		back := requestQuery(link.Query())
		q.Cursor = strings.TrimSpace(cursor)
		if back != q {
			t.Fatalf("older link of %q gives %+v, want %+v", query, back, q)
		}
	})
}
