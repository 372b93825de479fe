package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/admin"
)

// fakeBackend records what the subcommands ask for.
type fakeBackend struct {
	specs   []admin.KeySpec
	updates []admin.TenantUpdate
	revoked []string
	noPair  bool
	// whatIf records the last what-if asked; report is its answer.
	whatIf  []string
	report  json.RawMessage
	exports []admin.ExportQuery
}

func (f *fakeBackend) CreateTenant(_ context.Context, spec admin.TenantSpec) (*admin.TenantView, error) {
	return &admin.TenantView{ID: "ten_1", Name: spec.Name, Limits: spec.Limits}, nil
}
func (f *fakeBackend) ListTenants(context.Context) ([]admin.TenantView, error) { return nil, nil }
func (f *fakeBackend) UpdateTenant(_ context.Context, name string, u admin.TenantUpdate) (*admin.TenantView, error) {
	f.updates = append(f.updates, u)
	return &admin.TenantView{ID: "ten_1", Name: name}, nil
}
func (f *fakeBackend) IssueKey(_ context.Context, spec admin.KeySpec) (*admin.IssuedView, error) {
	f.specs = append(f.specs, spec)
	iss := &admin.IssuedView{Key: admin.KeyView{ID: "key_1", TenantID: "ten_1"}, Secret: "sk-sy-test"}
	if !f.noPair {
		iss.AWSAccessKeyID, iss.AWSSecretAccessKey = "ASYTEST", "aws-secret"
	}
	return iss, nil
}
func (f *fakeBackend) ListKeys(context.Context, string) ([]admin.KeyView, error) { return nil, nil }
func (f *fakeBackend) RevokeKey(_ context.Context, id string) (*admin.KeyView, error) {
	f.revoked = append(f.revoked, id)
	return &admin.KeyView{ID: "key_1"}, nil
}
func (f *fakeBackend) RotateKey(context.Context, string, time.Duration) (*admin.IssuedView, error) {
	return nil, nil
}
func (f *fakeBackend) FindKeys(context.Context, admin.KeyQuery) ([]admin.KeyView, error) {
	return nil, nil
}
func (f *fakeBackend) UpdateKey(context.Context, string, admin.KeyUpdate) (*admin.KeyView, error) {
	return nil, nil
}
func (f *fakeBackend) Usage(context.Context, admin.UsageQuery) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}
func (f *fakeBackend) Requests(context.Context, admin.RequestQuery) (*admin.RequestPage, error) {
	return &admin.RequestPage{}, nil
}
func (f *fakeBackend) Request(_ context.Context, id string) (*admin.RequestRecord, error) {
	return &admin.RequestRecord{ID: id}, nil
}
func (f *fakeBackend) WhatIf(_ context.Context, proposed []byte, since, until string) (json.RawMessage, error) {
	f.whatIf = []string{string(proposed), since, until}
	return f.report, nil
}
func (f *fakeBackend) UsageExport(_ context.Context, q admin.ExportQuery) ([]byte, error) {
	f.exports = append(f.exports, q)
	return []byte("label,value\n"), nil
}
func (f *fakeBackend) Close() error { return nil }

func testEnv(b Backend, out *bytes.Buffer) *Env {
	return &Env{Getenv: func(string) string { return "" }, Stdout: out, Stderr: out,
		Direct: func(context.Context, string) (Backend, error) { return b, nil }}
}

