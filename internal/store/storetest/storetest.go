// Package storetest is the conformance suite every store implementation
// passes: tenants, keys, revocation, the usage ledger and its sums, the
// error contract (store.ErrNotFound, store.ErrConflict, store.ErrInvalid)
// and concurrent writers.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"switchyard/internal/store"
)

// StoreUnderTest is the store API the suite exercises.
type StoreUnderTest interface {
	CreateTenant(ctx context.Context, t *store.Tenant) error
	TenantByID(ctx context.Context, id string) (*store.Tenant, error)
	TenantByName(ctx context.Context, name string) (*store.Tenant, error)
	ListTenants(ctx context.Context) ([]store.Tenant, error)
	UpdateTenant(ctx context.Context, t *store.Tenant) error

	CreateKey(ctx context.Context, k *store.Key) error
	KeyByHash(ctx context.Context, hash []byte) (*store.Key, error)
	KeyByID(ctx context.Context, id string) (*store.Key, error)
	KeyByAccessKeyID(ctx context.Context, akid string) (*store.Key, error)
	ListKeys(ctx context.Context, tenantID string) ([]store.Key, error)
	RevokeKey(ctx context.Context, id string, at time.Time) error
	UpdateKey(ctx context.Context, k *store.Key) error
	RotateKeySecret(ctx context.Context, id string, r store.Rotation) error
	TouchKeys(ctx context.Context, used map[string]time.Time) error
	ResealSecrets(ctx context.Context, reseal func(store.Sealed) ([]byte, error)) (int, error)

	InsertUsage(ctx context.Context, recs []store.UsageRecord) error
	SumUsage(ctx context.Context, f store.UsageFilter, groupBy string) ([]store.UsageSummary, error)
	SpendSince(ctx context.Context, tenantID, keyID string, since time.Time) (float64, error)
}

// Run runs the suite. open must return a new, empty store for each call and
// release it when t ends; subtests call it once each and run in parallel.
func Run(t *testing.T, open func(t *testing.T) StoreUnderTest) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, StoreUnderTest)
	}{
		{"tenant_create_and_read", testTenantCreateAndRead},
		{"tenant_conflicts", testTenantConflicts},
		{"tenant_not_found", testTenantNotFound},
		{"tenant_invalid", testTenantInvalid},
		{"tenant_update", testTenantUpdate},
		{"tenant_list", testTenantList},
		{"key_create_and_read", testKeyCreateAndRead},
		{"key_conflicts", testKeyConflicts},
		{"key_not_found", testKeyNotFound},
		{"key_invalid", testKeyInvalid},
		{"key_list", testKeyList},
		{"key_revoke", testKeyRevoke},
		{"key_update", testKeyUpdate},
		{"key_rotate_with_grace", testKeyRotateGrace},
		{"key_rotate_without_grace", testKeyRotateNoGrace},
		{"key_rotate_refused", testKeyRotateRefused},
		{"key_touch", testKeyTouch},
		{"reseal_secrets", testResealSecrets},
		{"reseal_failure_changes_nothing", testResealFailure},
		{"allowed_cidrs", testAllowedCIDRs},
		{"usage_sum", testUsageSum},
		{"usage_large_batch", testUsageLargeBatch},
		{"usage_idempotent", testUsageIdempotent},
		{"usage_invalid_batch_inserts_nothing", testUsageInvalidBatch},
		{"usage_spend_since", testUsageSpendSince},
		{"usage_concurrent_inserts", testUsageConcurrentInserts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
	runLedger(t, open)
	runRequests(t, open)
}

// base is a timestamp with nanoseconds in a non-UTC zone: stores keep
// microseconds and return UTC.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("UTC+1", 3600))

// micro is what a store returns for t.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

func ptr[T any](v T) *T { return &v }

// hashOf returns a distinct 32-byte hash for a name.
func hashOf(name string) []byte {
	h := sha256.Sum256([]byte(name))
	return h[:]
}

func mustCreateTenant(t *testing.T, s StoreUnderTest, name string) *store.Tenant {
	t.Helper()
	tn := &store.Tenant{Name: name}
	if err := s.CreateTenant(t.Context(), tn); err != nil {
		t.Fatalf("CreateTenant(%q): %v", name, err)
	}
	return tn
}

func mustCreateKey(t *testing.T, s StoreUnderTest, k *store.Key) *store.Key {
	t.Helper()
	if err := s.CreateKey(t.Context(), k); err != nil {
		t.Fatalf("CreateKey(%q): %v", k.Name, err)
	}
	return k
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}

func testTenantCreateAndRead(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	in := &store.Tenant{
		Name:         "acme",
		Metadata:     map[string]string{"team": "research", "cost_center": "42"},
		CreatedAt:    base,
		UpdatedAt:    base.Add(time.Second),
		RPM:          600,
		TPM:          100000,
		MaxStreams:   8,
		BudgetUSD:    1234.5,
		BudgetPeriod: store.PeriodMonth,
	}
	if err := s.CreateTenant(ctx, in); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	if in.ID == "" {
		t.Fatal("CreateTenant left ID empty")
	}
	want := store.Tenant{
		ID: in.ID, Name: "acme", Metadata: map[string]string{"team": "research", "cost_center": "42"},
		CreatedAt: micro(base), UpdatedAt: micro(base.Add(time.Second)),
		RPM: 600, TPM: 100000, MaxStreams: 8, BudgetUSD: 1234.5, BudgetPeriod: store.PeriodMonth,
	}
	if diff := cmp.Diff(want, *in); diff != "" {
		t.Errorf("tenant after create (-want +got):\n%s", diff)
	}
	byID, err := s.TenantByID(ctx, in.ID)
	if err != nil {
		t.Fatalf("TenantByID: %v", err)
	}
	if diff := cmp.Diff(want, *byID); diff != "" {
		t.Errorf("TenantByID (-want +got):\n%s", diff)
	}
	byName, err := s.TenantByName(ctx, "acme")
	if err != nil {
		t.Fatalf("TenantByName: %v", err)
	}
	if diff := cmp.Diff(want, *byName); diff != "" {
		t.Errorf("TenantByName (-want +got):\n%s", diff)
	}

	// A caller-chosen ID is kept; zero timestamps are set to now.
	before := time.Now().Add(-time.Second)
	own := &store.Tenant{ID: "ten_own", Name: "own", Disabled: true}
	if err := s.CreateTenant(ctx, own); err != nil {
		t.Fatalf("CreateTenant with ID: %v", err)
	}
	got, err := s.TenantByID(ctx, "ten_own")
	if err != nil {
		t.Fatalf("TenantByID(ten_own): %v", err)
	}
	if got.ID != "ten_own" || !got.Disabled || got.Metadata != nil {
		t.Errorf("TenantByID(ten_own) = %+v, want ID ten_own, disabled, nil metadata", got)
	}
	if got.CreatedAt.Before(before) || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("timestamps = %v, %v; want now and equal", got.CreatedAt, got.UpdatedAt)
	}
}

