package bedrock

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
)

// capturedRequest is what a server saw of one request.
type capturedRequest struct {
	method, requestURI, host string
	header                   http.Header
	body                     []byte
	proto                    int
}

func (c capturedRequest) request() *http.Request {
	r := httptest.NewRequest(c.method, c.requestURI, bytes.NewReader(c.body))
	r.Host = c.host
	r.Header = c.header.Clone()
	return r
}

// sigV4Server verifies every request with VerifySigV4 and answers like
// Bedrock: a Converse JSON body on success, a 403 with the AWS error code
// otherwise. It records what it saw.
type sigV4Server struct {
	mu       sync.Mutex
	captured []capturedRequest
	results  []error
	ids      []string
	regions  []string
}

func (s *sigV4Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, region, verr := VerifySigV4(r, body, testLookup, time.Now())
	s.mu.Lock()
	s.captured = append(s.captured, capturedRequest{r.Method, r.RequestURI, r.Host, r.Header.Clone(), body, r.ProtoMajor})
	s.results = append(s.results, verr)
	s.ids = append(s.ids, id)
	s.regions = append(s.regions, region)
	s.mu.Unlock()
	if verr != nil {
		var se *SigV4Error
		errors.As(verr, &se)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", se.Code+":http://internal.amazon.com/coral/com.amazon.coral.service/")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"message":"`+se.Message+`"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":1}}`)
}

func (s *sigV4Server) last() (capturedRequest, error, string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := len(s.captured) - 1
	return s.captured[i], s.results[i], s.ids[i], s.regions[i]
}

func sdkConverse(t *testing.T, c *bedrockruntime.Client, modelID string) error {
	t.Helper()
	_, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{
		ModelId: aws.String(modelID),
		Messages: []types.Message{{
			Role:    types.ConversationRoleUser,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "Hello, world: ünïcode & spaces"}},
		}},
	})
	return err
}

