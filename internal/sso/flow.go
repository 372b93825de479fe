package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"switchyard/internal/access"
)

// Identity is a person signed in through the provider.
type Identity struct {
	Principal access.Principal
	// Expiry is the ID token's: the sign-in holds until then, and past it
	// only a refresh extends it.
	Expiry time.Time
	// RefreshToken is the provider's refresh token, if it granted one
	// (the offline_access scope, usually).
	RefreshToken string
}

// pending is a sign-in begun and not yet finished.
type pending struct {
	state, nonce, verifier, redirect string
	created                          time.Time
}

// flows is the bounded table of pending sign-ins, keyed by a hash of the
// binding the browser holds in a cookie. An entry is used once and lives
// at most ttl; past max entries the oldest is dropped.
type flows struct {
	mu    sync.Mutex
	byKey map[[32]byte]pending
	ttl   time.Duration
	max   int
	now   func() time.Time
}

func newFlows(ttl time.Duration, max int, now func() time.Time) *flows {
	return &flows{byKey: map[[32]byte]pending{}, ttl: ttl, max: max, now: now}
}

func (f *flows) put(binding string, p pending) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	var oldest [32]byte
	var at time.Time
	for k, v := range f.byKey {
		if now.Sub(v.created) >= f.ttl {
			delete(f.byKey, k)
		} else if at.IsZero() || v.created.Before(at) {
			oldest, at = k, v.created
		}
	}
	if len(f.byKey) >= f.max {
		delete(f.byKey, oldest)
	}
	p.created = now
	f.byKey[sha256.Sum256([]byte(binding))] = p
}

// take removes and returns the live pending sign-in of binding.
func (f *flows) take(binding string) (pending, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := sha256.Sum256([]byte(binding))
	p, ok := f.byKey[k]
	delete(f.byKey, k)
	if !ok || f.now().Sub(p.created) >= f.ttl {
		return pending{}, false
	}
	return p, true
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// FlowTTL is how long a begun sign-in may take.
const FlowTTL = 10 * time.Minute

// Begin starts a sign-in that returns to redirectURL: it returns the
// provider's URL to send the browser to, and a binding to keep in a
// short-lived cookie and give back to Finish. The state, nonce and PKCE
// verifier stay here.
func (p *Provider) Begin(ctx context.Context, redirectURL string) (authURL, binding string, err error) {
	c, err := p.client(ctx)
	if err != nil {
		return "", "", err
	}
	pd := pending{state: random(), nonce: random(), verifier: oauth2.GenerateVerifier(), redirect: redirectURL}
	binding = random()
	p.flows.put(binding, pd)
	return c.authURL(pd), binding, nil
}

func (c *client) authURL(pd pending) string {
	cfg := c.oauth
	cfg.RedirectURL = pd.redirect
	return cfg.AuthCodeURL(pd.state, oidcNonce(pd.nonce), oauth2.S256ChallengeOption(pd.verifier))
}

func oidcNonce(n string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam("nonce", n) }

// Finish completes the sign-in bound to binding with the provider's
// answer (the callback's query): the state must match, the code is
// exchanged with the PKCE verifier, the ID token is verified (signature,
// issuer, audience, expiry, nonce) and its claims mapped. A refusal (the
// provider's error, a stale or forged answer, an unmapped user) is a
// *Refusal whose reason can be shown.
func (p *Provider) Finish(ctx context.Context, binding string, answer url.Values) (Identity, error) {
	pd, ok := p.flows.take(binding)
	if !ok {
		return Identity{}, &Refusal{Reason: "this sign-in expired or was already used; start again"}
	}
	if e := answer.Get("error"); e != "" {
		msg := "the identity provider refused the sign-in: " + e
		if d := answer.Get("error_description"); d != "" {
			msg += " (" + d + ")"
		}
		return Identity{}, &Refusal{Reason: msg}
	}
	if subtle.ConstantTimeCompare([]byte(answer.Get("state")), []byte(pd.state)) != 1 {
		return Identity{}, &Refusal{Reason: "the sign-in's state does not match; start again"}
	}
	code := answer.Get("code")
	if code == "" {
		return Identity{}, &Refusal{Reason: "the identity provider sent no authorization code"}
	}
	c, err := p.client(ctx)
	if err != nil {
		return Identity{}, err
	}
	g, err := c.exchange(ctx, pd, code)
	if err != nil {
		return Identity{}, err
	}
	return p.identity(g)
}

// identity maps a grant's claims.
func (p *Provider) identity(g grant) (Identity, error) {
	who, err := p.o.Mapping.Principal(g.claims)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Principal: who, Expiry: g.expiry, RefreshToken: g.refresh}, nil
}