func testTenantConflicts(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	first := mustCreateTenant(t, s, "acme")
	wantErr(t, "duplicate name", s.CreateTenant(ctx, &store.Tenant{Name: "acme"}), store.ErrConflict)
	wantErr(t, "duplicate ID", s.CreateTenant(ctx, &store.Tenant{ID: first.ID, Name: "other"}), store.ErrConflict)
	second := mustCreateTenant(t, s, "globex")
	second.Name = "acme"
	wantErr(t, "rename onto existing name", s.UpdateTenant(ctx, second), store.ErrConflict)
	got, err := s.TenantByID(ctx, second.ID)
	if err != nil {
		t.Fatalf("TenantByID: %v", err)
	}
	if got.Name != "globex" {
		t.Errorf("name after refused rename = %q, want globex", got.Name)
	}
}

func testTenantNotFound(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	_, err := s.TenantByID(ctx, "ten_missing")
	wantErr(t, "TenantByID", err, store.ErrNotFound)
	_, err = s.TenantByName(ctx, "missing")
	wantErr(t, "TenantByName", err, store.ErrNotFound)
	wantErr(t, "UpdateTenant", s.UpdateTenant(ctx, &store.Tenant{ID: "ten_missing", Name: "x"}), store.ErrNotFound)
	ts, err := s.ListTenants(ctx)
	if err != nil || len(ts) != 0 {
		t.Errorf("ListTenants on empty store = %v, %v; want none", ts, err)
	}
}

func testTenantInvalid(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		t    store.Tenant
	}{
		{"empty_name", store.Tenant{}},
		{"unknown_period", store.Tenant{Name: "a", BudgetPeriod: "week"}},
		{"negative_rpm", store.Tenant{Name: "a", RPM: -1}},
		{"negative_budget", store.Tenant{Name: "a", BudgetUSD: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := tc.t
			wantErr(t, "CreateTenant", s.CreateTenant(ctx, &tn), store.ErrInvalid)
		})
	}
	ok := mustCreateTenant(t, s, "valid")
	ok.BudgetPeriod = "fortnight"
	wantErr(t, "UpdateTenant", s.UpdateTenant(ctx, ok), store.ErrInvalid)
	wantErr(t, "UpdateTenant without ID", s.UpdateTenant(ctx, &store.Tenant{Name: "x"}), store.ErrInvalid)
}

