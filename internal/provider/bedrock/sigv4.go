package bedrock

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signingService is Bedrock Runtime's SigV4 signing name: "bedrock", not
// "bedrock-runtime".
const signingService = "bedrock"

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	sigV4Terminator = "aws4_request"
	amzDateFormat   = "20060102T150405Z"
	scopeDateFormat = "20060102"
	// maxClockSkew is how far a request's X-Amz-Date may be from the
	// verifier's clock, in either direction.
	maxClockSkew = 15 * time.Minute
)

// SigV4 error codes, as AWS services return them (HTTP 403) in the
// X-Amzn-ErrorType header and the body's __type.
const (
	CodeInvalidSignature           = "InvalidSignatureException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
)

// Messages AWS uses for the commonest SigV4 failures.
const (
	msgSignatureMismatch             = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgUnrecognizedClient            = "The security token included in the request is invalid."
	msgMissingAuthenticationToken    = "Missing Authentication Token"
	msgContentSHA256Mismatch         = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgHostNotSigned                 = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
	msgMissingDate                   = "Authorization header requires existence of a 'X-Amz-Date' header."
	msgCredentialScopeServiceInvalid = "Credential should be scoped to correct service: 'bedrock'."
	msgCredentialScopeRegionInvalid  = "Credential should be scoped to a valid region."
)

// SigV4Error is a failed SigV4 verification. Code is the AWS error code a
// front door returns with status 403 (one of the Code* constants) and
// Message the text AWS would show.
type SigV4Error struct {
	Code, Message string
}

// Error returns the code and the message.
func (e *SigV4Error) Error() string { return e.Code + ": " + e.Message }

// SecretLookup returns the secret access key of an access key id, or false
// when the key is unknown.
type SecretLookup func(accessKeyID string) (secret string, ok bool)

// Credentials are static AWS credentials. SessionToken is set for temporary
// credentials and sent as X-Amz-Security-Token.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKeyID   string
	date          string // yyyymmdd from the credential scope
	region        string
	service       string
	scope         string // date/region/service/aws4_request
	signedHeaders string // as sent: the canonical request repeats it verbatim
	signature     string
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != sigV4Algorithm {
		return a, &SigV4Error{Code: CodeIncompleteSignature, Message: "Authorization header requires the " + sigV4Algorithm + " algorithm."}
	}
	var credential string
	var haveCredential, haveSignedHeaders, haveSignature bool
	for _, field := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return a, &SigV4Error{Code: CodeIncompleteSignature, Message: fmt.Sprintf("Authorization header parameter %q is not a key=value pair.", strings.TrimSpace(field))}
		}
		var dup bool
		switch k {
		case "Credential":
			dup, haveCredential, credential = haveCredential, true, v
		case "SignedHeaders":
			dup, haveSignedHeaders, a.signedHeaders = haveSignedHeaders, true, v
		case "Signature":
			dup, haveSignature, a.signature = haveSignature, true, v
		default:
			return a, &SigV4Error{Code: CodeIncompleteSignature, Message: fmt.Sprintf("Authorization header has an unknown parameter %q.", k)}
		}
		if dup {
			return a, &SigV4Error{Code: CodeIncompleteSignature, Message: fmt.Sprintf("Authorization header repeats the %q parameter.", k)}
		}
	}
	for _, p := range []struct {
		name string
		ok   bool
	}{{"Credential", haveCredential && credential != ""}, {"SignedHeaders", haveSignedHeaders && a.signedHeaders != ""}, {"Signature", haveSignature && a.signature != ""}} {
		if !p.ok {
			return a, &SigV4Error{Code: CodeIncompleteSignature, Message: fmt.Sprintf("Authorization header requires '%s' parameter.", p.name)}
		}
	}
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" || parts[4] != sigV4Terminator {
		return a, &SigV4Error{Code: CodeIncompleteSignature, Message: "Credential must have the form <access key id>/<date>/<region>/<service>/aws4_request."}
	}
	if _, err := time.Parse(scopeDateFormat, parts[1]); err != nil {
		return a, &SigV4Error{Code: CodeIncompleteSignature, Message: fmt.Sprintf("Credential scope date %q is not yyyymmdd.", parts[1])}
	}
	a.accessKeyID, a.date, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
	a.scope = strings.Join(parts[1:], "/")
	return a, nil
}

// VerifySigV4 checks r's Authorization header against body, the request
// body already read in full. It accepts headers signed over HTTP/1.1 (host)
// and over HTTP/2 (the :authority pseudo-header, which maps to r.Host),
// double-encodes the canonical URI as every AWS service but S3 does, and
// hashes the payload itself: an X-Amz-Content-Sha256 header, when present,
// must equal the body's SHA-256, so a signed hash cannot cover another
// body. Requests whose X-Amz-Date is more than 15 minutes from now are
// rejected ("Signature expired"). X-Amz-Security-Token is covered by the
// signature when signed, but lookup alone decides whether the key is known.
// Every region is accepted; CheckSigV4Header can restrict them.
//
// On success it returns the access key id and the credential scope's
// region. Every failure is a *SigV4Error.
func VerifySigV4(r *http.Request, body []byte, lookup SecretLookup, now time.Time) (accessKeyID, region string, err error) {
	h, err := CheckSigV4Header(r, now, nil)
	if err != nil {
		return "", "", err
	}
	// Look the key up only after the request is well formed, so a malformed
	// request never tells a caller whether a key exists.
	secret, ok := lookup(h.a.accessKeyID)
	if !ok {
		return "", "", &SigV4Error{Code: CodeUnrecognizedClient, Message: msgUnrecognizedClient}
	}
	if err := h.VerifyBody(r, body, secret); err != nil {
		return "", "", err
	}
	return h.a.accessKeyID, h.a.region, nil
}

