package app

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// sdkStatus is what one official SDK got from a replica: the HTTP status
// (200 on success) and, on failure, the error's type or code.
type sdkStatus struct {
	status int
	code   string
}

func openaiCall(base, key string) sdkStatus {
	c := openai.NewClient(option.WithBaseURL("http://"+base+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var e *openai.Error
	switch {
	case err == nil:
		return sdkStatus{status: 200}
	case errors.As(err, &e):
		return sdkStatus{status: e.StatusCode, code: e.Type + "/" + e.Code}
	}
	return sdkStatus{code: err.Error()}
}

func anthropicCall(base, key string) sdkStatus {
	c := anthropic.NewClient(anthropicoption.WithBaseURL("http://"+base), anthropicoption.WithAPIKey(key), anthropicoption.WithMaxRetries(0))
	_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 50,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	var e *anthropic.Error
	switch {
	case err == nil:
		return sdkStatus{status: 200}
	case errors.As(err, &e):
		return sdkStatus{status: e.StatusCode, code: gjsonType(e.RawJSON())}
	}
	return sdkStatus{code: err.Error()}
}

// gjsonType pulls error.type out of an Anthropic error body.
func gjsonType(raw string) string {
	const marker = `"type":"`
	i := strings.LastIndex(raw, marker)
	if i < 0 {
		return raw
	}
	rest := raw[i+len(marker):]
	return rest[:max(strings.IndexByte(rest, '"'), 0)]
}

func bedrockCall(base, akid, secret string) sdkStatus {
	c := bedrockruntime.NewFromConfig(aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} }},
		func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String("http://" + base) })
	_, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String("gpt-4o-mini"),
		Messages: []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "hi"}}}}})
	if err == nil {
		return sdkStatus{status: 200}
	}
	var re *awshttp.ResponseError
	var ae smithy.APIError
	out := sdkStatus{code: err.Error()}
	if errors.As(err, &re) {
		out.status = re.HTTPStatusCode()
	}
	if errors.As(err, &ae) {
		out.code = ae.ErrorCode()
	}
	return out
}

