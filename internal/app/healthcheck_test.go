package app

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck checks that the healthcheck subcommand succeeds only on
// a 200, and that a server that never answers fails it at its deadline.
func TestHealthcheck(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.Write([]byte(`{"status":"ready"}` + "\n"))
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"unavailable","reason":"store unreachable"}`))
		case "/hang":
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(hang)
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"ready", []string{"-url", srv.URL + "/readyz"}, ""},
		{"unavailable", []string{"-url", srv.URL + "/down"}, "503 Service Unavailable"},
		{"hung", []string{"-url", srv.URL + "/hang", "-timeout", "50ms"}, "deadline exceeded"},
		{"refused", []string{"-url", "http://127.0.0.1:1/readyz"}, "refused"},
		{"bad_url", []string{"-url", "127.0.0.1:8080/readyz"}, "want an http or https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := Run(context.Background(), append([]string{"healthcheck"}, tc.args...), func(string) string { return "" }, &out, &errb)
			if tc.wantErr == "" {
				if err != nil || !strings.Contains(out.String(), "ready") {
					t.Fatalf("err %v, output %q", err, out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
