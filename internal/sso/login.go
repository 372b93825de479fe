package sso

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// LoginOptions configure Login and RefreshLogin: a command-line sign-in
// with the gateway's client at the provider.
type LoginOptions struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes; "openid" is added when missing.
	Scopes []string
	// Listen is the loopback address the provider redirects to. Default:
	// 127.0.0.1:0 (a free port; providers allow any port on a loopback
	// redirect URL for native clients, RFC 8252).
	Listen string
	// Out is where the URL to open is printed.
	Out io.Writer
	// HTTPClient calls the provider; nil is a client with a 10-second
	// timeout.
	HTTPClient *http.Client
	// Opened, if set, is called with the URL once it is printed (tests
	// follow it; a terminal user opens it in a browser).
	Opened func(authURL string)
}

// Token is what a command-line sign-in keeps: the ID token that the admin
// API takes as a bearer token, and the refresh token if one was granted.
type Token struct {
	IDToken      string    `json:"id_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry"`
}

// Login runs the authorization code flow with PKCE on a loopback
// redirect: it prints the provider's URL to open, waits (until ctx ends)
// for the browser to come back, exchanges the code and verifies the ID
// token.
func Login(ctx context.Context, o LoginOptions) (Token, error) {
	o = o.withDefaults()
	c, err := discover(ctx, o.HTTPClient, o.Issuer, o.ClientID, o.ClientSecret, withOpenID(o.Scopes), time.Now)
	if err != nil {
		return Token{}, err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return Token{}, fmt.Errorf("listening for the sign-in's redirect: %w", err)
	}
	defer ln.Close()
	pd := pending{state: random(), nonce: random(), verifier: oauth2.GenerateVerifier(),
		redirect: "http://" + ln.Addr().String() + "/callback"}
	type result struct {
		g   grant
		err error
	}
	got := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		var res result
		switch {
		case q.Get("error") != "":
			res.err = &Refusal{Reason: "the identity provider refused the sign-in: " + q.Get("error") + " " + q.Get("error_description")}
		case q.Get("state") != pd.state:
			// Not this sign-in's answer (a stale tab): wait for the real one.
			http.Error(w, "this is not the sign-in this command started", http.StatusBadRequest)
			return
		default:
			res.g, res.err = c.exchange(r.Context(), pd, q.Get("code"))
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if res.err != nil {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "<!doctype html><title>Sign-in failed</title><p>Sign-in failed: %s</p>", html.EscapeString(res.err.Error()))
		} else {
			fmt.Fprint(w, "<!doctype html><title>Signed in</title><p>Signed in to Switchyard. You can close this tab.</p>")
		}
		select {
		case got <- res:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	authURL := c.authURL(pd)
	fmt.Fprintf(o.Out, "Open this URL in a browser to sign in:\n\n  %s\n\nWaiting for the identity provider to redirect to %s ...\n", authURL, pd.redirect)
	if o.Opened != nil {
		o.Opened(authURL)
	}
	select {
	case <-ctx.Done():
		return Token{}, fmt.Errorf("waiting for the sign-in: %w", ctx.Err())
	case res := <-got:
		if res.err != nil {
			return Token{}, res.err
		}
		return Token{IDToken: res.g.idToken, RefreshToken: res.g.refresh, Expiry: res.g.expiry}, nil
	}
}

// RefreshLogin trades a stored refresh token for a fresh ID token.
func RefreshLogin(ctx context.Context, o LoginOptions, refreshToken string) (Token, error) {
	if refreshToken == "" {
		return Token{}, errors.New("no refresh token was granted")
	}
	o = o.withDefaults()
	c, err := discover(ctx, o.HTTPClient, o.Issuer, o.ClientID, o.ClientSecret, withOpenID(o.Scopes), time.Now)
	if err != nil {
		return Token{}, err
	}
	g, err := c.refresh(ctx, refreshToken)
	if err != nil {
		return Token{}, err
	}
	return Token{IDToken: g.idToken, RefreshToken: g.refresh, Expiry: g.expiry}, nil
}

func (o LoginOptions) withDefaults() LoginOptions {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	return o
}

// ErrNoDeviceFlow is LoginDevice's answer for a provider whose discovery
// document advertises no device authorization endpoint.
var ErrNoDeviceFlow = errors.New("the identity provider does not advertise the device flow (device_authorization_endpoint); use the browser sign-in")

// LoginDevice runs the device authorization flow (RFC 8628), for a
// terminal without a browser: it prints the URL to open elsewhere and the
// code to enter there, polls the provider until the person approves (or
// ctx ends), and verifies the ID token.
func LoginDevice(ctx context.Context, o LoginOptions) (Token, error) {
	o = o.withDefaults()
	c, err := discover(ctx, o.HTTPClient, o.Issuer, o.ClientID, o.ClientSecret, withOpenID(o.Scopes), time.Now)
	if err != nil {
		return Token{}, err
	}
	if c.oauth.Endpoint.DeviceAuthURL == "" {
		return Token{}, ErrNoDeviceFlow
	}
	da, err := c.oauth.DeviceAuth(c.ctx(ctx))
	if err != nil {
		return Token{}, fmt.Errorf("starting the device sign-in: %w", err)
	}
	open := da.VerificationURIComplete
	if open == "" {
		open = da.VerificationURI
	}
	fmt.Fprintf(o.Out, "On any device, open:\n\n  %s\n\nand enter the code %s. Waiting for the sign-in ...\n", da.VerificationURI, da.UserCode)
	if o.Opened != nil {
		o.Opened(open)
	}
	tok, err := c.oauth.DeviceAccessToken(c.ctx(ctx), da)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return Token{}, &Refusal{Reason: "the identity provider refused the device sign-in: " + oauthReason(re)}
		}
		return Token{}, fmt.Errorf("waiting for the device sign-in: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Token{}, &Refusal{Reason: "the identity provider returned no ID token (is the openid scope allowed?)"}
	}
	_, expiry, err := c.verify(ctx, raw)
	if err != nil {
		return Token{}, err
	}
	return Token{IDToken: raw, RefreshToken: tok.RefreshToken, Expiry: expiry}, nil
}
