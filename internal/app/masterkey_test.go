package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/store/sqlstore"
)

// TestMasterKeyRotate runs `switchyard master-key rotate` on each store:
// every SigV4 secret, current and in a rotation's grace window, opens
// under the new key afterwards; a wrong old key, the same key twice or a
// missing key is refused and changes nothing.
func TestMasterKeyRotate(t *testing.T) {
	for _, driver := range []string{sqlstore.DriverSQLite, sqlstore.DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			dsn := sqlstore.TestDSN(t, driver)
			if driver == sqlstore.DriverSQLite {
				dsn = filepath.Join(t.TempDir(), "store.db")
			}
			cfgPath := filepath.Join(t.TempDir(), "switchyard.yaml")
			cfg := "listen: 127.0.0.1:0\nstore: {driver: " + driver + ", dsn_env: TEST_STORE_DSN}\n"
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			st, err := sqlstore.Open(ctx, driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			oldKey, newKey, wrongKey := randomKey(t), randomKey(t), randomKey(t)
			oldS, _ := auth.NewSealer(oldKey)
			newS, _ := auth.NewSealer(newKey)
			svc := &admin.Service{Store: st, Sealer: oldS}
			secrets := map[string]string{}
			var first string
			for range 3 {
				iss, err := svc.IssueKey(ctx, admin.KeySpec{Tenant: "acme", CreateTenant: true})
				if err != nil {
					t.Fatal(err)
				}
				secrets[iss.AWSAccessKeyID] = iss.AWSSecretAccessKey
				first = iss.Key.ID
			}
			iss, err := svc.RotateKey(ctx, first, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			secrets[iss.AWSAccessKeyID] = iss.AWSSecretAccessKey

			run := func(vars map[string]string, args ...string) (string, error) {
				vars["TEST_STORE_DSN"] = dsn
				var out bytes.Buffer
				err := Run(ctx, append([]string{"master-key", "rotate", "-config", cfgPath}, args...),
					func(k string) string { return vars[k] }, &out, &out)
				return out.String(), err
			}
			opens := func(s *auth.Sealer) bool {
				for akid, want := range secrets {
					k, err := st.KeyByAccessKeyID(ctx, akid)
					if err != nil {
						t.Fatal(err)
					}
					sealed := k.AWSSecretSealed
					if k.AWSAccessKeyID != akid {
						sealed = k.Previous.AWSSecretSealed
					}
					if got, err := s.Open(sealed); err != nil || string(got) != want {
						return false
					}
				}
				return true
			}
			hexKey := func(k []byte) string { return hex.EncodeToString(k) }

			for name, vars := range map[string]map[string]string{
				"wrong_old_key": {auth.MasterKeyEnv: hexKey(wrongKey), NewMasterKeyEnv: hexKey(newKey)},
				"same_key":      {auth.MasterKeyEnv: hexKey(oldKey), NewMasterKeyEnv: hexKey(oldKey)},
				"no_new_key":    {auth.MasterKeyEnv: hexKey(oldKey)},
				"bad_new_key":   {auth.MasterKeyEnv: hexKey(oldKey), NewMasterKeyEnv: "not-a-key"},
			} {
				out, err := run(vars)
				if err == nil {
					t.Errorf("%s: rotation succeeded:\n%s", name, out)
				}
				if strings.Contains(out+errString(err), hexKey(oldKey)) || strings.Contains(errString(err), hexKey(wrongKey)) {
					t.Errorf("%s: the output shows a master key: %v %s", name, err, out)
				}
				if !opens(oldS) {
					t.Fatalf("%s: a refused rotation changed the stored secrets", name)
				}
			}

			// The new key from a file (a Kubernetes secret mount), in base64.
			keyFile := filepath.Join(t.TempDir(), "new.key")
			if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(newKey)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := run(map[string]string{auth.MasterKeyEnv: hexKey(oldKey)}, "-new-file", keyFile)
			if err != nil || !strings.Contains(out, "re-sealed 4 stored secrets") {
				t.Fatalf("rotation: %v\n%s", err, out)
			}
			if !opens(newS) {
				t.Error("the new master key does not open every stored secret after the rotation")
			}
			// Run again from the retired key: refused, nothing changed.
			if _, err := run(map[string]string{auth.MasterKeyEnv: hexKey(oldKey), NewMasterKeyEnv: hexKey(wrongKey)}); err == nil {
				t.Error("a second rotation from the retired key succeeded")
			}
			if !opens(newS) {
				t.Error("a refused second rotation changed the stored secrets")
			}
		})
	}
}

func randomKey(t *testing.T) []byte {
	k := make([]byte, auth.MasterKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