func TestKeys_CreateFlags(t *testing.T) {
	b := &fakeBackend{}
	var out bytes.Buffer
	before := time.Now()
	err := Keys(t.Context(), testEnv(b, &out), []string{"create", "-config", "x.yaml", "-tenant", "acme", "-name", "ci",
		"-rpm", "1", "-tpm", "2", "-max-streams", "3", "-budget-usd", "4.5", "-budget-period", "day", "-expires", "1h",
		"-models", "gpt-*,claude-*", "-meta", "team=search,env=ci"})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.specs) != 1 {
		t.Fatalf("specs %+v", b.specs)
	}
	got := b.specs[0]
	if got.ExpiresAt == nil || got.ExpiresAt.Before(before.Add(time.Hour)) || got.ExpiresAt.After(time.Now().Add(time.Hour)) {
		t.Errorf("expires_at %v, want an hour from now", got.ExpiresAt)
	}
	got.ExpiresAt = nil
	want := admin.KeySpec{Tenant: "acme", CreateTenant: true, Name: "ci", AllowedModels: []string{"gpt-*", "claude-*"},
		Metadata: map[string]string{"team": "search", "env": "ci"},
		Limits:   admin.Limits{RPM: 1, TPM: 2, MaxStreams: 3, BudgetUSD: 4.5, BudgetPeriod: "day"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	if !strings.Contains(out.String(), "aws secret access key: aws-secret") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestKeys_CreateWithoutPairSaysWhy(t *testing.T) {
	var out bytes.Buffer
	b := &fakeBackend{noPair: true}
	if err := Keys(t.Context(), testEnv(b, &out), []string{"create", "-tenant", "acme", "-config", "x.yaml"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "aws key pair: none (SWITCHYARD_MASTER_KEY is not set here") {
		t.Errorf("-config: output lacks the reason:\n%s", out.String())
	}
	out.Reset()
	fs := NewFlags("keys create", "", &out, &out)
	addConnFlags(fs, testEnv(b, &out))
	printIssued(&out, &admin.IssuedView{Secret: "sk-sy-test"}, "acme", noPairReason(fs))
	if !strings.Contains(out.String(), "aws key pair: none (the gateway runs without SWITCHYARD_MASTER_KEY") {
		t.Errorf("-admin: output lacks the reason:\n%s", out.String())
	}
}

// TestParse_FlagsAfterArguments: `keys revoke ID -config F` works as well
// as `keys revoke -config F ID`.
func TestParse_FlagsAfterArguments(t *testing.T) {
	for _, args := range [][]string{
		{"revoke", "key_1", "-config", "x.yaml"},
		{"revoke", "-config", "x.yaml", "key_1"},
	} {
		b := &fakeBackend{}
		var out bytes.Buffer
		if err := Keys(t.Context(), testEnv(b, &out), args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if diff := cmp.Diff([]string{"key_1"}, b.revoked); diff != "" {
			t.Errorf("%v: revoked (-want +got):\n%s", args, diff)
		}
	}
}

// TestTenants_UpdateSendsOnlyGivenFlags: unset flags leave the tenant's
// values alone.
func TestTenants_UpdateSendsOnlyGivenFlags(t *testing.T) {
	b := &fakeBackend{}
	var out bytes.Buffer
	if err := Tenants(t.Context(), testEnv(b, &out), []string{"update", "acme", "-config", "x.yaml", "-tpm", "0"}); err != nil {
		t.Fatal(err)
	}
	if len(b.updates) != 1 {
		t.Fatalf("updates %+v", b.updates)
	}
	u := b.updates[0]
	if u.TPM == nil || *u.TPM != 0 || u.RPM != nil || u.BudgetUSD != nil || u.Disabled != nil {
		t.Errorf("update %+v, want only tpm=0", u)
	}
}

// TestLabels: -label sets single labels on a tenant (k= removes one) and
// adds to a new key's metadata.
func TestLabels(t *testing.T) {
	b := &fakeBackend{}
	var out bytes.Buffer
	err := Tenants(t.Context(), testEnv(b, &out), []string{"update", "acme", "-config", "x.yaml", "-label", "cost_centre=cc-42", "-label", "team="})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.updates) != 1 || b.updates[0].RPM != nil {
		t.Fatalf("updates %+v", b.updates)
	}
	if diff := cmp.Diff(map[string]string{"cost_centre": "cc-42", "team": ""}, b.updates[0].Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	err = Keys(t.Context(), testEnv(b, &out), []string{"create", "-config", "x.yaml", "-tenant", "acme", "-meta", "env=ci", "-label", "project=search"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"env": "ci", "project": "search"}, b.specs[0].Metadata); diff != "" {
		t.Errorf("key metadata (-want +got):\n%s", diff)
	}
	if err := Tenants(t.Context(), testEnv(b, &out), []string{"update", "acme", "-config", "x.yaml", "-label", "nolabel"}); err == nil {
		t.Error("-label without = accepted")
	}
}