func testTenantUpdate(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := &store.Tenant{Name: "acme", Metadata: map[string]string{"a": "1"}, CreatedAt: base, UpdatedAt: base}
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	upd := *tn
	upd.Name = "acme-corp"
	upd.Disabled = true
	upd.Metadata = map[string]string{"b": "2"}
	upd.RPM, upd.TPM, upd.MaxStreams = 1, 2, 3
	upd.BudgetUSD, upd.BudgetPeriod = 9.75, store.PeriodDay
	upd.CreatedAt = base.Add(time.Hour) // ignored: creation time never changes
	if err := s.UpdateTenant(ctx, &upd); err != nil {
		t.Fatalf("UpdateTenant: %v", err)
	}
	if !upd.UpdatedAt.After(micro(base)) {
		t.Errorf("UpdatedAt = %v, want after %v", upd.UpdatedAt, base)
	}
	got, err := s.TenantByID(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Tenant{
		ID: tn.ID, Name: "acme-corp", Disabled: true, Metadata: map[string]string{"b": "2"},
		CreatedAt: micro(base), UpdatedAt: upd.UpdatedAt,
		RPM: 1, TPM: 2, MaxStreams: 3, BudgetUSD: 9.75, BudgetPeriod: store.PeriodDay,
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("tenant after update (-want +got):\n%s", diff)
	}
	if _, err := s.TenantByName(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old name still resolves: %v", err)
	}
	// Clearing metadata works too.
	upd.Metadata = nil
	if err := s.UpdateTenant(ctx, &upd); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TenantByID(ctx, tn.ID); err != nil || got.Metadata != nil {
		t.Errorf("metadata after clearing = %v, %v; want nil", got.Metadata, err)
	}
}

func testTenantList(t *testing.T, s StoreUnderTest) {
	for _, n := range []string{"charlie", "alpha", "bravo"} {
		mustCreateTenant(t, s, n)
	}
	ts, err := s.ListTenants(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tn := range ts {
		names = append(names, tn.Name)
	}
	if diff := cmp.Diff([]string{"alpha", "bravo", "charlie"}, names); diff != "" {
		t.Errorf("ListTenants names (-want +got):\n%s", diff)
	}
}

func testKeyCreateAndRead(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := mustCreateTenant(t, s, "acme")
	in := &store.Key{
		TenantID:        tn.ID,
		Name:            "ci",
		Hash:            hashOf("secret-1"),
		Prefix:          "sk-sy-AbCd",
		CreatedAt:       base,
		ExpiresAt:       ptr(base.Add(30 * 24 * time.Hour)),
		AllowedModels:   []string{"gpt-5*", "claude-*"},
		Metadata:        map[string]string{"owner": "ops"},
		RPM:             60,
		TPM:             5000,
		MaxStreams:      2,
		BudgetUSD:       10.25,
		BudgetPeriod:    store.PeriodDay,
		AWSAccessKeyID:  "ASYABCDEFGHIJKLMNOPQ",
		AWSSecretSealed: []byte{1, 2, 3, 0, 255},
	}
	if err := s.CreateKey(ctx, in); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if in.ID == "" {
		t.Fatal("CreateKey left ID empty")
	}
	want := store.Key{
		ID: in.ID, TenantID: tn.ID, Name: "ci", Hash: hashOf("secret-1"), Prefix: "sk-sy-AbCd",
		CreatedAt: micro(base), ExpiresAt: ptr(micro(base.Add(30 * 24 * time.Hour))),
		AllowedModels: []string{"gpt-5*", "claude-*"}, Metadata: map[string]string{"owner": "ops"},
		RPM: 60, TPM: 5000, MaxStreams: 2, BudgetUSD: 10.25, BudgetPeriod: store.PeriodDay,
		AWSAccessKeyID: "ASYABCDEFGHIJKLMNOPQ", AWSSecretSealed: []byte{1, 2, 3, 0, 255},
	}
	if diff := cmp.Diff(want, *in); diff != "" {
		t.Errorf("key after create (-want +got):\n%s", diff)
	}
	for _, lookup := range []struct {
		name string
		fn   func() (*store.Key, error)
	}{
		{"KeyByHash", func() (*store.Key, error) { return s.KeyByHash(ctx, hashOf("secret-1")) }},
		{"KeyByID", func() (*store.Key, error) { return s.KeyByID(ctx, in.ID) }},
		{"KeyByAccessKeyID", func() (*store.Key, error) { return s.KeyByAccessKeyID(ctx, "ASYABCDEFGHIJKLMNOPQ") }},
	} {
		got, err := lookup.fn()
		if err != nil {
			t.Errorf("%s: %v", lookup.name, err)
			continue
		}
		if diff := cmp.Diff(want, *got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", lookup.name, diff)
		}
	}

	// A minimal key reads back with nil optional fields.
	bare := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("secret-2")})
	got, err := s.KeyByID(ctx, bare.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExpiresAt != nil || got.RevokedAt != nil || got.AllowedModels != nil || got.Metadata != nil ||
		got.AWSAccessKeyID != "" || got.AWSSecretSealed != nil {
		t.Errorf("bare key has optional fields set: %+v", got)
	}
	if got.CreatedAt.IsZero() {
		t.Error("bare key has zero CreatedAt")
	}
}

func testKeyConflicts(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := mustCreateTenant(t, s, "acme")
	first := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("a"), AWSAccessKeyID: "ASYAAAAAAAAAAAAAAAAA", AWSSecretSealed: []byte{1}})
	for _, tc := range []struct {
		name string
		k    store.Key
	}{
		{"same_hash", store.Key{TenantID: tn.ID, Hash: hashOf("a")}},
		{"same_id", store.Key{ID: first.ID, TenantID: tn.ID, Hash: hashOf("b")}},
		{"same_access_key_id", store.Key{TenantID: tn.ID, Hash: hashOf("c"), AWSAccessKeyID: "ASYAAAAAAAAAAAAAAAAA", AWSSecretSealed: []byte{2}}},
	} {
		k := tc.k
		wantErr(t, tc.name, s.CreateKey(ctx, &k), store.ErrConflict)
	}
	// Keys without SigV4 credentials never collide with each other.
	mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("d")})
	mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("e")})
	ks, err := s.ListKeys(ctx, tn.ID)
	if err != nil || len(ks) != 3 {
		t.Errorf("ListKeys = %d keys, %v; want 3", len(ks), err)
	}
}

