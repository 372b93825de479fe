package app

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at link time by `make build` (-ldflags -X), for builds from a source
// tree without VCS metadata or to name a release. When unset, Version
// falls back to what the Go toolchain recorded in the build info.
var (
	version string
	commit  string
	date    string
)

// buildVersion is what `switchyard version` reports.
type buildVersion struct {
	Version  string // a release, a module pseudo-version, or "devel"
	Commit   string // VCS revision, "" when unknown
	Modified bool   // built from a tree with uncommitted changes
	Date     string // commit time (RFC 3339), "" when unknown
}

// Version is the one-line answer of `switchyard version`.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionOf(bi, version, commit, date).String()
}

// versionOf merges the linker-set values (which win) with the build info.
// A `go build` inside a checkout records vcs.revision, vcs.time and
// vcs.modified; `go run` and tests record none, and Main.Version is then
// "(devel)", which is reported as "devel".
func versionOf(bi *debug.BuildInfo, ldVersion, ldCommit, ldDate string) buildVersion {
	v := buildVersion{Version: ldVersion, Commit: ldCommit, Date: ldDate}
	if bi != nil {
		if v.Version == "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if ldCommit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				if ldDate == "" {
					v.Date = s.Value
				}
			case "vcs.modified":
				if ldCommit == "" {
					v.Modified = s.Value == "true"
				}
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	return v
}

func (v buildVersion) String() string {
	c := v.Commit
	switch {
	case c == "":
		c = "unknown"
	case len(c) > 12 && !strings.ContainsAny(c, "-+"):
		c = c[:12]
	}
	if v.Modified {
		c += " (modified)"
	}
	d := v.Date
	if d == "" {
		d = "unknown"
	}
	return fmt.Sprintf("%s commit %s built %s %s %s/%s", v.Version, c, d, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// selfCommand is how a user runs this program again from a shell: `go run
// ./cmd/switchyard` when it was started by `go run` (whose binary lives in
// the go-build cache and is gone when it exits), the bare name when that
// name on PATH is this binary, and its absolute path otherwise.
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "switchyard"
	}
	return commandFor(exe, exec.LookPath)
}

func commandFor(exe string, lookPath func(string) (string, error)) string {
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	sep := string(filepath.Separator)
	if strings.Contains(exe, sep+"go-build") && strings.Contains(exe, sep+"exe"+sep) {
		return "go run ./cmd/switchyard"
	}
	base := filepath.Base(exe)
	if onPath, err := lookPath(base); err == nil {
		if resolved, err := filepath.EvalSymlinks(onPath); err == nil && resolved == exe {
			return base
		}
	}
	if strings.ContainsAny(exe, " '\"$`\\") {
		return "'" + strings.ReplaceAll(exe, "'", `'\''`) + "'"
	}
	return exe
}
