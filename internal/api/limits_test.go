package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	openaisdk "github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"

	"switchyard/internal/admin"
	"switchyard/internal/ratelimit"
	"switchyard/internal/store"
)

// limitDoor asks one question through a front door with its official SDK.
// retries is how many times the SDK may retry on its own. It returns the
// error (nil when answered) and the headers of the last answer.
type limitDoor struct {
	name string
	ask  func(t *testing.T, url string, key *admin.Issued, stream bool, retries int) (http.Header, error)
	// check inspects the SDK's error for a refusal; budget says which.
	check func(t *testing.T, err error, budget bool)
}

var limitDoors = []limitDoor{
	{"openai_chat", askLimitOpenAI, checkLimitOpenAI},
	{"anthropic_messages", askLimitAnthropic, checkLimitAnthropic},
	{"bedrock_converse", askLimitBedrock, checkLimitBedrock},
	{"gemini_generate", askLimitGemini, checkLimitGemini},
}

func askLimitOpenAI(t *testing.T, url string, key *admin.Issued, stream bool, retries int) (http.Header, error) {
	t.Helper()
	c := openaisdk.NewClient(openaioption.WithBaseURL(url+"/v1"), openaioption.WithAPIKey(key.Secret), openaioption.WithMaxRetries(retries))
	params := openaisdk.ChatCompletionNewParams{Model: "via-openai", Messages: []openaisdk.ChatCompletionMessageParamUnion{openaisdk.UserMessage("Hello")}}
	var raw *http.Response
	var err error
	if stream {
		s := c.Chat.Completions.NewStreaming(context.Background(), params, openaioption.WithResponseInto(&raw))
		for s.Next() {
		}
		err = s.Err()
		s.Close()
	} else {
		_, err = c.Chat.Completions.New(context.Background(), params, openaioption.WithResponseInto(&raw))
	}
	var e *openaisdk.Error
	if errors.As(err, &e) {
		return e.Response.Header, err
	}
	if raw == nil {
		t.Fatalf("no answer: %v", err)
	}
	return raw.Header, err
}

func checkLimitOpenAI(t *testing.T, err error, budget bool) {
	t.Helper()
	var e *openaisdk.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an openai.Error", err, err)
	}
	// OpenAI's own types: what ran out (an RPM limit here), or the quota.
	typ, code := "requests", "rate_limit_exceeded"
	if budget {
		typ, code = "insufficient_quota", "budget_exceeded"
	}
	if e.StatusCode != http.StatusTooManyRequests || e.Type != typ || e.Code != code || e.Message == "" {
		t.Errorf("error %d type %q code %q message %q, want 429 %s %s", e.StatusCode, e.Type, e.Code, e.Message, typ, code)
	}
}

func askLimitAnthropic(t *testing.T, url string, key *admin.Issued, stream bool, retries int) (http.Header, error) {
	t.Helper()
	c := anthropic.NewClient(anthropicoption.WithoutEnvironmentDefaults(), anthropicoption.WithBaseURL(url),
		anthropicoption.WithAPIKey(key.Secret), anthropicoption.WithMaxRetries(retries))
	params := anthropic.MessageNewParams{Model: "via-openai", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))}}
	var raw *http.Response
	var err error
	if stream {
		s := c.Messages.NewStreaming(context.Background(), params, anthropicoption.WithResponseInto(&raw))
		for s.Next() {
		}
		err = s.Err()
		s.Close()
	} else {
		_, err = c.Messages.New(context.Background(), params, anthropicoption.WithResponseInto(&raw))
	}
	var e *anthropic.Error
	if errors.As(err, &e) {
		return e.Response.Header, err
	}
	if raw == nil {
		t.Fatalf("no answer: %v", err)
	}
	return raw.Header, err
}

func checkLimitAnthropic(t *testing.T, err error, budget bool) {
	t.Helper()
	var e *anthropic.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an anthropic.Error", err, err)
	}
	if e.StatusCode != http.StatusTooManyRequests || e.Type() != "rate_limit_error" || e.RequestID == "" {
		t.Errorf("error %d type %q request id %q, want 429 rate_limit_error with a request id", e.StatusCode, e.Type(), e.RequestID)
	}
	word := "Rate limit"
	if budget {
		word = "budget"
	}
	if !strings.Contains(e.RawJSON(), word) {
		t.Errorf("error body %s does not say %q", e.RawJSON(), word)
	}
}