func testKeyNotFound(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := mustCreateTenant(t, s, "acme")
	mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("a")})
	_, err := s.KeyByHash(ctx, hashOf("b"))
	wantErr(t, "KeyByHash", err, store.ErrNotFound)
	_, err = s.KeyByHash(ctx, nil)
	wantErr(t, "KeyByHash(nil)", err, store.ErrNotFound)
	_, err = s.KeyByID(ctx, "key_missing")
	wantErr(t, "KeyByID", err, store.ErrNotFound)
	_, err = s.KeyByAccessKeyID(ctx, "ASYMISSINGMISSINGMIS")
	wantErr(t, "KeyByAccessKeyID", err, store.ErrNotFound)
	_, err = s.KeyByAccessKeyID(ctx, "")
	wantErr(t, "KeyByAccessKeyID(empty)", err, store.ErrNotFound)
	wantErr(t, "RevokeKey", s.RevokeKey(ctx, "key_missing", base), store.ErrNotFound)
	wantErr(t, "CreateKey for unknown tenant", s.CreateKey(ctx, &store.Key{TenantID: "ten_missing", Hash: hashOf("c")}), store.ErrNotFound)
	ks, err := s.ListKeys(ctx, "ten_missing")
	if err != nil || len(ks) != 0 {
		t.Errorf("ListKeys(unknown tenant) = %v, %v; want none", ks, err)
	}
}

func testKeyInvalid(t *testing.T, s StoreUnderTest) {
	tn := mustCreateTenant(t, s, "acme")
	for _, tc := range []struct {
		name string
		k    store.Key
	}{
		{"no_tenant", store.Key{Hash: hashOf("a")}},
		{"no_hash", store.Key{TenantID: tn.ID}},
		{"short_hash", store.Key{TenantID: tn.ID, Hash: []byte("sk-sy-plaintext")}},
		{"unknown_period", store.Key{TenantID: tn.ID, Hash: hashOf("a"), BudgetPeriod: "year"}},
		{"negative_tpm", store.Key{TenantID: tn.ID, Hash: hashOf("a"), TPM: -5}},
		{"access_key_without_secret", store.Key{TenantID: tn.ID, Hash: hashOf("a"), AWSAccessKeyID: "ASYAAAAAAAAAAAAAAAAA"}},
		{"secret_without_access_key", store.Key{TenantID: tn.ID, Hash: hashOf("a"), AWSSecretSealed: []byte{1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.k
			wantErr(t, "CreateKey", s.CreateKey(t.Context(), &k), store.ErrInvalid)
		})
	}
}

func testKeyList(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	a := mustCreateTenant(t, s, "a")
	b := mustCreateTenant(t, s, "b")
	// Created out of order: lists are ordered by creation time.
	k3 := mustCreateKey(t, s, &store.Key{TenantID: a.ID, Name: "a3", Hash: hashOf("a3"), CreatedAt: base.Add(3 * time.Minute)})
	k1 := mustCreateKey(t, s, &store.Key{TenantID: a.ID, Name: "a1", Hash: hashOf("a1"), CreatedAt: base.Add(1 * time.Minute)})
	mustCreateKey(t, s, &store.Key{TenantID: b.ID, Name: "b2", Hash: hashOf("b2"), CreatedAt: base.Add(2 * time.Minute)})
	names := func(ks []store.Key) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.Name)
		}
		return out
	}
	ks, err := s.ListKeys(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a1", "a3"}, names(ks)); diff != "" {
		t.Errorf("ListKeys(a) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]store.Key{*k1, *k3}, ks); diff != "" {
		t.Errorf("ListKeys(a) contents (-want +got):\n%s", diff)
	}
	all, err := s.ListKeys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a1", "b2", "a3"}, names(all)); diff != "" {
		t.Errorf("ListKeys(all) (-want +got):\n%s", diff)
	}
}

