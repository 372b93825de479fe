package api

import (
	"net/http"
	"net/netip"
	"strings"

	"switchyard/internal/auth"
)

// sourceAddr is the address a request comes from, for IP allow-lists: the
// connection's peer, or, when the peer is a trusted proxy, the nearest
// address in X-Forwarded-For (reading from the right) that is not itself
// a trusted proxy. A header that cannot be read from a trusted proxy
// yields the invalid address, which no allow-list admits: a proxy that
// sends garbage must not make a key usable from anywhere.
func (s *Server) sourceAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	peer := ap.Addr().Unmap()
	if len(s.trusted) == 0 || !s.isTrusted(peer) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	if len(hops) == 0 {
		return peer
	}
	addr := peer
	// Walk the hops from the nearest: each proxy appends the address it
	// saw, so the rightmost entries are the most trustworthy.
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return netip.Addr{}
			}
			addr = a.Unmap()
			if !s.isTrusted(addr) {
				return addr
			}
		}
	}
	return addr
}

func (s *Server) isTrusted(a netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// checkSource refuses a principal whose key or tenant does not allow the
// request's source address: a 403 that each dialect renders its own way.
func (s *Server) checkSource(r *http.Request, p *auth.Principal) *apiError {
	if err := p.CheckSource(s.sourceAddr(r)); err != nil {
		return &apiError{Status: http.StatusForbidden, Type: typePermission, Code: "ip_not_allowed", Err: err,
			Message: "This API key may not be used from this address."}
	}
	return nil
}
