package admin_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// TestAdminAPI_RotateWithGrace: a rotation keeps the key's ID, returns the
// new secret and AWS pair once, and both secrets resolve to the key until
// the window the API reports.
func TestAdminAPI_RotateWithGrace(t *testing.T) {
	srv, st := newAPI(t, sqlstore.DriverSQLite)
	_, body, _ := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"acme","create_tenant":true,"budget_usd":5,"budget_period":"day","metadata":{"team":"search"}}`, ""})
	old := body["secret"].(string)
	oldAKID := body["aws_access_key_id"].(string)
	id := body["key"].(map[string]any)["id"].(string)

	st1, body, raw := do(t, srv, call{"POST", "/admin/v1/keys/" + id + "/rotate", `{"grace":"24h"}`, ""})
	if st1 != 201 {
		t.Fatalf("rotate: %d %s", st1, raw)
	}
	k := body["key"].(map[string]any)
	next := body["secret"].(string)
	if k["id"] != id || next == old || !strings.HasPrefix(next, auth.KeyPrefix) || body["aws_secret_access_key"] == nil ||
		body["aws_access_key_id"] == oldAKID || k["budget_usd"] != 5.0 || k["metadata"].(map[string]any)["team"] != "search" {
		t.Errorf("rotated key: %s", raw)
	}
	prev, _ := k["previous"].(map[string]any)
	if prev == nil || prev["aws_access_key_id"] != oldAKID || !strings.HasPrefix(old, prev["prefix"].(string)) {
		t.Fatalf("previous secret not shown: %s", raw)
	}
	until, err := time.Parse(time.RFC3339Nano, prev["valid_until"].(string))
	if err != nil || until.Sub(time.Now()) < 23*time.Hour || until.Sub(time.Now()) > 25*time.Hour {
		t.Errorf("valid_until = %v, want about 24h ahead", prev["valid_until"])
	}
	for _, secret := range []string{old, next} {
		got, err := st.KeyByHash(t.Context(), auth.HashKey(secret))
		if err != nil || got.ID != id {
			t.Errorf("lookup by a secret after rotation: %v, %v", got, err)
		}
	}
	// Listing never shows a secret, old or new.
	_, _, raw = do(t, srv, call{"GET", "/admin/v1/keys", "", ""})
	if strings.Contains(raw, old) || strings.Contains(raw, next) {
		t.Errorf("key list shows a secret: %s", raw)
	}

	for _, tc := range []struct{ body, field string }{
		{`{"grace":"soon"}`, "grace"},
		{`{"grace":"-1h"}`, "grace"},
		{`{"grace":"10000h"}`, "grace"},
		{`{"key":"` + id + `"}`, "key"},
	} {
		st, body, raw := do(t, srv, call{"POST", "/admin/v1/keys/" + id + "/rotate", tc.body, ""})
		if e, _ := body["error"].(map[string]any); st != 400 || e["field"] != tc.field {
			t.Errorf("rotate %s: %d %s, want 400 naming %s", tc.body, st, raw, tc.field)
		}
	}
	// Without a body the old secret stops at once.
	if st, body, raw := do(t, srv, call{"POST", "/admin/v1/keys/" + id + "/rotate", "", ""}); st != 201 || body["key"].(map[string]any)["previous"] != nil {
		t.Errorf("rotate without grace: %d %s", st, raw)
	}
	if _, err := st.KeyByHash(t.Context(), auth.HashKey(next)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("secret replaced without grace still found: %v", err)
	}
}

// TestService_RotateKeepsSigV4Pair: a key with an AWS pair cannot be
// rotated by a process without the master key (it would lose the pair).
func TestService_RotateKeepsSigV4Pair(t *testing.T) {
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	sealer, _ := auth.NewSealer(bytes.Repeat([]byte{7}, 32))
	iss, err := (&admin.Service{Store: st, Sealer: sealer}).IssueKey(t.Context(), admin.KeySpec{Tenant: "acme", CreateTenant: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&admin.Service{Store: st}).RotateKey(t.Context(), iss.Key.ID, time.Hour); err == nil || !strings.Contains(err.Error(), auth.MasterKeyEnv) {
		t.Errorf("rotation without a sealer: %v, want a refusal naming %s", err, auth.MasterKeyEnv)
	}
	if k, _ := st.KeyByID(t.Context(), iss.Key.ID); k.Previous != nil || !bytes.Equal(k.Hash, iss.Key.Hash) {
		t.Error("the refused rotation changed the key")
	}
}

// TestAdminAPI_LabelsAndAllowList: labels and IP allow-lists are set on
// create, changed with PATCH, validated, and labels filter the listing.
func TestAdminAPI_LabelsAndAllowList(t *testing.T) {
	srv, _ := newAPI(t, sqlstore.DriverSQLite)
	if st, _, raw := do(t, srv, call{"POST", "/admin/v1/tenants", `{"name":"acme","allowed_cidrs":["10.0.0.0/8","2001:db8::/32"]}`, ""}); st != 201 ||
		!strings.Contains(raw, `"2001:db8::/32"`) {
		t.Fatalf("tenant with allow-list: %d %s", st, raw)
	}
	_, a, _ := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"acme","metadata":{"team":"search","env":"prod"},"allowed_cidrs":["10.1.0.0/16"]}`, ""})
	_, b, _ := do(t, srv, call{"POST", "/admin/v1/keys", `{"tenant":"acme","metadata":{"team":"ads"}}`, ""})
	aID := a["key"].(map[string]any)["id"].(string)
	bID := b["key"].(map[string]any)["id"].(string)

	list := func(q string) []string {
		t.Helper()
		st, body, raw := do(t, srv, call{"GET", "/admin/v1/keys" + q, "", ""})
		if st != 200 {
			t.Fatalf("list %s: %d %s", q, st, raw)
		}
		var ids []string
		for _, k := range body["data"].([]any) {
			ids = append(ids, k.(map[string]any)["id"].(string))
		}
		return ids
	}
	if got := list("?label=team=search"); len(got) != 1 || got[0] != aID {
		t.Errorf("label team=search: %v, want [%s]", got, aID)
	}
	if got := list("?label=team=search&label=env=dev"); len(got) != 0 {
		t.Errorf("two labels, one not matching: %v, want none", got)
	}
	if st, _, raw := do(t, srv, call{"GET", "/admin/v1/keys?label=team", "", ""}); st != 400 {
		t.Errorf("label without a value: %d %s, want 400", st, raw)
	}

	st, body, raw := do(t, srv, call{"PATCH", "/admin/v1/keys/" + bID, `{"labels":{"team":"search","tier":"gold"},"allowed_cidrs":["192.0.2.0/24"],"name":"b"}`, ""})
	if st != 200 || body["name"] != "b" || body["metadata"].(map[string]any)["tier"] != "gold" || !strings.Contains(raw, "192.0.2.0/24") {
		t.Fatalf("patch: %d %s", st, raw)
	}
	if got := list("?label=team=search"); len(got) != 2 {
		t.Errorf("after relabelling: %v, want both keys", got)
	}
	if st, body, raw := do(t, srv, call{"PATCH", "/admin/v1/keys/" + bID, `{"labels":{"tier":""},"allowed_cidrs":[]}`, ""}); st != 200 ||
		body["metadata"].(map[string]any)["tier"] != nil || body["allowed_cidrs"] != nil {
		t.Errorf("removing a label and the allow-list: %d %s", st, raw)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"PATCH", "/admin/v1/keys/" + aID, `{"allowed_cidrs":["10.1.2.3/8"]}`},
		{"PATCH", "/admin/v1/keys/" + aID, `{"allowed_cidrs":["not-an-ip"]}`},
		{"POST", "/admin/v1/keys", `{"tenant":"acme","allowed_cidrs":["10.0.0.1"]}`},
		{"PATCH", "/admin/v1/tenants/acme", `{"allowed_cidrs":["300.0.0.0/8"]}`},
	} {
		st, body, raw := do(t, srv, call{tc.method, tc.path, tc.body, ""})
		if e, _ := body["error"].(map[string]any); st != 400 || e["field"] != "allowed_cidrs" {
			t.Errorf("%s %s %s: %d %s, want 400 naming allowed_cidrs", tc.method, tc.path, tc.body, st, raw)
		}
	}
	if st, _, raw := do(t, srv, call{"PATCH", "/admin/v1/keys/key_missing", `{"name":"x"}`, ""}); st != 404 {
		t.Errorf("patch unknown key: %d %s", st, raw)
	}
}

