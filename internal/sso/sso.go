// Package sso owns single sign-on through an OpenID Connect provider: its
// discovery (at start, with a deadline, and retried in the background
// while the issuer is down), the authorization code flow with PKCE, state
// and nonce for the console and for `switchyard login`, ID token
// verification, refresh, and the mapping of an identity's groups and
// claims to an access.Principal. It is the only user of
// github.com/coreos/go-oidc and, beside the Vertex adapter, of
// golang.org/x/oauth2; no exported API takes or returns their types.
package sso

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"switchyard/internal/access"
)

// Options configure a Provider.
type Options struct {
	// Issuer is the provider's issuer URL.
	Issuer string
	// ClientID is the gateway's client; ID tokens must name it as their
	// audience.
	ClientID string
	// ClientSecret is the client's secret; empty for a public client.
	ClientSecret string
	// Scopes are asked for at sign-in; "openid" is added when missing.
	Scopes []string
	// Mapping turns a verified identity's claims into a principal.
	Mapping Mapping
	// DiscoveryTimeout bounds the first discovery attempt. Default: 10s.
	DiscoveryTimeout time.Duration
	// RetryInterval is the first wait between background discovery
	// attempts; it doubles up to a minute. Default: 2s.
	RetryInterval time.Duration
	// HTTPClient calls the provider; nil is a client with a 10-second
	// timeout, so that every call to the provider has a deadline.
	HTTPClient *http.Client
	// Now is the clock ID tokens are checked against; nil is time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// ErrUnavailable is the answer while the provider's discovery document
// could not be fetched: single sign-on cannot be judged, which is not a
// refusal.
var ErrUnavailable = errors.New("single sign-on is unavailable: the OpenID provider could not be reached")

// Provider is one OpenID provider. It is safe for concurrent use.
type Provider struct {
	o     Options
	log   *slog.Logger
	flows *flows
	mu    sync.Mutex
	c     *client // nil until discovery succeeds
	stop  context.CancelFunc
	done  chan struct{}
	tryMu sync.Mutex // one discovery attempt at a time
}

var _ access.Authenticator = (*Provider)(nil)

// New returns a Provider and fetches the issuer's discovery document
// within o.DiscoveryTimeout. If that fails, New still returns: the
// failure is logged and discovery is retried in the background (and on
// demand by a sign-in) until it succeeds or Close is called.
func New(ctx context.Context, o Options) *Provider {
	if o.DiscoveryTimeout <= 0 {
		o.DiscoveryTimeout = 10 * time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 2 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Scopes = withOpenID(o.Scopes)
	p := &Provider{o: o, log: o.Logger, flows: newFlows(10*time.Minute, 10000, o.Now), done: make(chan struct{})}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	p.stop = stop
	if err := p.discover(ctx); err != nil {
		p.log.Error("single sign-on: OpenID discovery failed; retrying in the background", "issuer", o.Issuer, "err", err)
		go p.retry(bg)
	} else {
		close(p.done)
	}
	return p
}

// Close stops background discovery.
func (p *Provider) Close() error {
	p.stop()
	<-p.done
	return nil
}

// Ready reports whether discovery has succeeded.
func (p *Provider) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c != nil
}

// retry rediscovers until it succeeds or ctx ends.
func (p *Provider) retry(ctx context.Context) {
	defer close(p.done)
	wait := p.o.RetryInterval
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if p.Ready() {
			return
		}
		err := p.discover(ctx)
		if err == nil {
			p.log.Info("single sign-on: OpenID discovery succeeded", "issuer", p.o.Issuer)
			return
		}
		p.log.Warn("single sign-on: OpenID discovery failed again", "issuer", p.o.Issuer, "err", err, "next_in", (2 * wait).String())
		wait = min(2*wait, time.Minute)
	}
}

// discover fetches the discovery document within DiscoveryTimeout.
func (p *Provider) discover(ctx context.Context) error {
	p.tryMu.Lock()
	defer p.tryMu.Unlock()
	return p.discoverLocked(ctx)
}

// discoverLocked is discover; the caller holds tryMu.
func (p *Provider) discoverLocked(ctx context.Context) error {
	if p.Ready() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.DiscoveryTimeout)
	defer cancel()
	c, err := discover(ctx, p.o.HTTPClient, p.o.Issuer, p.o.ClientID, p.o.ClientSecret, p.o.Scopes, p.o.Now)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.c = c
	p.mu.Unlock()
	return nil
}

// client returns the discovered provider, trying discovery once more
// (bounded by DiscoveryTimeout) if it has not succeeded yet and no other
// attempt is under way: requests never queue behind an issuer that does
// not answer.
func (p *Provider) client(ctx context.Context) (*client, error) {
	p.mu.Lock()
	c := p.c
	p.mu.Unlock()
	if c != nil {
		return c, nil
	}
	if !p.tryMu.TryLock() {
		return nil, ErrUnavailable
	}
	err := p.discoverLocked(ctx)
	p.tryMu.Unlock()
	if err != nil {
		p.log.Warn("single sign-on: OpenID discovery failed", "issuer", p.o.Issuer, "err", err)
		return nil, ErrUnavailable
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c, nil
}

// client is a discovered provider: its OAuth 2 endpoints and its ID token
// verifier.
type client struct {
	hc       *http.Client
	oauth    oauth2.Config // RedirectURL is set per flow
	verifier *oidc.IDTokenVerifier
}

func discover(ctx context.Context, hc *http.Client, issuer, clientID, secret string, scopes []string, now func() time.Time) (*client, error) {
	op, err := oidc.NewProvider(oidc.ClientContext(ctx, hc), issuer)
	if err != nil {
		return nil, fmt.Errorf("discovering %s: %w", issuer, err)
	}
	return &client{
		hc:       hc,
		oauth:    oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: op.Endpoint(), Scopes: scopes},
		verifier: op.Verifier(&oidc.Config{ClientID: clientID, Now: now}),
	}, nil
}

// ctx carries the HTTP client to go-oidc and oauth2.
func (c *client) ctx(ctx context.Context) context.Context { return oidc.ClientContext(ctx, c.hc) }

// verify checks a raw ID token's signature, issuer, audience and expiry,
// and returns its claims and expiry.
func (c *client) verify(ctx context.Context, raw string) (claims map[string]any, expiry time.Time, err error) {
	tok, err := c.verifier.Verify(c.ctx(ctx), raw)
	if err != nil {
		var te *oidc.TokenExpiredError
		if errors.As(err, &te) {
			return nil, time.Time{}, &Refusal{Reason: "the ID token expired at " + te.Expiry.UTC().Format(time.RFC3339) + "; sign in again"}
		}
		return nil, time.Time{}, &Refusal{Reason: "the ID token did not verify: " + err.Error()}
	}
	if err := tok.Claims(&claims); err != nil {
		return nil, time.Time{}, &Refusal{Reason: "the ID token's claims are unreadable"}
	}
	return claims, tok.Expiry, nil
}

// Refusal is a sign-in or a token refused, with the reason to show the
// person. It is an access.ErrNoMatch for an Authenticator's caller.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

// Unwrap makes a refusal an access.ErrNoMatch.
func (r *Refusal) Unwrap() error { return access.ErrNoMatch }

func withOpenID(scopes []string) []string {
	out := []string{"openid"}
	for _, s := range scopes {
		if s != "openid" {
			out = append(out, s)
		}
	}
	return out
}