func TestVerifySigV4_SDKClient(t *testing.T) {
	const (
		haiku   = "anthropic.claude-3-haiku-20240307-v1:0"
		profile = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
		arn     = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0"
	)
	for _, tc := range []struct {
		name        string
		modelID     string
		accessKeyID string
		secret      string
		wantPath    string
		wantCode    string
	}{
		{"model_id_with_colon", haiku, testAccessKeyID, testSecret, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", ""},
		{"inference_profile", profile, testAccessKeyID, testSecret, "/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", ""},
		{"arn_with_slash", arn, testAccessKeyID, testSecret,
			"/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", ""},
		{"wrong_secret", haiku, testAccessKeyID, testSecret + "x", "", CodeInvalidSignature},
		{"unknown_key", haiku, "AKIDUNKNOWN", testSecret, "", CodeUnrecognizedClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sigV4Server{}
			srv := httptest.NewServer(s)
			defer srv.Close()
			err := sdkConverse(t, newSDKClient(t, srv.URL, srv.Client(), tc.accessKeyID, tc.secret), tc.modelID)
			got, verr, id, region := s.last()
			if got.proto != 1 {
				t.Errorf("request used HTTP/%d, want HTTP/1.1", got.proto)
			}
			if tc.wantCode == "" {
				if err != nil || verr != nil {
					t.Fatalf("Converse error = %v, VerifySigV4 error = %v, want success", err, verr)
				}
				if id != testAccessKeyID || region != testRegion {
					t.Errorf("VerifySigV4 = (%q, %q), want (%q, %q)", id, region, testAccessKeyID, testRegion)
				}
				if got.requestURI != tc.wantPath {
					t.Errorf("wire path = %q, want %q", got.requestURI, tc.wantPath)
				}
				return
			}
			var se *SigV4Error
			if !errors.As(verr, &se) || se.Code != tc.wantCode {
				t.Fatalf("VerifySigV4 error = %v, want code %s", verr, tc.wantCode)
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.wantCode {
				t.Errorf("SDK error = %v, want API error %s", err, tc.wantCode)
			}
		})
	}
}

// TestVerifySigV4_Replay alters one request signed by the real SDK in each
// way a verifier must notice.
func TestVerifySigV4_Replay(t *testing.T) {
	s := &sigV4Server{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	if err := sdkConverse(t, newSDKClient(t, srv.URL, srv.Client(), testAccessKeyID, testSecret), "anthropic.claude-3-haiku-20240307-v1:0"); err != nil {
		t.Fatal(err)
	}
	signed, _, _, _ := s.last()
	signedAt, err := time.Parse(amzDateFormat, signed.header.Get("X-Amz-Date"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		edit     func(c *capturedRequest)
		now      time.Time
		wantCode string
		wantMsg  string
	}{
		{name: "valid", edit: func(*capturedRequest) {}},
		{name: "within_skew", edit: func(*capturedRequest) {}, now: signedAt.Add(14 * time.Minute)},
		{name: "tampered_body", edit: func(c *capturedRequest) { c.body = bytes.Replace(c.body, []byte("Hello"), []byte("Jello"), 1) },
			wantCode: CodeInvalidSignature, wantMsg: "does not match"},
		{name: "tampered_signed_header", edit: func(c *capturedRequest) { c.header.Set("Content-Type", "text/plain") },
			wantCode: CodeInvalidSignature},
		{name: "other_host", edit: func(c *capturedRequest) { c.host = "evil.example:443" }, wantCode: CodeInvalidSignature},
		{name: "single_encoded_path", edit: func(c *capturedRequest) { c.requestURI = strings.ReplaceAll(c.requestURI, "%3A", ":") },
			wantCode: CodeInvalidSignature},
		{name: "query_added", edit: func(c *capturedRequest) { c.requestURI += "?x=1" }, wantCode: CodeInvalidSignature},
		{name: "content_sha256_mismatch", edit: func(c *capturedRequest) { c.header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") },
			wantCode: CodeInvalidSignature, wantMsg: "x-amz-content-sha256"},
		{name: "expired", edit: func(*capturedRequest) {}, now: signedAt.Add(16 * time.Minute),
			wantCode: CodeInvalidSignature, wantMsg: "Signature expired"},
		{name: "not_yet_current", edit: func(*capturedRequest) {}, now: signedAt.Add(-16 * time.Minute),
			wantCode: CodeInvalidSignature, wantMsg: "not yet current"},
		{name: "missing_authorization", edit: func(c *capturedRequest) { c.header.Del("Authorization") },
			wantCode: CodeMissingAuthenticationToken},
		{name: "missing_date", edit: func(c *capturedRequest) { c.header.Del("X-Amz-Date") }, wantCode: CodeIncompleteSignature},
		{name: "date_outside_scope", edit: func(c *capturedRequest) {
			c.header.Set("X-Amz-Date", signedAt.Add(-24*time.Hour).Format(amzDateFormat))
		}, now: signedAt.Add(-24 * time.Hour), wantCode: CodeInvalidSignature, wantMsg: "Credential scope"},
		{name: "wrong_service", edit: func(c *capturedRequest) {
			c.header.Set("Authorization", strings.Replace(c.header.Get("Authorization"), "/bedrock/", "/s3/", 1))
		}, wantCode: CodeInvalidSignature, wantMsg: "bedrock"},
		{name: "host_not_signed", edit: func(c *capturedRequest) {
			c.header.Set("Authorization", strings.Replace(c.header.Get("Authorization"), "host;", "", 1))
		}, wantCode: CodeInvalidSignature, wantMsg: "Host"},
		{name: "other_region_in_scope", edit: func(c *capturedRequest) {
			c.header.Set("Authorization", strings.Replace(c.header.Get("Authorization"), "/"+testRegion+"/", "/eu-west-1/", 1))
		}, wantCode: CodeInvalidSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := signed
			c.header = signed.header.Clone()
			c.body = bytes.Clone(signed.body)
			tc.edit(&c)
			now := tc.now
			if now.IsZero() {
				now = signedAt
			}
			id, region, err := VerifySigV4(c.request(), c.body, testLookup, now)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("VerifySigV4: %v", err)
				}
				if id != testAccessKeyID || region != testRegion {
					t.Errorf("VerifySigV4 = (%q, %q)", id, region)
				}
				return
			}
			var se *SigV4Error
			if !errors.As(err, &se) || se.Code != tc.wantCode || !strings.Contains(se.Message, tc.wantMsg) {
				t.Fatalf("VerifySigV4 error = %v, want %s containing %q", err, tc.wantCode, tc.wantMsg)
			}
		})
	}
}

// refSign signs a request the way the AWS JavaScript SDK does over HTTP/2,
// spelled out step by step from the SigV4 specification rather than with
// this package's code: the signed header list starts with :authority.
func refSign(r *http.Request, body []byte, now time.Time) {
	amzDate := now.UTC().Format("20060102T150405Z")
	day := amzDate[:8]
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Amz-Sdk-Invocation-Id", "0b4a8c2e-1f3d-4e5a-9b6c-7d8e9f0a1b2c")
	r.Header.Set("Amz-Sdk-Request", "attempt=1;  max=1")
	r.Header.Set("X-Amz-Content-Sha256", payloadHash)
	r.Header.Set("X-Amz-Date", amzDate)
	r.Header.Set("X-Amz-User-Agent", "aws-sdk-js/3.1164.0")
	signedHeaders := ":authority;amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;x-amz-content-sha256;x-amz-date;x-amz-user-agent"
	canonical := "POST\n" +
		"/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n" +
		"\n" +
		":authority:" + r.Host + "\n" +
		"amz-sdk-invocation-id:0b4a8c2e-1f3d-4e5a-9b6c-7d8e9f0a1b2c\n" +
		"amz-sdk-request:attempt=1; max=1\n" +
		"content-length:" + strconv.Itoa(len(body)) + "\n" +
		"content-type:application/json\n" +
		"x-amz-content-sha256:" + payloadHash + "\n" +
		"x-amz-date:" + amzDate + "\n" +
		"x-amz-user-agent:aws-sdk-js/3.1164.0\n" +
		"\n" +
		signedHeaders + "\n" +
		payloadHash
	crSum := sha256.Sum256([]byte(canonical))
	scope := day + "/" + testRegion + "/bedrock/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crSum[:])
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	key := mac(mac(mac(mac([]byte("AWS4"+testSecret), day), testRegion), "bedrock"), "aws4_request")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAccessKeyID+"/"+scope+
		", SignedHeaders="+signedHeaders+", Signature="+hex.EncodeToString(mac(key, toSign)))
}

