package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"switchyard/internal/admin"
)

// doorRequest builds a minimal model call on each front door with the
// key, coming from remote.
type doorRequest struct {
	name   string
	build  func(secret, awsID string) *http.Request
	marker string // in the refusal: the dialect's own way of saying it
	header string // or in this header
}

func doorRequests() []doorRequest {
	post := func(path, body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	return []doorRequest{
		{"openai", func(s, _ string) *http.Request {
			r := post("/v1/chat/completions", `{"model":"via-openai","messages":[{"role":"user","content":"hi"}]}`)
			r.Header.Set("Authorization", "Bearer "+s)
			return r
		}, `"code":"ip_not_allowed"`, ""},
		{"anthropic", func(s, _ string) *http.Request {
			r := post("/v1/messages", `{"model":"via-anthropic","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
			r.Header.Set("X-Api-Key", s)
			r.Header.Set("Anthropic-Version", "2023-06-01")
			return r
		}, `"type":"permission_error"`, ""},
		{"gemini", func(s, _ string) *http.Request {
			r := post("/v1beta/models/via-gemini:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)
			r.Header.Set("X-Goog-Api-Key", s)
			return r
		}, `"PERMISSION_DENIED"`, ""},
		{"bedrock_api_key", func(s, _ string) *http.Request {
			r := post("/model/via-bedrock/converse", `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`)
			r.Header.Set("Authorization", "Bearer "+s)
			return r
		}, "", "AccessDeniedException"},
	}
}

// TestFrontDoors_IPAllowList: a key or tenant allow-list refuses a
// request from elsewhere with 403 in the client's dialect, on every
// front door, before the gateway does anything with it.
func TestFrontDoors_IPAllowList(t *testing.T) {
	h := newHarness(t)
	keyFenced := h.issue(t, admin.KeySpec{Tenant: "acme", AllowedCIDRs: []string{"192.0.2.0/24", "2001:db8::/32"}})
	tenantFenced := h.issue(t, admin.KeySpec{Tenant: "fenced"})
	if _, err := h.admin.UpdateTenant(t.Context(), "fenced", admin.TenantUpdate{AllowedCIDRs: &[]string{"198.51.100.0/24"}}); err != nil {
		t.Fatal(err)
	}
	for _, door := range doorRequests() {
		for _, tc := range []struct {
			name   string
			secret string
			remote string
			want   int
		}{
			{"key_list_inside_v4", keyFenced.Secret, "192.0.2.10:4000", 200},
			{"key_list_inside_v6", keyFenced.Secret, "[2001:db8::7]:4000", 200},
			{"key_list_v4_mapped", keyFenced.Secret, "[::ffff:192.0.2.10]:4000", 200},
			{"key_list_outside", keyFenced.Secret, "203.0.113.1:4000", 403},
			{"key_list_outside_v6", keyFenced.Secret, "[2001:db9::1]:4000", 403},
			{"tenant_list_inside", tenantFenced.Secret, "198.51.100.20:4000", 200},
			{"tenant_list_outside", tenantFenced.Secret, "192.0.2.10:4000", 403},
			{"no_list", h.key.Secret, "203.0.113.1:4000", 200},
		} {
			t.Run(door.name+"/"+tc.name, func(t *testing.T) {
				before := len(h.cloud.Records())
				r := door.build(tc.secret, "")
				r.RemoteAddr = tc.remote
				w := httptest.NewRecorder()
				h.handler.ServeHTTP(w, r)
				body, _ := io.ReadAll(w.Result().Body)
				if w.Code != tc.want {
					t.Fatalf("status %d, want %d: %s", w.Code, tc.want, body)
				}
				if tc.want != 403 {
					return
				}
				if door.marker != "" && !strings.Contains(string(body), door.marker) {
					t.Errorf("refusal lacks %s: %s", door.marker, body)
				}
				if door.header != "" && !strings.HasPrefix(w.Header().Get("X-Amzn-Errortype"), door.header) {
					t.Errorf("refusal's X-Amzn-Errortype = %q, want %s", w.Header().Get("X-Amzn-Errortype"), door.header)
				}
				if after := len(h.cloud.Records()); after != before {
					t.Errorf("a refused request reached a cloud")
				}
			})
		}
	}
}

// TestSourceAddr: X-Forwarded-For is believed only from a trusted proxy,
// read from the right past every trusted hop; garbage from a trusted
// proxy gives no address at all.
func TestSourceAddr(t *testing.T) {
	s := &Server{trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct", "203.0.113.9:1234", nil, "203.0.113.9"},
		{"direct_v6", "[2001:db8::1]:1234", nil, "2001:db8::1"},
		{"untrusted_peer_header_ignored", "203.0.113.9:1234", []string{"192.0.2.1"}, "203.0.113.9"},
		{"trusted_peer_no_header", "10.0.0.5:1234", nil, "10.0.0.5"},
		{"trusted_peer", "10.0.0.5:1234", []string{"192.0.2.1"}, "192.0.2.1"},
		{"spoofed_left_entry", "10.0.0.5:1234", []string{"198.51.100.1, 192.0.2.1"}, "192.0.2.1"},
		{"two_trusted_hops", "10.0.0.5:1234", []string{"192.0.2.1, 10.9.9.9"}, "192.0.2.1"},
		{"several_headers", "10.0.0.5:1234", []string{"198.51.100.1", "192.0.2.1, 10.1.1.1"}, "192.0.2.1"},
		{"all_trusted", "10.0.0.5:1234", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"v6_proxy", "[fd00::1]:1234", []string{"2001:db8::9"}, "2001:db8::9"},
		{"mapped", "[::ffff:10.0.0.5]:1234", []string{"::ffff:192.0.2.1"}, "192.0.2.1"},
		{"garbage_from_trusted", "10.0.0.5:1234", []string{"192.0.2.1, not-an-ip"}, ""},
		{"no_remote", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := s.sourceAddr(r)
			if tc.want == "" {
				if got.IsValid() {
					t.Errorf("sourceAddr = %v, want none", got)
				}
				return
			}
			if got != netip.MustParseAddr(tc.want) {
				t.Errorf("sourceAddr = %v, want %s", got, tc.want)
			}
		})
	}
}

// FuzzSourceAddr: any peer address and X-Forwarded-For give an address
// or none, never a panic, and never a header's address from an untrusted
// peer.
func FuzzSourceAddr(f *testing.F) {
	f.Add("10.0.0.5:1234", "192.0.2.1, 10.9.9.9")
	f.Add("[fd00::1]:1", "2001:db8::9,,")
	f.Add("203.0.113.9:1", "192.0.2.1")
	f.Add("", " , ")
	s := &Server{trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := s.sourceAddr(r)
		if ap, err := netip.ParseAddrPort(remote); err == nil && !s.isTrusted(ap.Addr().Unmap()) && got != ap.Addr().Unmap() {
			t.Errorf("untrusted peer %q with X-Forwarded-For %q gave %v", remote, xff, got)
		}
	})
}
