package console

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// issueKey issues a key for tenant through the admin API.
func issueKey(t *testing.T, ctx context.Context, g *Gateway, tenant string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", g.AdminURL+"/admin/v1/keys", strings.NewReader(`{"tenant":"`+tenant+`","name":"traffic"}`))
	req.Header.Set("Authorization", "Bearer "+g.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Secret string `json:"secret"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("issuing a key: %d %v", resp.StatusCode, err)
	}
	return out.Secret
}