func testKeyRevoke(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := mustCreateTenant(t, s, "acme")
	k := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("a")})
	other := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("b")})
	at := base.Add(time.Hour)
	if err := s.RevokeKey(ctx, k.ID, at); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	got, err := s.KeyByHash(ctx, hashOf("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt == nil || !got.RevokedAt.Equal(micro(at)) {
		t.Errorf("RevokedAt = %v, want %v", got.RevokedAt, micro(at))
	}
	if !got.Revoked(at) || got.Revoked(at.Add(-time.Second)) {
		t.Errorf("Revoked(at) = %v, Revoked(before) = %v; want true, false", got.Revoked(at), got.Revoked(at.Add(-time.Second)))
	}
	// A second revocation keeps the first time.
	if err := s.RevokeKey(ctx, k.ID, at.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeKey again: %v", err)
	}
	got, err = s.KeyByID(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt == nil || !got.RevokedAt.Equal(micro(at)) {
		t.Errorf("RevokedAt after second revoke = %v, want %v", got.RevokedAt, micro(at))
	}
	if o, err := s.KeyByID(ctx, other.ID); err != nil || o.RevokedAt != nil {
		t.Errorf("other key RevokedAt = %v, %v; want nil", o.RevokedAt, err)
	}
}

// usageFixture returns n deterministic records spread over tenants, keys,
// models, providers and one minute per record from base.
func usageFixture(n int, idPrefix string) []store.UsageRecord {
	tenants := []string{"ten_a", "ten_b", "ten_c"}
	models := []string{"gpt-5", "claude-sonnet", "nova-pro", "gemini"}
	providers := []string{"azure-eastus", "aws-us-east-1"}
	recs := make([]store.UsageRecord, n)
	for i := range recs {
		status, kind := 200, ""
		switch {
		case i%17 == 0:
			status, kind = 429, "rate_limited"
		case i%23 == 0:
			status, kind = 502, "unavailable"
		case i%29 == 0:
			status, kind = 200, "partial"
		}
		tenant := tenants[i%len(tenants)]
		recs[i] = store.UsageRecord{
			RequestID:         fmt.Sprintf("%s-%05d", idPrefix, i),
			TenantID:          tenant,
			KeyID:             fmt.Sprintf("%s_key%d", tenant, i%2),
			Model:             models[i%len(models)],
			Provider:          providers[i%len(providers)],
			UpstreamModel:     "upstream-" + models[i%len(models)],
			Dialect:           "openai",
			Endpoint:          "chat",
			Traffic:           "stateless",
			Stream:            i%2 == 0,
			InputTokens:       int64(100 + i),
			OutputTokens:      int64(10 + i%50),
			CachedInputTokens: int64(i % 40),
			CacheWriteTokens:  int64(i % 7),
			ReasoningTokens:   int64(i % 5),
			CostUSD:           float64(1+i%97) * 0.000001234,
			Latency:           time.Duration(i) * time.Millisecond,
			TTFB:              time.Duration(i) * time.Microsecond,
			Status:            status,
			ErrorKind:         kind,
			Attempts:          1 + i%3,
			Route:             `{"offering":"x"}`,
			Contracts:         []string{"eu-only"},
			CreatedAt:         base.Add(time.Duration(i) * time.Minute),
		}
	}
	return recs
}

// nanos is how stores keep costs: rounded to the nano-dollar.
func nanos(usd float64) int64 { return int64(math.Round(usd * 1e9)) }

// expectedSums computes what SumUsage must return.
func expectedSums(recs []store.UsageRecord, f store.UsageFilter, groupBy string) []store.UsageSummary {
	type acc struct {
		s    store.UsageSummary
		cost int64
	}
	groups := map[string]*acc{}
	if groupBy == store.GroupNone {
		groups[""] = &acc{}
	}
	for _, r := range recs {
		if !f.Since.IsZero() && r.CreatedAt.Before(f.Since) || !f.Until.IsZero() && !r.CreatedAt.Before(f.Until) ||
			f.TenantID != "" && r.TenantID != f.TenantID || f.KeyID != "" && r.KeyID != f.KeyID ||
			f.Model != "" && r.Model != f.Model || f.Provider != "" && r.Provider != f.Provider {
			continue
		}
		var g string
		switch groupBy {
		case store.GroupTenant:
			g = r.TenantID
		case store.GroupKey:
			g = r.KeyID
		case store.GroupModel:
			g = r.Model
		case store.GroupProvider:
			g = r.Provider
		}
		a := groups[g]
		if a == nil {
			a = &acc{s: store.UsageSummary{Group: g}}
			groups[g] = a
		}
		a.s.Requests++
		a.s.InputTokens += r.InputTokens
		a.s.OutputTokens += r.OutputTokens
		a.s.CachedInputTokens += r.CachedInputTokens
		a.s.CacheWriteTokens += r.CacheWriteTokens
		a.s.ReasoningTokens += r.ReasoningTokens
		a.cost += nanos(r.CostUSD)
		if r.Failed() {
			a.s.Errors++
		}
	}
	var out []store.UsageSummary
	for _, a := range groups {
		a.s.CostUSD = float64(a.cost) / 1e9
		out = append(out, a.s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

func testUsageSum(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	recs := usageFixture(300, "req")
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatalf("InsertUsage: %v", err)
	}
	if err := s.InsertUsage(ctx, nil); err != nil {
		t.Fatalf("InsertUsage(nil): %v", err)
	}
	filters := []struct {
		name string
		f    store.UsageFilter
	}{
		{"all", store.UsageFilter{}},
		{"since", store.UsageFilter{Since: base.Add(100 * time.Minute)}},
		{"until", store.UsageFilter{Until: base.Add(100 * time.Minute)}},
		// Since is inclusive and Until exclusive, to the microsecond.
		{"window", store.UsageFilter{Since: base.Add(50 * time.Minute), Until: base.Add(60 * time.Minute)}},
		{"tenant", store.UsageFilter{TenantID: "ten_b"}},
		{"key", store.UsageFilter{KeyID: "ten_a_key1"}},
		{"model", store.UsageFilter{Model: "nova-pro"}},
		{"provider_and_tenant", store.UsageFilter{Provider: "azure-eastus", TenantID: "ten_c"}},
		{"no_match", store.UsageFilter{TenantID: "ten_none"}},
		{"empty_window", store.UsageFilter{Since: base.Add(-time.Hour), Until: base}},
	}
	for _, fc := range filters {
		for _, g := range []string{store.GroupNone, store.GroupTenant, store.GroupKey, store.GroupModel, store.GroupProvider} {
			by := g
			if by == store.GroupNone {
				by = "none"
			}
			t.Run(fc.name+"/by_"+by, func(t *testing.T) {
				got, err := s.SumUsage(ctx, fc.f, g)
				if err != nil {
					t.Fatalf("SumUsage: %v", err)
				}
				if diff := cmp.Diff(expectedSums(recs, fc.f, g), got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("SumUsage (-want +got):\n%s", diff)
				}
			})
		}
	}
	if _, err := s.SumUsage(ctx, store.UsageFilter{}, "colour"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SumUsage(unknown grouping) error = %v, want ErrInvalid", err)
	}
}

func testUsageLargeBatch(t *testing.T, s StoreUnderTest) {
	// Larger than one statement can carry in any engine.
	recs := usageFixture(1500, "big")
	if err := s.InsertUsage(t.Context(), recs); err != nil {
		t.Fatalf("InsertUsage: %v", err)
	}
	got, err := s.SumUsage(t.Context(), store.UsageFilter{}, store.GroupNone)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(expectedSums(recs, store.UsageFilter{}, store.GroupNone), got); diff != "" {
		t.Errorf("SumUsage (-want +got):\n%s", diff)
	}
}

func testUsageIdempotent(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	recs := usageFixture(40, "idem")
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// A retried batch, overlapping the first, counts each request once.
	if err := s.InsertUsage(ctx, append(usageFixture(60, "idem")[20:], recs[0])); err != nil {
		t.Fatalf("InsertUsage retry: %v", err)
	}
	want := expectedSums(usageFixture(60, "idem"), store.UsageFilter{}, store.GroupNone)
	got, err := s.SumUsage(ctx, store.UsageFilter{}, store.GroupNone)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SumUsage after retry (-want +got):\n%s", diff)
	}
	// Records without a request ID are never merged.
	anon := []store.UsageRecord{{TenantID: "ten_x", CostUSD: 1}, {TenantID: "ten_x", CostUSD: 1}}
	for range 2 {
		if err := s.InsertUsage(ctx, anon); err != nil {
			t.Fatal(err)
		}
	}
	got, err = s.SumUsage(ctx, store.UsageFilter{TenantID: "ten_x"}, store.GroupNone)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Requests != 4 || got[0].CostUSD != 4 {
		t.Errorf("anonymous records summary = %+v, want 4 requests costing 4", got)
	}
}

func testUsageInvalidBatch(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	recs := usageFixture(10, "bad")
	recs[7].CostUSD = math.Inf(1)
	if err := s.InsertUsage(ctx, recs); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("InsertUsage with non-finite cost error = %v, want ErrInvalid", err)
	}
	got, err := s.SumUsage(ctx, store.UsageFilter{}, store.GroupNone)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Requests != 0 {
		t.Errorf("records after refused batch = %d, want 0", got[0].Requests)
	}
}

func testUsageSpendSince(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	recs := []store.UsageRecord{
		{RequestID: "r1", TenantID: "ten_a", KeyID: "k1", CostUSD: 0.25, CreatedAt: base},
		{RequestID: "r2", TenantID: "ten_a", KeyID: "k2", CostUSD: 1.5, CreatedAt: base.Add(time.Hour)},
		{RequestID: "r3", TenantID: "ten_a", KeyID: "k1", CostUSD: 0.000000001, CreatedAt: base.Add(2 * time.Hour)},
		{RequestID: "r4", TenantID: "ten_b", KeyID: "k3", CostUSD: 100, CreatedAt: base.Add(time.Hour)},
	}
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		tenant, key string
		since       time.Time
		want        float64
	}{
		{name: "tenant_all", tenant: "ten_a", want: 1.750000001},
		{name: "tenant_since_inclusive", tenant: "ten_a", since: base.Add(time.Hour), want: 1.500000001},
		{name: "key", key: "k1", want: 0.250000001},
		{name: "tenant_and_key", tenant: "ten_a", key: "k2", want: 1.5},
		{name: "mismatched_tenant_and_key", tenant: "ten_b", key: "k1", want: 0},
		{name: "everyone", want: 101.750000001},
		{name: "future", tenant: "ten_a", since: base.Add(3 * time.Hour), want: 0},
	} {
		got, err := s.SpendSince(ctx, tc.tenant, tc.key, tc.since)
		if err != nil {
			t.Errorf("%s: SpendSince: %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: SpendSince = %.9f, want %.9f", tc.name, got, tc.want)
		}
	}
}