// grant is what the provider answered: a verified ID token and the
// refresh token, if any.
type grant struct {
	claims  map[string]any
	idToken string
	refresh string
	expiry  time.Time
}

// exchange trades code for tokens and verifies the ID token, its nonce
// included.
func (c *client) exchange(ctx context.Context, pd pending, code string) (grant, error) {
	cfg := c.oauth
	cfg.RedirectURL = pd.redirect
	tok, err := cfg.Exchange(c.ctx(ctx), code, oauth2.VerifierOption(pd.verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return grant{}, &Refusal{Reason: "the identity provider refused the code: " + oauthReason(re)}
		}
		return grant{}, err
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return grant{}, &Refusal{Reason: "the identity provider returned no ID token (is the openid scope allowed?)"}
	}
	claims, expiry, err := c.verify(ctx, raw)
	if err != nil {
		return grant{}, err
	}
	if n, _ := claims["nonce"].(string); subtle.ConstantTimeCompare([]byte(n), []byte(pd.nonce)) != 1 {
		return grant{}, &Refusal{Reason: "the ID token's nonce does not match this sign-in"}
	}
	return grant{claims: claims, idToken: raw, refresh: tok.RefreshToken, expiry: expiry}, nil
}

func oauthReason(re *oauth2.RetrieveError) string {
	if re.ErrorCode != "" {
		if re.ErrorDescription != "" {
			return re.ErrorCode + " (" + re.ErrorDescription + ")"
		}
		return re.ErrorCode
	}
	return re.Response.Status
}

// Refresh trades a refresh token for a new ID token and maps it again, so
// that a role taken away at the provider ends the session. A provider
// that answers without an ID token cannot extend the sign-in.
func (p *Provider) Refresh(ctx context.Context, refreshToken string) (Identity, error) {
	c, err := p.client(ctx)
	if err != nil {
		return Identity{}, err
	}
	g, err := c.refresh(ctx, refreshToken)
	if err != nil {
		return Identity{}, err
	}
	return p.identity(g)
}

func (c *client) refresh(ctx context.Context, refreshToken string) (grant, error) {
	ts := c.oauth.TokenSource(c.ctx(ctx), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	tok, err := ts.Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return grant{}, &Refusal{Reason: "the identity provider refused the refresh: " + oauthReason(re)}
		}
		return grant{}, err
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return grant{}, &Refusal{Reason: "the identity provider's refresh returned no ID token"}
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	claims, expiry, err := c.verify(ctx, raw)
	if err != nil {
		return grant{}, err
	}
	return grant{claims: claims, idToken: raw, refresh: tok.RefreshToken, expiry: expiry}, nil
}

// Authenticate implements access.Authenticator for the admin API's bearer
// tokens: an ID token from this issuer for this client, verified and
// mapped. A credential that is not a JWT from this issuer is
// access.ErrNoMatch (another authenticator's); one from this issuer that
// fails verification or maps to no role is a *Refusal (also ErrNoMatch).
func (p *Provider) Authenticate(ctx context.Context, credential string) (access.Principal, error) {
	if Issuer(credential) != p.o.Issuer {
		return access.Principal{}, access.ErrNoMatch
	}
	c, err := p.client(ctx)
	if err != nil {
		return access.Principal{}, err
	}
	claims, _, err := c.verify(ctx, credential)
	if err == nil {
		var who access.Principal
		if who, err = p.o.Mapping.Principal(claims); err == nil {
			return who, nil
		}
	}
	p.log.Info("single sign-on token refused", "reason", err.Error())
	return access.Principal{}, err
}

// Issuer returns the iss claim of a JWT without verifying it, or "" when
// credential is not a JWT: it only picks the authenticator that will.
func Issuer(credential string) string {
	parts := strings.Split(credential, ".")
	if len(parts) != 3 || len(parts[1]) > 64<<10 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.Iss
}
