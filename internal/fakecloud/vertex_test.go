package fakecloud

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestVertex_RequiresIssuedToken: the Vertex routes take only a token the
// token endpoint issued, and refuse anything else with Google's 401.
func TestVertex_RequiresIssuedToken(t *testing.T) {
	s := New(Options{})
	path := "/vertex/v1/projects/p/locations/us-east5/publishers/google/models/gemini-2.5-flash:generateContent"
	body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	for _, auth := range []string{"", "Bearer ya29.made-up", DefaultKey} {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		var e struct {
			Error struct {
				Code   int    `json:"code"`
				Status string `json:"status"`
			} `json:"error"`
		}
		if w.Code != http.StatusUnauthorized || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error.Status != "UNAUTHENTICATED" {
			t.Errorf("Authorization %q: %d %s, want Google's 401", auth, w.Code, w.Body)
		}
	}
}

// TestVertexToken_Refusals: the token endpoint answers OAuth errors for a
// wrong grant type and for malformed, mis-addressed or unscoped
// assertions.
func TestVertexToken_Refusals(t *testing.T) {
	s := New(Options{})
	seg := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	head := seg(map[string]string{"alg": "RS256", "typ": "JWT"})
	aud := "http://example.com" + VertexTokenPath
	claims := func(aud, scope string) string {
		return seg(map[string]any{"iss": "a@b", "aud": aud, "scope": scope, "iat": s.now().Unix(), "exp": s.now().Unix() + 3600})
	}
	sig := base64.RawURLEncoding.EncodeToString([]byte("sig"))
	for name, tc := range map[string]struct{ grant, assertion, want string }{
		"grant":     {"client_credentials", head + "." + claims(aud, cloudPlatformScope) + "." + sig, "unsupported_grant_type"},
		"malformed": {jwtBearerGrant, "not-a-jwt", "invalid_grant"},
		"audience":  {jwtBearerGrant, head + "." + claims("https://oauth2.googleapis.com/token", cloudPlatformScope) + "." + sig, "invalid_grant"},
		"scope":     {jwtBearerGrant, head + "." + claims(aud, "https://www.googleapis.com/auth/drive") + "." + sig, "invalid_grant"},
	} {
		form := url.Values{"grant_type": {tc.grant}, "assertion": {tc.assertion}}
		req := httptest.NewRequest(http.MethodPost, aud, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		var e struct {
			Error string `json:"error"`
		}
		if w.Code != http.StatusBadRequest || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error != tc.want {
			t.Errorf("%s: %d %s, want 400 %s", name, w.Code, w.Body, tc.want)
		}
	}
	// Without registered accounts, a well-formed assertion buys a token
	// the routes accept.
	form := url.Values{"grant_type": {jwtBearerGrant}, "assertion": {head + "." + claims(aud, cloudPlatformScope) + "." + sig}}
	req := httptest.NewRequest(http.MethodPost, aud, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &tok) != nil || tok.AccessToken == "" || tok.ExpiresIn != 3600 {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	call := httptest.NewRequest(http.MethodPost, "/vertex/v1/projects/p/locations/global/publishers/anthropic/models/claude-haiku-4-5@20251001:rawPredict",
		strings.NewReader(`{"anthropic_version":"vertex-2023-10-16","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`))
	call.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	w = httptest.NewRecorder()
	s.ServeHTTP(w, call)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"type":"message"`) {
		t.Errorf("rawPredict with the issued token: %d %s", w.Code, w.Body)
	}
}