func testUsageConcurrentInserts(t *testing.T, s StoreUnderTest) {
	const (
		writers = 8
		batches = 10
		perBat  = 20
	)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				recs := usageFixture(perBat, fmt.Sprintf("w%d-b%d", w, b))
				if err := s.InsertUsage(context.Background(), recs); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent InsertUsage: %v", err)
	}
	got, err := s.SumUsage(t.Context(), store.UsageFilter{}, store.GroupNone)
	if err != nil {
		t.Fatal(err)
	}
	one := expectedSums(usageFixture(perBat, "x"), store.UsageFilter{}, store.GroupNone)[0]
	if want := int64(writers * batches * perBat); got[0].Requests != want {
		t.Errorf("rows after concurrent inserts = %d, want %d", got[0].Requests, want)
	}
	if want := one.InputTokens * writers * batches; got[0].InputTokens != want {
		t.Errorf("input tokens after concurrent inserts = %d, want %d", got[0].InputTokens, want)
	}
}

func testKeyUpdate(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := mustCreateTenant(t, s, "acme")
	k := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Name: "old", Hash: hashOf("a"), Prefix: "sk-sy-AAAA", Metadata: map[string]string{"team": "a"}})
	k.Name, k.Metadata, k.AllowedCIDRs, k.RPM, k.ExpiresAt = "new", map[string]string{"team": "b", "env": "prod"}, []string{"10.0.0.0/8", "2001:db8::/32"}, 7, ptr(base.Add(time.Hour))
	// Fields UpdateKey does not own are left alone even when changed here.
	k.Hash, k.Prefix = hashOf("other"), "sk-sy-ZZZZ"
	if err := s.UpdateKey(ctx, k); err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	got, err := s.KeyByHash(ctx, hashOf("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "new" || got.RPM != 7 || !cmp.Equal(got.Metadata, map[string]string{"team": "b", "env": "prod"}) ||
		!cmp.Equal(got.AllowedCIDRs, []string{"10.0.0.0/8", "2001:db8::/32"}) || got.ExpiresAt == nil || !got.ExpiresAt.Equal(micro(base.Add(time.Hour))) ||
		got.Prefix != "sk-sy-AAAA" {
		t.Errorf("key after update = %+v", got)
	}
	wantErr(t, "UpdateKey(unknown)", s.UpdateKey(ctx, &store.Key{ID: "key_missing", TenantID: tn.ID, Hash: hashOf("x")}), store.ErrNotFound)
	bad := *got
	bad.AllowedCIDRs = []string{"10.0.0.300/8"}
	wantErr(t, "UpdateKey(bad CIDR)", s.UpdateKey(ctx, &bad), store.ErrInvalid)
}

func testKeyRotateGrace(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := mustCreateTenant(t, s, "acme")
	k := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("v1"), Prefix: "sk-sy-v1v1", RPM: 5,
		AWSAccessKeyID: "ASYAAAAAAAAAAAAAAAA1", AWSSecretSealed: []byte{1}})
	at := base.Add(time.Hour)
	err := s.RotateKeySecret(ctx, k.ID, store.Rotation{Hash: hashOf("v2"), Prefix: "sk-sy-v2v2",
		AWSAccessKeyID: "ASYAAAAAAAAAAAAAAAA2", AWSSecretSealed: []byte{2}, At: at, GraceUntil: at.Add(24 * time.Hour)})
	if err != nil {
		t.Fatalf("RotateKeySecret: %v", err)
	}
	wantPrev := &store.PreviousSecret{Hash: hashOf("v1"), Prefix: "sk-sy-v1v1", AWSAccessKeyID: "ASYAAAAAAAAAAAAAAAA1",
		AWSSecretSealed: []byte{1}, Until: micro(at.Add(24 * time.Hour))}
	// Both secrets and both access key IDs find the one key, by its ID.
	for name, lookup := range map[string]func() (*store.Key, error){
		"new hash": func() (*store.Key, error) { return s.KeyByHash(ctx, hashOf("v2")) },
		"old hash": func() (*store.Key, error) { return s.KeyByHash(ctx, hashOf("v1")) },
		"new akid": func() (*store.Key, error) { return s.KeyByAccessKeyID(ctx, "ASYAAAAAAAAAAAAAAAA2") },
		"old akid": func() (*store.Key, error) { return s.KeyByAccessKeyID(ctx, "ASYAAAAAAAAAAAAAAAA1") },
	} {
		got, err := lookup()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got.ID != k.ID || got.RPM != 5 || !cmp.Equal(got.Hash, hashOf("v2")) || got.AWSAccessKeyID != "ASYAAAAAAAAAAAAAAAA2" ||
			got.RotatedAt == nil || !got.RotatedAt.Equal(micro(at)) {
			t.Errorf("%s: key = %+v", name, got)
		}
		if diff := cmp.Diff(wantPrev, got.Previous); diff != "" {
			t.Errorf("%s: previous (-want +got):\n%s", name, diff)
		}
	}
	// A second rotation drops the first secret for good.
	if err := s.RotateKeySecret(ctx, k.ID, store.Rotation{Hash: hashOf("v3"), Prefix: "sk-sy-v3v3", At: at.Add(time.Hour), GraceUntil: at.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.KeyByHash(ctx, hashOf("v1"))
	wantErr(t, "first secret after second rotation", err, store.ErrNotFound)
	_, err = s.KeyByAccessKeyID(ctx, "ASYAAAAAAAAAAAAAAAA1")
	wantErr(t, "first akid after second rotation", err, store.ErrNotFound)
	got, err := s.KeyByHash(ctx, hashOf("v2"))
	if err != nil || got.Previous == nil || !cmp.Equal(got.Previous.Hash, hashOf("v2")) || got.AWSAccessKeyID != "" ||
		got.Previous.AWSAccessKeyID != "ASYAAAAAAAAAAAAAAAA2" {
		t.Errorf("after second rotation: %+v, %v", got, err)
	}
}

func testKeyRotateNoGrace(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := mustCreateTenant(t, s, "acme")
	k := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("v1")})
	if err := s.RotateKeySecret(ctx, k.ID, store.Rotation{Hash: hashOf("v2"), Prefix: "p", At: base}); err != nil {
		t.Fatal(err)
	}
	_, err := s.KeyByHash(ctx, hashOf("v1"))
	wantErr(t, "old secret without grace", err, store.ErrNotFound)
	got, err := s.KeyByHash(ctx, hashOf("v2"))
	if err != nil || got.Previous != nil || got.ID != k.ID {
		t.Errorf("new secret: %+v, %v", got, err)
	}
}