// replicaAdmin calls a replica's admin API, decoding the answer into out
// when it is not nil.
func replicaAdmin(t *testing.T, r *replica, method, path, body string, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+r.admin+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer admin-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplicas_KeyHygiene runs two gateway processes on one Postgres and
// one Redis and checks, with the official SDKs, that a rotation's grace
// window and the IP allow-lists of keys and tenants hold on both.
func TestReplicas_KeyHygiene(t *testing.T) {
	c := newCluster(t, sqlstore.DriverPostgres, "redis")
	masterKey := make([]byte, auth.MasterKeySize)
	for i := range masterKey {
		masterKey[i] = byte(i * 7)
	}
	sealer, err := auth.NewSealer(masterKey)
	if err != nil {
		t.Fatal(err)
	}
	svc := &admin.Service{Store: c.st, Sealer: sealer}
	env := append(append([]string(nil), c.env...), auth.MasterKeyEnv+"="+hex.EncodeToString(masterKey))
	a, b := startReplica(t, c.cfg, env), startReplica(t, c.cfg, env)
	replicas := []*replica{a, b}
	ctx := context.Background()

	t.Run("rotation_grace_across_replicas", func(t *testing.T) {
		iss, err := svc.IssueKey(ctx, admin.KeySpec{Tenant: "acme", CreateTenant: true, Name: "rotating"})
		if err != nil {
			t.Fatal(err)
		}
		old, oldAKID, oldAWS := iss.Secret, iss.AWSAccessKeyID, iss.AWSSecretAccessKey
		ok := 0                      // successful requests with the key, whichever secret
		for _, r := range replicas { // warm both caches with the old secret
			if got := openaiCall(r.addr, old); got.status != 200 {
				t.Fatalf("old secret before rotation: %+v", got)
			}
			ok++
		}
		var rotated admin.IssuedView
		replicaAdmin(t, a, "POST", "/admin/v1/keys/"+iss.Key.ID+"/rotate", `{"grace":"1h"}`, &rotated)
		next, nextAKID, nextAWS := rotated.Secret, rotated.AWSAccessKeyID, rotated.AWSSecretAccessKey
		if rotated.Key.ID != iss.Key.ID || next == old || nextAKID == "" || nextAKID == oldAKID || rotated.Key.Previous == nil {
			t.Fatalf("rotation: %+v", rotated.Key)
		}
		for _, r := range replicas {
			for name, got := range map[string]sdkStatus{
				"openai old":    openaiCall(r.addr, old),
				"openai new":    openaiCall(r.addr, next),
				"anthropic old": anthropicCall(r.addr, old),
				"anthropic new": anthropicCall(r.addr, next),
				"bedrock old":   bedrockCall(r.addr, oldAKID, oldAWS),
				"bedrock new":   bedrockCall(r.addr, nextAKID, nextAWS),
			} {
				if got.status != 200 {
					t.Errorf("replica %s, %s secret in the grace window: %+v, want 200", r.addr, name, got)
				} else {
					ok++
				}
			}
		}
		// The grace window ends: the store's record says so (as the clock
		// passing it would; the Authenticator's own tests move an injected
		// clock instead), and every replica refuses the old secret once
		// its one-second cache lets go, in each dialect.
		db, err := sql.Open("pgx", c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `UPDATE api_keys SET previous_until = $1 WHERE id = $2`, time.Now().Add(-time.Second), iss.Key.ID); err != nil {
			t.Fatal(err)
		}
		for _, r := range replicas {
			// Each credential's cache entry lets go within a second.
			waitFor(t, 5*time.Second, func() bool { return openaiCall(r.addr, old).status == 401 })
			waitFor(t, 5*time.Second, func() bool { return bedrockCall(r.addr, oldAKID, oldAWS).status == 403 })
			if got := openaiCall(r.addr, old); got.status != 401 || got.code != "invalid_request_error/invalid_api_key" {
				t.Errorf("replica %s, openai after the window: %+v, want 401 invalid_request_error/invalid_api_key", r.addr, got)
			}
			if got := anthropicCall(r.addr, old); got.status != 401 || got.code != "authentication_error" {
				t.Errorf("replica %s, anthropic after the window: %+v, want 401 authentication_error", r.addr, got)
			}
			if got := bedrockCall(r.addr, oldAKID, oldAWS); got.status != 403 || got.code != "UnrecognizedClientException" {
				t.Errorf("replica %s, bedrock after the window: %+v, want 403 UnrecognizedClientException", r.addr, got)
			}
			for name, got := range map[string]sdkStatus{"openai": openaiCall(r.addr, next), "bedrock": bedrockCall(r.addr, nextAKID, nextAWS)} {
				if got.status != 200 {
					t.Errorf("replica %s, %s with the new secret after the window: %+v", r.addr, name, got)
				} else {
					ok++
				}
			}
		}
		// Usage stayed with the one key identity, whichever secret was sent:
		// at least every success counted here (the polls above add theirs).
		var got int64
		waitFor(t, 10*time.Second, func() bool {
			sums, err := c.st.SumUsage(ctx, store.UsageFilter{Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour), KeyID: iss.Key.ID}, "")
			if err == nil && len(sums) == 1 {
				got = sums[0].Requests
			}
			return got >= int64(ok)
		})
	})

	t.Run("expiry_across_replicas", func(t *testing.T) {
		in := time.Now().Add(time.Hour)
		iss, err := svc.IssueKey(ctx, admin.KeySpec{Tenant: "acme", Name: "expiring", ExpiresAt: &in})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range replicas { // warm both caches while it is valid
			if got := openaiCall(r.addr, iss.Secret); got.status != 200 {
				t.Fatalf("replica %s, the key before its expiry: %+v", r.addr, got)
			}
		}
		// Its expiry passes (the record says so, as the clock would): every
		// replica refuses it once its cache lets go, in each dialect.
		db, err := sql.Open("pgx", c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `UPDATE api_keys SET expires_at = $1 WHERE id = $2`, time.Now().Add(-time.Second), iss.Key.ID); err != nil {
			t.Fatal(err)
		}
		for _, r := range replicas {
			waitFor(t, 5*time.Second, func() bool { return openaiCall(r.addr, iss.Secret).status == 401 })
			if got := anthropicCall(r.addr, iss.Secret); got.status != 401 || got.code != "authentication_error" {
				t.Errorf("replica %s, anthropic after the expiry: %+v, want 401 authentication_error", r.addr, got)
			}
			if got := bedrockCall(r.addr, iss.AWSAccessKeyID, iss.AWSSecretAccessKey); got.status != 403 {
				t.Errorf("replica %s, bedrock after the expiry: %+v, want 403", r.addr, got)
			}
		}
	})

	t.Run("allow_lists_across_replicas", func(t *testing.T) {
		iss, err := svc.IssueKey(ctx, admin.KeySpec{Tenant: "fenced", CreateTenant: true, AllowedCIDRs: []string{"192.0.2.0/24", "2001:db8::/32"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range replicas {
			if got := openaiCall(r.addr, iss.Secret); got.status != 403 || got.code != "permission_error/ip_not_allowed" {
				t.Errorf("replica %s, openai from outside the key's list: %+v, want 403 permission_error/ip_not_allowed", r.addr, got)
			}
			if got := anthropicCall(r.addr, iss.Secret); got.status != 403 || got.code != "permission_error" {
				t.Errorf("replica %s, anthropic from outside the key's list: %+v, want 403 permission_error", r.addr, got)
			}
			if got := bedrockCall(r.addr, iss.AWSAccessKeyID, iss.AWSSecretAccessKey); got.status != 403 || got.code != "AccessDeniedException" {
				t.Errorf("replica %s, bedrock from outside the key's list: %+v, want 403 AccessDeniedException", r.addr, got)
			}
		}
		// Widen the key's list through one replica: both accept it.
		replicaAdmin(t, a, "PATCH", "/admin/v1/keys/"+iss.Key.ID, `{"allowed_cidrs":["127.0.0.0/8","::1/128"]}`, nil)
		for _, r := range replicas {
			// Each credential's cache entry lets go within a second.
			waitFor(t, 5*time.Second, func() bool { return openaiCall(r.addr, iss.Secret).status == 200 })
			waitFor(t, 5*time.Second, func() bool { return bedrockCall(r.addr, iss.AWSAccessKeyID, iss.AWSSecretAccessKey).status == 200 })
		}
		// The tenant's own list fences every key of it, whatever the key's.
		replicaAdmin(t, b, "PATCH", "/admin/v1/tenants/fenced", `{"allowed_cidrs":["10.0.0.0/8"]}`, nil)
		for _, r := range replicas {
			waitFor(t, 5*time.Second, func() bool { return openaiCall(r.addr, iss.Secret).status == 403 })
			if got := anthropicCall(r.addr, iss.Secret); got.status != 403 {
				t.Errorf("replica %s, anthropic outside the tenant's list: %+v", r.addr, got)
			}
		}
		replicaAdmin(t, a, "PATCH", "/admin/v1/tenants/fenced", `{"allowed_cidrs":[]}`, nil)
		for _, r := range replicas {
			waitFor(t, 5*time.Second, func() bool { return openaiCall(r.addr, iss.Secret).status == 200 })
		}
	})

	for _, r := range replicas {
		if err := r.signal(t, syscall.SIGTERM); err != nil {
			t.Errorf("replica exit: %v\n%s", err, r.logs.String())
		}
		if strings.Contains(r.logs.String(), "sk-sy-") {
			t.Errorf("replica logs contain a secret:\n%s", r.logs.String())
		}
	}
	// Last use was written at shutdown, once per key per replica at most.
	ks, err := c.st.ListKeys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.LastUsedAt == nil {
			t.Errorf("key %s (%s) has no last-used time after the run", k.ID, k.Name)
		}
	}
}
