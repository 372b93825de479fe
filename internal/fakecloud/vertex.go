package fakecloud

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"switchyard/internal/sse"
)

const (
	// VertexTokenPath is the simulated Google OAuth token endpoint, under
	// the server's root; a service-account key file names it as token_uri.
	VertexTokenPath = "/vertex/token"
	// vertexTokenLifetime is how long an issued access token is valid, as
	// Google's are.
	vertexTokenLifetime = time.Hour
	// maxVertexTokens bounds the tokens remembered; the oldest are
	// forgotten first.
	maxVertexTokens = 10000
	// jwtBearerGrant is the grant type of a service account's signed
	// assertion (RFC 7523).
	jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// cloudPlatformScope is the scope Vertex AI calls need.
	cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
)

// vertexToken serves the OAuth token endpoint: a service account's RS256
// assertion (signed by a key registered in Options.ServiceAccounts, or by
// any key when none are registered) buys a bearer token the /vertex routes
// accept for an hour. Errors are OAuth's ({"error","error_description"}).
func (s *Server) vertexToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be a form")
		return
	}
	if g := r.PostForm.Get("grant_type"); g != jwtBearerGrant {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+g)
		return
	}
	if msg := s.checkAssertion(r.PostForm.Get("assertion"), "http://"+r.Host+r.URL.Path); msg != "" {
		oauthError(w, http.StatusBadRequest, "invalid_grant", msg)
		return
	}
	token := "ya29.fake-" + rand.Text()
	s.mu.Lock()
	s.vertexTokens[token] = s.now().Add(vertexTokenLifetime)
	s.vertexTokenLog = append(s.vertexTokenLog, token)
	for len(s.vertexTokenLog) > maxVertexTokens {
		delete(s.vertexTokens, s.vertexTokenLog[0])
		s.vertexTokenLog = s.vertexTokenLog[1:]
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token, "expires_in": int(vertexTokenLifetime / time.Second), "token_type": "Bearer",
	})
}