func testKeyRotateRefused(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := mustCreateTenant(t, s, "acme")
	k := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("v1")})
	other := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("other")})
	wantErr(t, "rotate to a hash in use", s.RotateKeySecret(ctx, k.ID, store.Rotation{Hash: hashOf("other"), At: base}), store.ErrConflict)
	wantErr(t, "rotate unknown", s.RotateKeySecret(ctx, "key_missing", store.Rotation{Hash: hashOf("v2"), At: base}), store.ErrNotFound)
	wantErr(t, "rotate short hash", s.RotateKeySecret(ctx, k.ID, store.Rotation{Hash: []byte("x"), At: base}), store.ErrInvalid)
	if err := s.RevokeKey(ctx, other.ID, base); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "rotate revoked", s.RotateKeySecret(ctx, other.ID, store.Rotation{Hash: hashOf("v3"), At: base}), store.ErrNotFound)
	if got, err := s.KeyByHash(ctx, hashOf("v1")); err != nil || got.Previous != nil {
		t.Errorf("refused rotations changed the key: %+v, %v", got, err)
	}
}

func testKeyTouch(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := mustCreateTenant(t, s, "acme")
	a := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("a")})
	b := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("b")})
	if got, _ := s.KeyByID(ctx, a.ID); got.LastUsedAt != nil {
		t.Fatalf("new key LastUsedAt = %v", got.LastUsedAt)
	}
	if err := s.TouchKeys(ctx, map[string]time.Time{a.ID: base.Add(time.Minute), b.ID: base, "key_missing": base}); err != nil {
		t.Fatalf("TouchKeys: %v", err)
	}
	// An older time never moves it back.
	if err := s.TouchKeys(ctx, map[string]time.Time{a.ID: base}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]time.Time{a.ID: base.Add(time.Minute), b.ID: base} {
		got, err := s.KeyByID(ctx, id)
		if err != nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(micro(want)) {
			t.Errorf("key %s LastUsedAt = %v, %v; want %v", id, got.LastUsedAt, err, micro(want))
		}
	}
}

