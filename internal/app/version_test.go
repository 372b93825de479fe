package app

import (
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionOf(t *testing.T) {
	vcs := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name                string
		bi                  *debug.BuildInfo
		ldV, ldC, ldD       string
		wantPrefix, wantNot string
	}{
		{"go_build_in_checkout", vcs, "", "", "", "devel commit 0123456789ab (modified) built 2026-12-01T10:00:00Z", "(devel)"},
		{"go_run", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "", "", "", "devel commit unknown built unknown", "(devel)"},
		{"go_install_at_version", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "", "", "", "v1.4.0 commit unknown", ""},
		{"make_build", vcs, "v1.5.0", "fedcba9876543210fedcba9876543210fedcba98", "2026-12-02T00:00:00Z",
			"v1.5.0 commit fedcba987654 built 2026-12-02T00:00:00Z go", "modified"},
		{"no_build_info", nil, "", "", "", "devel commit unknown", ""},
	} {
		got := versionOf(tc.bi, tc.ldV, tc.ldC, tc.ldD).String()
		if !strings.HasPrefix(got, tc.wantPrefix) || (tc.wantNot != "" && strings.Contains(got, tc.wantNot)) {
			t.Errorf("%s: %q, want prefix %q without %q", tc.name, got, tc.wantPrefix, tc.wantNot)
		}
	}
}

// TestCommandFor: the demo banner's command lines work as pasted: go run
// when started by go run, the bare name when PATH finds this binary, its
// absolute path otherwise.
func TestCommandFor(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "switchyard")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	notFound := func(string) (string, error) { return "", errors.New("not found") }
	onPath := func(string) (string, error) { return bin, nil }
	other := func(string) (string, error) { return "/usr/bin/switchyard", nil }
	for _, tc := range []struct {
		exe  string
		look func(string) (string, error)
		want string
	}{
		{"/tmp/go-build123456/b001/exe/switchyard", notFound, "go run ./cmd/switchyard"},
		{bin, onPath, "switchyard"},
		{bin, other, bin},
		{bin, notFound, bin},
		{"/opt/my tools/switchyard", notFound, "'/opt/my tools/switchyard'"},
	} {
		if got := commandFor(tc.exe, tc.look); got != tc.want {
			t.Errorf("commandFor(%q) = %q, want %q", tc.exe, got, tc.want)
		}
	}
}
