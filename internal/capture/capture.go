// Package capture decides which requests have their payloads captured for
// the request log, and makes what is stored of them: redacted (built-in
// patterns for keys, tokens, card numbers, emails and phone numbers, plus
// the operator's own) and cut to a size cap, before anything leaves the
// request. Capture is off unless a rule turns it on.
package capture

import (
	"math/rand/v2"
	"path"
	"regexp"
	"slices"
	"unicode/utf8"

	"switchyard/internal/store"
)

// DefaultMaxBytes caps each of a captured request and response unless
// Options says otherwise.
const DefaultMaxBytes = 64 << 10

// Rule chooses requests to capture. Empty fields match everything; Model
// is a glob (path.Match) over the client-facing model name.
type Rule struct {
	// Tenant is a tenant name; Key a key ID.
	Tenant, Key, Model string
	// SampleRate is the fraction of matching requests captured: 0 none
	// (a rule that keeps what it matches out of capture), 1 all.
	SampleRate float64
}

// Options configure a Policy.
type Options struct {
	// Rules are tried in order; the first that matches a request decides.
	Rules []Rule
	// NeverTenants names tenants never captured, whatever the rules say.
	NeverTenants []string
	// MaxBytes caps each of the request and the response, after
	// redaction. Zero means DefaultMaxBytes.
	MaxBytes int
	// Redact holds the operator's own patterns, applied after the
	// built-in ones.
	Redact []*regexp.Regexp
	// Random returns a number in [0, 1); nil uses math/rand/v2.
	Random func() float64
}

// Policy is a compiled capture configuration. It is safe for concurrent
// use; a nil *Policy captures nothing.
type Policy struct {
	rules    []Rule
	never    []string
	max      int
	redactor *Redactor
	random   func() float64
}

// New returns a policy, or nil when no rule could capture anything.
func New(o Options) *Policy {
	if !slices.ContainsFunc(o.Rules, func(r Rule) bool { return r.SampleRate > 0 }) {
		return nil
	}
	p := &Policy{rules: o.Rules, never: o.NeverTenants, max: o.MaxBytes, redactor: NewRedactor(o.Redact), random: o.Random}
	if p.max <= 0 {
		p.max = DefaultMaxBytes
	}
	if p.random == nil {
		p.random = rand.Float64
	}
	return p
}

// Choose reports whether a request of tenant (by name), key (by ID) and
// model (as the client asked for it) is captured: never for a tenant in
// NeverTenants; otherwise the first matching rule decides, with its
// sample rate; no matching rule, no capture.
func (p *Policy) Choose(tenant, keyID, model string) bool {
	if p == nil || slices.Contains(p.never, tenant) {
		return false
	}
	for _, r := range p.rules {
		if r.Tenant != "" && r.Tenant != tenant || r.Key != "" && r.Key != keyID {
			continue
		}
		if r.Model != "" {
			if ok, _ := path.Match(r.Model, model); !ok {
				continue
			}
		}
		switch {
		case r.SampleRate <= 0:
			return false
		case r.SampleRate >= 1:
			return true
		}
		return p.random() < r.SampleRate
	}
	return false
}

// MaxBytes is the cap on each of a captured request and response; a
// response may be collected up to Collect bytes before Payload redacts
// and cuts it.
func (p *Policy) MaxBytes() int { return p.max }

// Collect is how much of a response worth capturing to gather: the cap
// plus room for a secret that straddles it, so that redaction sees it
// whole before the cut.
func (p *Policy) Collect() int { return p.max + slack }

// slack is the longest instance of a built-in pattern the cut may not
// split unseen: more than any key, token or number they match, short of
// an unusually long JWT or bearer token.
const slack = 1024

// Payload redacts request and response and cuts each to the cap, saying
// whether it cut. The sizes it records are those before the cut.
func (p *Policy) Payload(request, response []byte) *store.Payload {
	req, rcut := p.seal(request)
	resp, pcut := p.seal(response)
	return &store.Payload{Request: req, Response: resp, RequestBytes: int64(len(request)), ResponseBytes: int64(len(response)),
		Truncated: rcut || pcut}
}

// seal redacts b and cuts it to the cap, at a rune boundary. Only the
// cap and its slack are redacted, so a large body costs no more than a
// small one.
func (p *Policy) seal(b []byte) (string, bool) {
	cut := false
	if len(b) > p.max+slack {
		b, cut = dropSplitToken(b[:p.max+slack]), true
	}
	s := p.redactor.Redact(string(b))
	if len(s) > p.max {
		s, cut = truncate(s, p.max), true
	}
	return s, cut
}

// truncate cuts s to at most n bytes without splitting a rune.
func truncate(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// dropSplitToken removes from the end of a prefix cut out of a longer text
// the token the cut may have split: the trailing run of characters up to
// a delimiter (whitespace, quotes, JSON punctuation), at most 256 bytes
// of it, and before it any digits and number punctuation (a card or phone
// number written in groups), so that no part of a secret cut in two is
// kept without redaction having seen it whole.
func dropSplitToken(b []byte) []byte {
	i, floor := len(b), max(len(b)-256, 0)
	for i > floor && !delimiter(b[i-1]) {
		i--
	}
	for i > 0 && (delimiter(b[i-1]) || b[i-1] >= '0' && b[i-1] <= '9' || b[i-1] == '-' || b[i-1] == '+' || b[i-1] == '(' || b[i-1] == ')' || b[i-1] == '.') {
		i--
	}
	return b[:i]
}

func delimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '"', '\'', ',', ':', ';', '{', '}', '[', ']', '<', '>', '=':
		return true
	}
	return false
}