func testResealSecrets(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := mustCreateTenant(t, s, "acme")
	a := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("a"), AWSAccessKeyID: "ASYAAAAAAAAAAAAAAAA1", AWSSecretSealed: []byte("old:a")})
	b := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("b"), AWSAccessKeyID: "ASYAAAAAAAAAAAAAAAA2", AWSSecretSealed: []byte("old:b")})
	mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("c")}) // no sealed secret
	if err := s.RotateKeySecret(ctx, b.ID, store.Rotation{Hash: hashOf("b2"), AWSAccessKeyID: "ASYAAAAAAAAAAAAAAAA3",
		AWSSecretSealed: []byte("old:b2"), At: base, GraceUntil: base.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	n, err := s.ResealSecrets(ctx, func(v store.Sealed) ([]byte, error) {
		if v.Table != "api_keys" || v.ID == "" || v.Column == "" {
			return nil, fmt.Errorf("unlocated value %+v", v)
		}
		return append([]byte("new:"), v.Value[len("old:"):]...), nil
	})
	if err != nil || n != 3 {
		t.Fatalf("ResealSecrets = %d, %v; want 3", n, err)
	}
	ga, _ := s.KeyByID(ctx, a.ID)
	gb, _ := s.KeyByID(ctx, b.ID)
	if string(ga.AWSSecretSealed) != "new:a" || string(gb.AWSSecretSealed) != "new:b2" || gb.Previous == nil ||
		string(gb.Previous.AWSSecretSealed) != "new:b" {
		t.Errorf("after reseal: a %q, b %q, b previous %+v", ga.AWSSecretSealed, gb.AWSSecretSealed, gb.Previous)
	}
}

func testResealFailure(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := mustCreateTenant(t, s, "acme")
	var ids []string
	for i := range 5 {
		k := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf(fmt.Sprint(i)),
			AWSAccessKeyID: fmt.Sprintf("ASYAAAAAAAAAAAAAAAA%d", i), AWSSecretSealed: []byte(fmt.Sprint("old:", i))})
		ids = append(ids, k.ID)
	}
	calls := 0
	boom := errors.New("cannot open")
	_, err := s.ResealSecrets(ctx, func(v store.Sealed) ([]byte, error) {
		calls++
		if calls == 4 {
			return nil, boom
		}
		return []byte("new"), nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("ResealSecrets error = %v, want %v", err, boom)
	}
	for i, id := range ids {
		k, err := s.KeyByID(ctx, id)
		if err != nil || string(k.AWSSecretSealed) != fmt.Sprint("old:", i) {
			t.Errorf("key %d after a failed reseal: %q, %v; want it unchanged", i, k.AWSSecretSealed, err)
		}
	}
}

func testAllowedCIDRs(t *testing.T, s StoreUnderTest) {
	ctx := t.Context()
	tn := &store.Tenant{Name: "acme", AllowedCIDRs: []string{"192.0.2.0/24", "2001:db8::/48"}}
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	got, err := s.TenantByID(ctx, tn.ID)
	if err != nil || !cmp.Equal(got.AllowedCIDRs, []string{"192.0.2.0/24", "2001:db8::/48"}) {
		t.Errorf("tenant CIDRs = %v, %v", got.AllowedCIDRs, err)
	}
	got.AllowedCIDRs = nil
	if err := s.UpdateTenant(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TenantByID(ctx, tn.ID); got.AllowedCIDRs != nil {
		t.Errorf("tenant CIDRs after clearing = %v", got.AllowedCIDRs)
	}
	wantErr(t, "tenant with a bad CIDR", s.CreateTenant(ctx, &store.Tenant{Name: "bad", AllowedCIDRs: []string{"nope"}}), store.ErrInvalid)
	k := mustCreateKey(t, s, &store.Key{TenantID: tn.ID, Hash: hashOf("a"), AllowedCIDRs: []string{"10.1.2.3/32"}})
	if gk, err := s.KeyByID(ctx, k.ID); err != nil || !cmp.Equal(gk.AllowedCIDRs, []string{"10.1.2.3/32"}) {
		t.Errorf("key CIDRs = %v, %v", gk.AllowedCIDRs, err)
	}
	wantErr(t, "key with a bad CIDR", s.CreateKey(ctx, &store.Key{TenantID: tn.ID, Hash: hashOf("b"), AllowedCIDRs: []string{"10.0.0.1"}}), store.ErrInvalid)
}