func TestVerifySigV4_HTTP2Authority(t *testing.T) {
	s := &sigV4Server{}
	srv := httptest.NewUnstartedServer(s)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()

	body := []byte(`{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}`)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	refSign(req, body, time.Now())
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got, verr, id, region := s.last()
	if got.proto != 2 {
		t.Fatalf("request used HTTP/%d, want HTTP/2", got.proto)
	}
	if verr != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("VerifySigV4 error = %v, status %d", verr, resp.StatusCode)
	}
	if id != testAccessKeyID || region != testRegion {
		t.Errorf("VerifySigV4 = (%q, %q)", id, region)
	}
}

func TestSignRequest_VerifiesAndResigns(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"messages":[]}`)
	u := "https://bedrock-runtime.us-west-2.amazonaws.com/model/" + escapeLabel("arn:aws:bedrock:us-west-2:1:inference-profile/x") + "/converse-stream"
	req, err := http.NewRequest(http.MethodPost, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	creds := Credentials{AccessKeyID: testAccessKeyID, SecretAccessKey: testSecret, SessionToken: "session"}
	for i := range 2 { // the second round re-signs, as a retry does
		at := now.Add(time.Duration(i) * time.Minute)
		if err := SignRequest(context.Background(), req, body, creds, testRegion, at); err != nil {
			t.Fatal(err)
		}
		if n := len(req.Header.Values("Authorization")); n != 1 {
			t.Fatalf("%d Authorization headers after signing", n)
		}
		if got := req.Header.Get("X-Amz-Security-Token"); got != "session" {
			t.Errorf("X-Amz-Security-Token = %q", got)
		}
		// Replay what the client would put on the wire.
		in := httptest.NewRequest(req.Method, req.URL.RequestURI(), bytes.NewReader(body))
		in.Host = req.URL.Host
		in.Header = req.Header.Clone()
		in.Header.Set("Content-Length", strconv.Itoa(len(body)))
		if _, _, err := VerifySigV4(in, body, testLookup, at); err != nil {
			t.Fatalf("round %d: VerifySigV4: %v", i, err)
		}
		sent, err := io.ReadAll(req.Body)
		if err != nil || !bytes.Equal(sent, body) {
			t.Fatalf("request body = %q, %v", sent, err)
		}
	}
	if err := SignRequest(context.Background(), req, body, Credentials{}, testRegion, now); err == nil {
		t.Error("SignRequest with empty credentials succeeded")
	}
}

func TestParseAuthorization(t *testing.T) {
	const good = "AWS4-HMAC-SHA256 Credential=AKID/20250301/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
	a, err := parseAuthorization(good)
	if err != nil {
		t.Fatal(err)
	}
	want := authorization{accessKeyID: "AKID", date: "20250301", region: "us-east-1", service: "bedrock",
		scope: "20250301/us-east-1/bedrock/aws4_request", signedHeaders: "host;x-amz-date", signature: "abc"}
	if a != want {
		t.Errorf("parseAuthorization = %+v, want %+v", a, want)
	}
	for _, tc := range []struct{ name, in string }{
		{"bearer", "Bearer abc"},
		{"other_algorithm", "AWS4-ECDSA-P256-SHA256 Credential=a/20250301/r/bedrock/aws4_request, SignedHeaders=host, Signature=a"},
		{"no_credential", "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc"},
		{"empty_signature", "AWS4-HMAC-SHA256 Credential=AKID/20250301/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature="},
		{"no_equals", "AWS4-HMAC-SHA256 Credential=AKID/20250301/us-east-1/bedrock/aws4_request, SignedHeaders, Signature=a"},
		{"unknown_param", good + ", Extra=1"},
		{"repeated_param", good + ", Signature=def"},
		{"short_scope", "AWS4-HMAC-SHA256 Credential=AKID/20250301/us-east-1/aws4_request, SignedHeaders=host, Signature=a"},
		{"bad_terminator", "AWS4-HMAC-SHA256 Credential=AKID/20250301/us-east-1/bedrock/aws5_request, SignedHeaders=host, Signature=a"},
		{"bad_date", "AWS4-HMAC-SHA256 Credential=AKID/2025-03-01/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=a"},
		{"empty_key", "AWS4-HMAC-SHA256 Credential=/20250301/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseAuthorization(tc.in)
			var se *SigV4Error
			if !errors.As(err, &se) || se.Code != CodeIncompleteSignature {
				t.Errorf("parseAuthorization(%q) error = %v, want %s", tc.in, err, CodeIncompleteSignature)
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"b=2&a=1", "a=1&b=2"},
		{"a-b=1&a=2", "a=2&a-b=1"},         // sorted by name, not by "name=value"
		{"x=a-b&x=a%2Fb", "x=a%2Fb&x=a-b"}, // sorted after encoding: % before -
		{"q=hello+world", "q=hello%20world"},
		{"k", "k="},
	} {
		got, err := canonicalQuery(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("canonicalQuery(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func FuzzVerifySigV4(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDSWITCHYARDTEST/20250301/us-west-2/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20250301T120000Z", "/model/a%3Ab/converse", "a=1")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;;, Signature==", "", "", "%zz")
	f.Add("AWS4-HMAC-SHA256 ,,,", "x", "*", "")
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, authz, amzDate, uri, rawQuery string) {
		r := &http.Request{
			Method:     http.MethodPost,
			URL:        &url.URL{Path: "/model/x/converse", RawQuery: rawQuery},
			RequestURI: uri,
			Host:       "bedrock.test",
			Header:     http.Header{"Authorization": {authz}, "X-Amz-Date": {amzDate}},
		}
		_, _, err := VerifySigV4(r, []byte("{}"), testLookup, now)
		if err == nil {
			t.Fatalf("random Authorization %q verified", authz)
		}
		var se *SigV4Error
		if !errors.As(err, &se) || se.Code == "" || se.Message == "" {
			t.Fatalf("error %v is not a complete *SigV4Error", err)
		}
	})
}
