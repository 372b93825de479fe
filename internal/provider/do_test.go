package provider

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func post(t *testing.T, rawURL string, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	SetBody(req, []byte(body))
	req.Header["Content-Type"] = []string{"application/json"}
	return req
}

func TestDo_AnswersAsClientDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusTeapot)
		w.Write(append([]byte("echo:"), b...))
	}))
	defer srv.Close()
	resp, err := Do(srv.Client(), post(t, srv.URL+"/v1/x", `{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTeapot || string(b) != `echo:{"a":1}` || resp.Header.Get("X-Got") != "application/json" {
		t.Errorf("Do = %d %q (X-Got %q)", resp.StatusCode, b, resp.Header.Get("X-Got"))
	}
}

// A redirect is followed as http.Client.Do follows it: a 307 repeats the
// POST with its body at the new place, and the old place is asked once.
func TestDo_FollowsRedirects(t *testing.T) {
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hits = append(hits, r.Method+" "+r.URL.Path+" "+string(b))
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusTemporaryRedirect)
			return
		}
		w.Write([]byte("moved:" + string(b)))
	}))
	defer srv.Close()
	resp, err := Do(srv.Client(), post(t, srv.URL+"/old", "prompt"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != "moved:prompt" {
		t.Errorf("Do = %d %q, want 200 moved:prompt", resp.StatusCode, b)
	}
	if want := []string{"POST /old prompt", "POST /new prompt"}; !slices.Equal(hits, want) {
		t.Errorf("upstream saw %q, want %q", hits, want)
	}
}

// A transport error comes back as hc.Do returns it: a *url.Error naming
// the method and the URL (without its password), classified the same.
func TestDo_ErrorAsClientDo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: the dial is refused
	hc := &http.Client{Transport: &http.Transport{}}
	_, got := Do(hc, post(t, "http://"+addr+"/v1/chat", "x"))
	_, want := hc.Do(post(t, "http://"+addr+"/v1/chat", "x"))
	var ue *url.Error
	if !errors.As(got, &ue) || got.Error() != want.Error() {
		t.Errorf("Do error = %v, hc.Do error = %v", got, want)
	}
	if g, w := TransportError("p", got), TransportError("p", want); g.Kind != w.Kind || g.Message != w.Message {
		t.Errorf("classified as %s %q, hc.Do's as %s %q", g.Kind, g.Message, w.Kind, w.Message)
	}
}

// Do sends the request without http.Client's per-call copies: fewer
// allocations than hc.Do for the same call.
func TestDo_AllocatesLessThanClientDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	hc := srv.Client()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header["A"], req.Header["B"], req.Header["C"] = []string{"1"}, []string{"2"}, []string{"3"}
	call := func(do func(*http.Request) (*http.Response, error)) {
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(nil)), 0
		resp, err := do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	viaDo := testing.AllocsPerRun(200, func() { call(func(r *http.Request) (*http.Response, error) { return Do(hc, r) }) })
	viaClient := testing.AllocsPerRun(200, func() { call(hc.Do) })
	if viaDo >= viaClient {
		t.Errorf("Do allocates %.1f times a call, hc.Do %.1f", viaDo, viaClient)
	}
}

// A 302 turns the POST into a GET without a body, and a redirect to
// another host does not carry the Authorization header there.
func TestDo_RedirectToAnotherHost(t *testing.T) {
	var got string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Method + " " + r.URL.Path + " body=" + string(b) + " auth=" + r.Header.Get("Authorization")
	}))
	defer other.Close()
	// The same server by another name: localhost instead of 127.0.0.1.
	elsewhere := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "/landing"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere, http.StatusFound)
	}))
	defer srv.Close()
	req := post(t, srv.URL+"/old", "prompt")
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := Do(srv.Client(), req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "GET /landing body= auth="; got != want {
		t.Errorf("the other host saw %q, want %q", got, want)
	}
}