// SigV4Header is a request's SigV4 authorization, checked for everything
// that can be checked before the body arrives: its form, the service and
// region of its scope, its date and the signed headers. A front door checks
// it and looks the access key up first, so an unauthenticated client is
// refused without the gateway waiting for its body.
type SigV4Header struct {
	a       authorization
	amzDate string
	signed  []string
	query   string
	// claimedHash is the X-Amz-Content-Sha256 header, lowercased, when it
	// is a SHA-256 in hex; "" otherwise.
	claimedHash string
}

// AccessKeyID is the access key id the request was signed with.
func (h *SigV4Header) AccessKeyID() string { return h.a.accessKeyID }

// Region is the region of the signature's credential scope.
func (h *SigV4Header) Region() string { return h.a.region }

// CheckSigV4Header checks r's Authorization header and X-Amz-Date without
// the body. regionAllowed, when not nil, decides which credential-scope
// regions the verifier answers for: a signature for another region is an
// InvalidSignatureException ("Credential should be scoped to a valid
// region."), as AWS returns for a request signed for the wrong regional
// endpoint. Every failure is a *SigV4Error.
func CheckSigV4Header(r *http.Request, now time.Time, regionAllowed func(string) bool) (*SigV4Header, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, &SigV4Error{Code: CodeMissingAuthenticationToken, Message: msgMissingAuthenticationToken}
	}
	a, err := parseAuthorization(h)
	if err != nil {
		return nil, err
	}
	if a.service != signingService {
		return nil, &SigV4Error{Code: CodeInvalidSignature, Message: msgCredentialScopeServiceInvalid}
	}
	if regionAllowed != nil && !regionAllowed(a.region) {
		return nil, &SigV4Error{Code: CodeInvalidSignature, Message: msgCredentialScopeRegionInvalid}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return nil, &SigV4Error{Code: CodeIncompleteSignature, Message: msgMissingDate}
	}
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return nil, &SigV4Error{Code: CodeIncompleteSignature, Message: fmt.Sprintf("X-Amz-Date %q must be in the ISO-8601 basic format yyyyMMdd'T'HHmmss'Z'.", amzDate)}
	}
	if amzDate[:8] != a.date {
		return nil, &SigV4Error{Code: CodeInvalidSignature, Message: fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, amzDate[:8], amzDate)}
	}
	now = now.UTC()
	if t.Before(now.Add(-maxClockSkew)) {
		return nil, &SigV4Error{Code: CodeInvalidSignature, Message: fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-maxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat))}
	}
	if t.After(now.Add(maxClockSkew)) {
		return nil, &SigV4Error{Code: CodeInvalidSignature, Message: fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(maxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat))}
	}
	signed := strings.Split(a.signedHeaders, ";")
	hostSigned := false
	for _, name := range signed {
		if name == "host" || name == ":authority" {
			hostSigned = true
		}
	}
	if !hostSigned {
		return nil, &SigV4Error{Code: CodeInvalidSignature, Message: msgHostNotSigned}
	}
	query, err := canonicalQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &SigV4Error{Code: CodeIncompleteSignature, Message: "The query string is malformed."}
	}
	out := &SigV4Header{a: a, amzDate: amzDate, signed: signed, query: query}
	if v := strings.ToLower(r.Header.Get("X-Amz-Content-Sha256")); len(v) == sha256.Size*2 {
		if _, err := hex.DecodeString(v); err == nil {
			out.claimedHash = v
		}
	}
	return out, nil
}

// VerifyClaimedHash checks the signature against the payload hash the
// client sent in X-Amz-Content-Sha256, before the body is read. ok is false
// when the request has no such header; then only VerifyBody can decide.
// A nil error with ok true proves the client holds secret; VerifyBody must
// still check that the body matches the hash.
func (h *SigV4Header) VerifyClaimedHash(r *http.Request, secret string) (ok bool, err error) {
	if h.claimedHash == "" || r.ContentLength < 0 {
		return false, nil
	}
	return true, h.verify(r, h.claimedHash, int(r.ContentLength), secret)
}

// VerifyBody checks the signature over body, the request body read in
// full. An X-Amz-Content-Sha256 header, when present, must equal the
// body's SHA-256, so a signed hash cannot cover another body.
func (h *SigV4Header) VerifyBody(r *http.Request, body []byte, secret string) error {
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if v := r.Header.Get("X-Amz-Content-Sha256"); v != "" && !strings.EqualFold(v, payloadHash) {
		return &SigV4Error{Code: CodeInvalidSignature, Message: msgContentSHA256Mismatch}
	}
	return h.verify(r, payloadHash, len(body), secret)
}