func askLimitBedrock(t *testing.T, url string, key *admin.Issued, stream bool, retries int) (http.Header, error) {
	t.Helper()
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(key.AWSAccessKeyID, key.AWSSecretAccessKey, ""),
		Retryer: func() aws.Retryer {
			if retries == 0 {
				return aws.NopRetryer{}
			}
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = retries + 1 })
		},
	}
	c := bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(url) })
	msgs := []types.Message{userMessage("Hello")}
	var md struct{ raw *http.Response }
	var err error
	if stream {
		var out *bedrockruntime.ConverseStreamOutput
		out, err = c.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String("via-openai"), Messages: msgs})
		if err == nil {
			s := out.GetStream()
			for range s.Events() {
			}
			err = s.Err()
			s.Close()
			md.raw = rawResponse(out.ResultMetadata)
		}
	} else {
		var out *bedrockruntime.ConverseOutput
		out, err = c.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String("via-openai"), Messages: msgs})
		if err == nil {
			md.raw = rawResponse(out.ResultMetadata)
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.Response.Header, err
	}
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if md.raw == nil {
		t.Fatal("no raw response in the result metadata")
	}
	return md.raw.Header, nil
}

// rawResponse is the HTTP answer behind an AWS SDK result.
func rawResponse(md middleware.Metadata) *http.Response {
	if r, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok {
		return r.Response
	}
	return nil
}

func checkLimitBedrock(t *testing.T, err error, budget bool) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an AWS API error", err, err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusTooManyRequests {
		t.Errorf("error %v, want HTTP 429", err)
	}
	// A spent budget is a quota, which AWS SDKs do not retry; a rate limit
	// is throttling, which they do.
	if budget {
		var qe *types.ServiceQuotaExceededException
		if !errors.As(err, &qe) || !strings.Contains(qe.ErrorMessage(), "budget") {
			t.Errorf("error %v (%s), want a ServiceQuotaExceededException about the budget", err, ae.ErrorCode())
		}
		return
	}
	var te *types.ThrottlingException
	if !errors.As(err, &te) || te.ErrorMessage() == "" {
		t.Errorf("error %v (%s), want a ThrottlingException", err, ae.ErrorCode())
	}
}

// countingServer serves h's front door on a socket of its own and counts
// the requests that reach it, retries included.
func countingServer(t *testing.T, h *harness) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.handler.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL, &n
}

// noUpstream checks that the simulated clouds got no request.
func noUpstream(t *testing.T, h *harness) {
	t.Helper()
	time.Sleep(50 * time.Millisecond) // a cloud records a request when its handler returns
	if recs := h.cloud.Records(); len(recs) != 0 {
		t.Errorf("clouds received %d requests after the refusal: %+v", len(recs), recs)
	}
}

