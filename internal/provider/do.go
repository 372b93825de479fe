package provider

import (
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
// An answer hc.Do would follow (a redirect with a Location) is dropped
// and the request sent again through hc.Do, which follows it as before;
// an error is wrapped in the *url.Error hc.Do returns.
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
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // lets the connection be reused
	resp.Body.Close()
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		if req.Body, err = req.GetBody(); err != nil {
			return nil, urlError(req, err)
		}
	}
	return hc.Do(req)
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