// checkAssertion verifies a JWT-bearer assertion as Google's token
// endpoint does: RS256, issued by a known service account, for this
// endpoint, with the cloud-platform scope, not expired. It returns what is
// wrong, or "".
func (s *Server) checkAssertion(assertion, audience string) string {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe"
	}
	var head struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Exp   int64  `json:"exp"`
		Iat   int64  `json:"iat"`
	}
	if decodeSegment(parts[0], &head) != nil || decodeSegment(parts[1], &claims) != nil {
		return "Invalid JWT: the header and claims must be base64url JSON"
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || head.Alg != "RS256" {
		return "Invalid JWT Signature."
	}
	if len(s.serviceAccounts) > 0 {
		pub, ok := s.serviceAccounts[claims.Iss]
		if !ok {
			return "Invalid grant: account not found"
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
			return "Invalid JWT Signature."
		}
	}
	now := s.now().Unix()
	switch {
	case claims.Iss == "":
		return "Invalid JWT: iss is required"
	case claims.Aud != audience:
		return "Invalid JWT: Failed audience check. The right audience is " + audience
	case claims.Exp < now || claims.Iat > now+300:
		return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	case !strings.Contains(" "+claims.Scope+" ", " "+cloudPlatformScope+" "):
		return "Invalid OAuth scope or ID token audience provided."
	}
	return ""
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// vertexAuth accepts a bearer token the token endpoint issued and that has
// not expired.
func (c *call) vertexAuth() error {
	token, ok := strings.CutPrefix(c.r.Header.Get("Authorization"), "Bearer ")
	c.s.mu.Lock()
	exp, known := c.s.vertexTokens[token]
	c.s.mu.Unlock()
	if !ok || !known || !c.s.now().Before(exp) {
		return &apiError{status: http.StatusUnauthorized, message: "Request had invalid authentication credentials. " +
			"Expected OAuth 2 access token, login cookie or other valid authentication credential. " +
			"See https://developers.google.com/identity/sign-in/web/devconsole-project."}
	}
	return nil
}

// vertex serves POST {version}/projects/{project}/locations/{location}/
// publishers/{publisher}/models/{model}:{method}: Gemini's generateContent,
// streamGenerateContent and countTokens for publisher google, and for
// publisher anthropic Claude's token count at count-tokens:rawPredict
// (a Messages body naming its model), rawPredict and
// streamRawPredict (Anthropic Messages bodies) for publisher anthropic.
func (s *Server) vertex(c *call) error {
	version := c.r.PathValue("version")
	model, method, ok := strings.Cut(c.r.PathValue("action"), ":")
	pub := c.r.PathValue("publisher")
	c.rec.Model = model
	if !ok || (version != "v1" && version != "v1beta1") || c.r.PathValue("project") == "" || c.r.PathValue("location") == "" {
		return notFound(c)
	}
	switch {
	case pub == "google" && (method == "generateContent" || method == "streamGenerateContent" || method == "countTokens"):
	case pub == "anthropic" && (method == "rawPredict" || method == "streamRawPredict"):
	default:
		return notFound(c)
	}
	c.rec.Stream = strings.HasPrefix(method, "stream")
	if err := c.vertexAuth(); err != nil {
		return err
	}
	if model == "" {
		return badRequest("model is required")
	}
	if pub == "google" && method == "countTokens" {
		return s.vertexCountTokens(c, model)
	}
	if model == "count-tokens" && method == "rawPredict" {
		return s.vertexClaudeCountTokens(c)
	}
	if pub == "google" {
		return s.geminiGenerate(c, model, method)
	}
	conv, req, err := anthropicConversation(c.body, anthropicOptions{vertex: true})
	if err != nil {
		return err
	}
	if req.Stream != c.rec.Stream {
		return &requestError{msg: "stream: must be true for streamRawPredict and absent or false for rawPredict", param: "stream"}
	}
	conv.model = model
	if err := c.admit(); err != nil {
		return err
	}
	a := c.respond(conv)
	if !req.Stream {
		if err := c.pace(a.usage.output); err != nil {
			return err
		}
		writeJSON(c.w, http.StatusOK, anthropicResponse(model, a))
		return nil
	}
	sw := sse.NewWriter(c.w)
	emit := func(typ string, payload map[string]any) error {
		b, err := json.Marshal(payload)
		if err != nil {
			return err
		}
		if err := sw.Event(typ, b); err != nil {
			return errClientGone
		}
		return nil
	}
	return anthropicStream(c, model, a, emit, true)
}

// writeVertexError renders an error as Vertex AI does: Claude's own
// request errors in Anthropic's shape, the platform's (credentials, quota,
// routing) in Google's.
func writeVertexError(w http.ResponseWriter, r *http.Request, e *apiError) {
	claude := strings.Contains(r.URL.Path, "/publishers/anthropic/")
	switch e.status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusTooManyRequests:
		claude = false
	}
	if claude {
		writeAnthropicError(w, e)
		return
	}
	writeGeminiError(w, e)
}

// vertexCountTokens serves countTokens for a Gemini model. Vertex AI takes
// the counted fields at the top level (contents, systemInstruction, tools,
// generationConfig), not the Gemini API's generateContentRequest wrapper.
func (s *Server) vertexCountTokens(c *call, model string) error {
	conv, _, err := geminiConversation(c.body, model)
	if err != nil {
		return err
	}
	if err := c.admit(); err != nil {
		return err
	}
	n := conv.inputTokens()
	writeJSON(c.w, http.StatusOK, map[string]any{"totalTokens": n, "totalBillableCharacters": n * 4})
	return nil
}

// vertexClaudeCountTokens serves count-tokens:rawPredict, Claude's token
// count on Vertex AI: a Messages body that names its model, as Anthropic's
// count_tokens takes it, answered with {"input_tokens": N}.
func (s *Server) vertexClaudeCountTokens(c *call) error {
	var peek struct {
		Model string `json:"model"`
	}
	_ = json.Unmarshal(c.body, &peek)
	c.rec.Model = peek.Model
	conv, _, err := anthropicConversation(c.body, anthropicOptions{countOnly: true})
	if err != nil {
		return err
	}
	if err := c.admit(); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"input_tokens": conv.inputTokens()})
	return nil
}