// TestRotateMasterKey re-seals every SigV4 secret, current and previous,
// under a new master key on each store, and refuses, changing nothing,
// when the old key given does not open them.
func TestRotateMasterKey(t *testing.T) {
	for _, driver := range []string{sqlstore.DriverSQLite, sqlstore.DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			st := sqlstore.OpenTestStore(t, driver)
			oldKey, newKey, otherKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
			oldS, _ := auth.NewSealer(oldKey)
			newS, _ := auth.NewSealer(newKey)
			otherS, _ := auth.NewSealer(otherKey)
			svc := &admin.Service{Store: st, Sealer: oldS}
			secrets := map[string]string{} // access key ID -> secret
			var ids []string
			for range 3 {
				iss, err := svc.IssueKey(t.Context(), admin.KeySpec{Tenant: "acme", CreateTenant: true})
				if err != nil {
					t.Fatal(err)
				}
				secrets[iss.AWSAccessKeyID] = iss.AWSSecretAccessKey
				ids = append(ids, iss.Key.ID)
			}
			// One key is mid-rotation: its previous secret is sealed too.
			iss, err := svc.RotateKey(t.Context(), ids[0], time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			secrets[iss.AWSAccessKeyID] = iss.AWSSecretAccessKey

			if _, err := svc.RotateMasterKey(t.Context(), otherS, newS); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("rotation with the wrong old key: %v, want a refusal", err)
			}
			checkOpens(t, st, oldS, secrets)

			n, err := svc.RotateMasterKey(t.Context(), oldS, newS)
			if err != nil || n != 4 {
				t.Fatalf("RotateMasterKey = %d, %v; want 4 secrets", n, err)
			}
			checkOpens(t, st, newS, secrets)
			// Run again with the now-wrong old key: refused, nothing changed.
			if _, err := svc.RotateMasterKey(t.Context(), oldS, otherS); err == nil {
				t.Fatal("a second rotation from the retired key succeeded")
			}
			checkOpens(t, st, newS, secrets)
		})
	}
}

// checkOpens checks that s opens every stored SigV4 secret to the value
// issued.
func checkOpens(t *testing.T, st *sqlstore.Store, s *auth.Sealer, secrets map[string]string) {
	t.Helper()
	for akid, want := range secrets {
		k, err := st.KeyByAccessKeyID(t.Context(), akid)
		if err != nil {
			t.Fatal(err)
		}
		sealed := k.AWSSecretSealed
		if k.AWSAccessKeyID != akid {
			sealed = k.Previous.AWSSecretSealed
		}
		got, err := s.Open(sealed)
		if err != nil || string(got) != want {
			t.Errorf("secret of %s: %q, %v; want it open under this key", akid, got, err)
		}
	}
}