// TestLimits_RateLimit drives every front door into a key's RPM limit: the
// second request is refused with 429 in the client's dialect, retry-after
// and x-ratelimit-* headers (Anthropic clients also get the API's
// anthropic-ratelimit-* ones), before any upstream call.
func TestLimits_RateLimit(t *testing.T) {
	for _, door := range limitDoors {
		for _, stream := range []bool{false, true} {
			name := door.name
			if stream {
				name += "_stream"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t)
				key := h.issue(t, admin.KeySpec{Tenant: "acme", Name: "rpm", Limits: admin.Limits{RPM: 1}})
				url, _ := countingServer(t, h)
				hdr, err := door.ask(t, url, key, false, 0)
				if err != nil {
					t.Fatalf("first request: %v", err)
				}
				if got := hdr.Get("X-Ratelimit-Remaining-Requests"); got != "0" {
					t.Errorf("first answer: x-ratelimit-remaining-requests %q, want 0", got)
				}
				h.records(t, 1)

				hdr, err = door.ask(t, url, key, stream, 0)
				door.check(t, err, false)
				if got := hdr.Get("X-Ratelimit-Limit-Requests"); got != "1" {
					t.Errorf("x-ratelimit-limit-requests %q, want 1", got)
				}
				if got := hdr.Get("X-Ratelimit-Remaining-Requests"); got != "0" {
					t.Errorf("x-ratelimit-remaining-requests %q, want 0", got)
				}
				if reset, err := time.ParseDuration(hdr.Get("X-Ratelimit-Reset-Requests")); err != nil || reset <= 0 || reset > time.Minute {
					t.Errorf("x-ratelimit-reset-requests %q, want a duration within a minute", hdr.Get("X-Ratelimit-Reset-Requests"))
				}
				if secs, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || secs <= 0 || secs > 60 {
					t.Errorf("retry-after %q, want 1-60 seconds", hdr.Get("Retry-After"))
				}
				if hdr.Get("X-Should-Retry") != "" {
					t.Errorf("x-should-retry %q on a rate limit, which a retry can pass", hdr.Get("X-Should-Retry"))
				}
				// Anthropic clients also get the API's own headers, and
				// only they do.
				anthropicHeaders := door.name == "anthropic_messages"
				if got := hdr.Get("Anthropic-Ratelimit-Requests-Limit"); (got == "1") != anthropicHeaders {
					t.Errorf("anthropic-ratelimit-requests-limit %q", got)
				}
				if anthropicHeaders {
					reset, err := time.Parse(time.RFC3339, hdr.Get("Anthropic-Ratelimit-Requests-Reset"))
					if err != nil || reset.Before(time.Now().Add(-time.Second)) || reset.After(time.Now().Add(time.Minute+time.Second)) {
						t.Errorf("anthropic-ratelimit-requests-reset %q, want a time within a minute", hdr.Get("Anthropic-Ratelimit-Requests-Reset"))
					}
					if got := hdr.Get("Anthropic-Ratelimit-Requests-Remaining"); got != "0" {
						t.Errorf("anthropic-ratelimit-requests-remaining %q, want 0", got)
					}
				}
				noUpstream(t, h)
			})
		}
	}
}

// TestLimits_Budget drives every front door into a key's spent daily
// budget: the request is refused with 429 and the code budget_exceeded
// where the dialect has codes, x-should-retry: false and a retry-after at
// the end of the day; SDKs allowed to retry do not, and no upstream call
// is made.
func TestLimits_Budget(t *testing.T) {
	for _, door := range limitDoors {
		for _, stream := range []bool{false, true} {
			name := door.name
			if stream {
				name += "_stream"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t)
				key := h.issue(t, admin.KeySpec{Tenant: "acme", Name: "budget",
					Limits: admin.Limits{BudgetUSD: 0.5, BudgetPeriod: store.PeriodDay}})
				// The ledger already holds today's spend, more than the budget.
				if err := h.store.InsertUsage(context.Background(), []store.UsageRecord{{RequestID: "req_spent",
					TenantID: key.Key.TenantID, KeyID: key.Key.ID, Model: "via-openai", Provider: chanOpenAI, Dialect: "openai",
					Endpoint: "chat", Traffic: "stateless", Status: http.StatusOK, CostUSD: 0.75, CreatedAt: time.Now()}}); err != nil {
					t.Fatal(err)
				}
				url, reached := countingServer(t, h)
				hdr, err := door.ask(t, url, key, stream, 2)
				now := time.Now()
				door.check(t, err, true)
				if n := reached.Load(); n != 1 {
					t.Errorf("the SDK sent %d requests, want 1 (no retries)", n)
				}
				if got := hdr.Get("X-Should-Retry"); got != "false" {
					t.Errorf("x-should-retry %q, want false", got)
				}
				want := ratelimit.PeriodEnd(now, ratelimit.PeriodDay).Sub(now)
				secs, err := strconv.Atoi(hdr.Get("Retry-After"))
				if got := time.Duration(secs) * time.Second; err != nil || got < want-5*time.Second || got > want+5*time.Second {
					t.Errorf("retry-after %q, want about %v (the end of the day)", hdr.Get("Retry-After"), want.Round(time.Second))
				}
				noUpstream(t, h)
			})
		}
	}
}
