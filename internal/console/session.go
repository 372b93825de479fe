package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"

	"switchyard/internal/access"
)

const (
	// sessionCookie holds a signed-in operator's session id.
	sessionCookie = "switchyard_console"
	// signinCookie holds the sign-in form's CSRF token before there is a
	// session (a double-submitted cookie).
	signinCookie = "switchyard_console_signin"
	// cookiePath keeps both cookies off the admin API.
	cookiePath = "/ui/"
)

// session is a signed-in operator, held on the server; the cookie carries
// only a random id.
type session struct {
	// who signed in; permitted judges what it may do.
	who access.Principal
	// csrf is the token every form of this session carries.
	csrf     string
	lastSeen time.Time
	// flash is a message for the next page shown (after a redirect).
	flash string
	// expiry, for a single sign-on session, is its ID token's: past it
	// the session is renewed with refresh, or ends.
	expiry  time.Time
	refresh string
	// renewing serialises renewals of this session.
	renewing sync.Mutex
}

// sessions is the bounded, server-side session table. Sessions expire
// after idle time without a request; past max sessions the least recently
// used one is dropped.
type sessions struct {
	mu   sync.Mutex
	byID map[[32]byte]*session
	idle time.Duration
	max  int
	now  func() time.Time
}

func newSessions(idle time.Duration, max int, now func() time.Time) *sessions {
	return &sessions{byID: map[[32]byte]*session{}, idle: idle, max: max, now: now}
}

// randomToken returns 32 random bytes, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// key is what the table is indexed by: a hash of the id, so that the
// table's lookups reveal nothing about live ids through their timing.
func key(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// create starts a session for p and returns its id.
func (s *sessions) create(p access.Principal) (string, *session) {
	return s.createUntil(p, time.Time{}, "")
}

// createUntil starts a single sign-on session for p that holds until
// expiry, renewable with refresh (if not empty).
func (s *sessions) createUntil(p access.Principal, expiry time.Time, refresh string) (string, *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.prune(now)
	if len(s.byID) >= s.max {
		var oldest [32]byte
		var at time.Time
		for k, v := range s.byID {
			if at.IsZero() || v.lastSeen.Before(at) {
				oldest, at = k, v.lastSeen
			}
		}
		delete(s.byID, oldest)
	}
	id := randomToken()
	ss := &session{who: p, csrf: randomToken(), lastSeen: now, expiry: expiry, refresh: refresh}
	s.byID[key(id)] = ss
	return id, ss
}

// get returns the live session with id and marks it used; an expired
// one is deleted.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(id)
	ss := s.byID[k]
	if ss == nil {
		return nil
	}
	now := s.now()
	if now.Sub(ss.lastSeen) >= s.idle {
		delete(s.byID, k)
		return nil
	}
	ss.lastSeen = now
	return ss
}

// takeFlash returns and clears the session's flash message.
func (s *sessions) takeFlash(ss *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := ss.flash
	ss.flash = ""
	return f
}

func (s *sessions) setFlash(ss *session, msg string) {
	s.mu.Lock()
	ss.flash = msg
	s.mu.Unlock()
}

// renewed replaces old, the session of id, with a copy that holds
// principal p until expiry; it returns the copy, or nil if old is no
// longer the session of id (ended meanwhile).
func (s *sessions) renewed(id string, old *session, p access.Principal, expiry time.Time, refresh string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(id)
	if s.byID[k] != old {
		return nil
	}
	ns := &session{who: p, csrf: old.csrf, lastSeen: old.lastSeen, flash: old.flash, expiry: expiry, refresh: refresh}
	s.byID[k] = ns
	return ns
}

// current returns the session of id without marking it used.
func (s *sessions) current(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[key(id)]
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	delete(s.byID, key(id))
	s.mu.Unlock()
}

// prune drops expired sessions. The caller holds s.mu.
func (s *sessions) prune(now time.Time) {
	for k, v := range s.byID {
		if now.Sub(v.lastSeen) >= s.idle {
			delete(s.byID, k)
		}
	}
}

// tokensEqual compares two secrets in constant time.
func tokensEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// setCookie writes a console cookie: HttpOnly, SameSite=Strict, scoped to
// /ui/, and Secure when the request came over TLS. maxAge < 0 deletes it.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: cookiePath, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: maxAge})
}

// themeCookie keeps the palette an operator picked, across sessions.
const themeCookie = "sy_theme"

// themeOf returns the palette the request's cookie picks: "light",
// "dark", or "" to follow the system.
func themeOf(r *http.Request) string {
	if ck, err := r.Cookie(themeCookie); err == nil && (ck.Value == "light" || ck.Value == "dark") {
		return ck.Value
	}
	return ""
}

// setTheme keeps the picked palette ("system" forgets it) and returns
// to the page the form was on.
func (c *console) setTheme(w http.ResponseWriter, r *http.Request, s *session, v *view) (string, error) {
	switch theme := r.PostForm.Get("theme"); theme {
	case "light", "dark":
		setCookie(w, r, themeCookie, theme, 365*24*3600)
	case "system":
		setCookie(w, r, themeCookie, "", -1)
	default:
		return "", badRequest("theme must be system, light or dark")
	}
	return localPath(r.PostForm.Get("next")), nil
}

// localPath returns next when it is a console page's path, and the
// overview otherwise, so a form can never send the browser elsewhere.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}