func (h *SigV4Header) verify(r *http.Request, payloadHash string, bodyLen int, secret string) error {
	var cr strings.Builder
	cr.WriteString(r.Method)
	cr.WriteByte('\n')
	cr.WriteString(escapeURIPath(wirePath(r)))
	cr.WriteByte('\n')
	cr.WriteString(h.query)
	cr.WriteByte('\n')
	for _, name := range h.signed {
		cr.WriteString(name)
		cr.WriteByte(':')
		cr.WriteString(canonicalHeaderValue(r, name, bodyLen))
		cr.WriteByte('\n')
	}
	cr.WriteByte('\n')
	cr.WriteString(h.a.signedHeaders)
	cr.WriteByte('\n')
	cr.WriteString(payloadHash)

	crSum := sha256.Sum256([]byte(cr.String()))
	stringToSign := sigV4Algorithm + "\n" + h.amzDate + "\n" + h.a.scope + "\n" + hex.EncodeToString(crSum[:])
	key := hmacSHA256([]byte("AWS4"+secret), h.a.date)
	key = hmacSHA256(key, h.a.region)
	key = hmacSHA256(key, h.a.service)
	key = hmacSHA256(key, sigV4Terminator)
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(h.a.signature))) {
		return &SigV4Error{Code: CodeInvalidSignature, Message: msgSignatureMismatch}
	}
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// wirePath returns the request path exactly as the client sent it, still
// percent-encoded: the signature covers those bytes, not a decoded form.
func wirePath(r *http.Request) string {
	p := r.RequestURI
	if strings.HasPrefix(p, "/") {
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return p
	}
	if p = r.URL.EscapedPath(); p == "" {
		return "/"
	}
	return p
}

// escapeURIPath percent-encodes every byte of p but the RFC 3986 unreserved
// characters and '/'. Applied to the already-encoded wire path this is the
// double encoding non-S3 services use: ":" is sent as %3A and signed as %253A.
func escapeURIPath(p string) string {
	return escapeBytes(p, false)
}

// escapeLabel percent-encodes a path segment the way the AWS SDKs encode
// HTTP labels such as the model id: everything outside the unreserved set,
// including ':' and '/', is escaped.
func escapeLabel(s string) string {
	return escapeBytes(s, true)
}

func escapeBytes(s string, escapeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (c == '/' && !escapeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// canonicalQuery decodes a raw query and re-encodes it the SigV4 way: each
// name and value escaped (space as %20), pairs sorted after encoding.
func canonicalQuery(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return "", err
	}
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(vals))
	for k, vs := range vals {
		ek := escapeLabel(k)
		for _, v := range vs {
			pairs = append(pairs, pair{ek, escapeLabel(v)})
		}
	}
	// Sort by encoded name, then value: sorting "name=value" strings would
	// put "a-b=" before "a=", which AWS does not.
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String(), nil
}

// canonicalHeaderValue returns the canonical value of one signed header:
// each value trimmed with runs of spaces collapsed, several values joined
// by commas. net/http moves Host and Content-Length out of r.Header, and
// HTTP/2 clients sign the :authority pseudo-header for the host.
func canonicalHeaderValue(r *http.Request, name string, bodyLen int) string {
	switch name {
	case "host", ":authority":
		return collapseSpaces(r.Host)
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return collapseSpaces(v)
		}
		if r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
		return strconv.Itoa(bodyLen)
	}
	vs := r.Header.Values(name)
	if len(vs) == 1 {
		return collapseSpaces(vs[0])
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = collapseSpaces(v)
	}
	return strings.Join(out, ",")
}

// collapseSpaces trims spaces and turns each run of inner spaces into one.
func collapseSpaces(s string) string {
	s = strings.Trim(s, " ")
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// SignRequest signs an outgoing request with SigV4 for service "bedrock"
// in region, at time now. It sets r's body to body (so the bytes sent are
// the bytes signed) and replaces any earlier signature, so a retried
// request can be signed again. Headers set on r before the call are
// signed, except the few AWS never signs (User-Agent, ...); headers the
// transport adds later are not.
func SignRequest(ctx context.Context, r *http.Request, body []byte, creds Credentials, region string, now time.Time) error {
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return fmt.Errorf("signing request: missing access key id or secret")
	}
	r.ContentLength = int64(len(body))
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	if len(body) == 0 {
		r.Body = http.NoBody
	}
	r.Header.Del("Authorization")
	r.Header.Del("X-Amz-Date")
	r.Header.Del("X-Amz-Security-Token")
	sum := sha256.Sum256(body)
	ac := aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}
	if err := v4.NewSigner().SignHTTP(ctx, ac, r, hex.EncodeToString(sum[:]), signingService, region, now); err != nil {
		return fmt.Errorf("signing request: %w", err)
	}
	return nil
}
