package provider

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Do sends an upstream request as hc.Do does. When hc adds nothing to the
// call but redirects (no timeout, no cookie jar, no credentials in the
// URL) the request goes straight to hc's transport: http.Client.Do copies
// the request's headers for redirects it may follow and allocates its
// redirect bookkeeping on every call, about 450 bytes of an upstream call.
// An answer hc.Do would follow (a redirect with a Location) is followed
// from there by hc.Do, as its first hop would have been: the request is
// never sent to the same place twice.
func Do(hc *http.Client, req *http.Request) (*http.Response, error) {
	if hc.Timeout != 0 || hc.Jar != nil || req.Method == "" || req.URL == nil || req.URL.User != nil || req.Header == nil {
		return hc.Do(req)
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, urlError(req, err)
	}
	if !followed(resp) {
		return resp, nil
	}
	next, err := redirected(req, resp)
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // lets the connection be reused
	resp.Body.Close()
	if err != nil {
		return nil, urlError(req, err)
	}
	return hc.Do(next)
}

// redirected is the request http.Client.Do would send after resp, a
// redirect to req: 307 and 308 repeat the method and the body, the others
// turn a POST into a GET without a body; Authorization and cookies are not
// carried to another host.
func redirected(req *http.Request, resp *http.Response) (*http.Request, error) {
	loc, err := req.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, fmt.Errorf("failed to parse Location header %q: %w", resp.Header.Get("Location"), err)
	}
	method, body := req.Method, io.ReadCloser(nil)
	switch resp.StatusCode {
	case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, errors.New("the redirect needs the request body again and it cannot be re-read")
			}
			if body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	default:
		if method != http.MethodGet && method != http.MethodHead {
			method = http.MethodGet
		}
	}
	next, err := http.NewRequestWithContext(req.Context(), method, loc.String(), body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		next.GetBody, next.ContentLength = req.GetBody, req.ContentLength
	}
	next.Header = req.Header.Clone()
	if method != req.Method {
		next.Header.Del("Content-Type")
		next.Header.Del("Content-Length")
	}
	if !sameHost(req.URL, loc) {
		for _, h := range []string{"Authorization", "Www-Authenticate", "Cookie", "Cookie2"} {
			next.Header.Del(h)
		}
	}
	return next, nil
}

// sameHost reports whether b is a's host or a subdomain of it, the rule
// by which http.Client keeps sensitive headers on a redirect.
func sameHost(a, b *url.URL) bool {
	ah, bh := strings.ToLower(a.Hostname()), strings.ToLower(b.Hostname())
	return ah == bh || strings.HasSuffix(bh, "."+ah)
}

// followed reports whether http.Client.Do would follow resp.
func followed(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return resp.Header.Get("Location") != ""
	}
	return false
}

// urlError wraps err as http.Client.Do does for req (whose URL holds no
// credentials).
func urlError(req *http.Request, err error) error {
	return &url.Error{Op: req.Method[:1] + strings.ToLower(req.Method[1:]), URL: req.URL.String(), Err: err}
}
