package app

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"switchyard/internal/cli"
)

var update = flag.Bool("update", false, "rewrite README.md's command list from the top-level help")

// TestHelp: every command and subcommand answers -h with its own usage
// and flags on stdout, exits 0, and writes nothing on stderr.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // in the output
		not  []string // flags of other subcommands
	}{
		{[]string{"-h"}, []string{"usage: switchyard <command>", "keys", "validate"}, nil},
		{[]string{"help"}, []string{"usage: switchyard <command>"}, nil},
		{[]string{"demo", "-h"}, []string{"usage: switchyard demo", "-data"}, nil},
		{[]string{"serve", "-h"}, []string{"usage: switchyard serve", "-config"}, nil},
		{[]string{"validate", "-h"}, []string{"usage: switchyard validate", "-config", "-env-warn"}, nil},
		{[]string{"fakecloud", "-h"}, []string{"usage: switchyard fakecloud", "-listen"}, nil},
		{[]string{"bench", "-h"}, []string{"usage: switchyard bench", "-out"}, nil},
		{[]string{"version", "-h"}, []string{"usage: switchyard version"}, nil},
		{[]string{"usage", "-h"}, []string{"usage: switchyard usage", "-by", "-json", "-since"}, nil},
		{[]string{"keys", "-h"}, []string{"usage: switchyard keys", "create", "list", "revoke", "rotate"}, nil},
		{[]string{"keys", "create", "-h"}, []string{"usage: switchyard keys create", "-tenant", "-expires", "-rpm", "-admin"}, []string{"-json"}},
		{[]string{"keys", "list", "-h"}, []string{"usage: switchyard keys list", "-tenant", "-json", "-admin", "-config"}, []string{"-expires", "-rpm", "-models"}},
		{[]string{"keys", "revoke", "-h"}, []string{"usage: switchyard keys revoke KEY_ID_OR_KEY", "-admin"}, []string{"-tenant", "-rpm"}},
		{[]string{"keys", "rotate", "-h"}, []string{"usage: switchyard keys rotate KEY_ID_OR_KEY", "-config"}, []string{"-tenant", "-rpm"}},
		{[]string{"tenants", "-h"}, []string{"usage: switchyard tenants", "create", "update", "disable", "enable"}, nil},
		{[]string{"tenants", "create", "-h"}, []string{"usage: switchyard tenants create NAME", "-rpm", "-budget-usd"}, []string{"-json"}},
		{[]string{"tenants", "list", "-h"}, []string{"usage: switchyard tenants list", "-json"}, []string{"-rpm"}},
		{[]string{"tenants", "update", "-h"}, []string{"usage: switchyard tenants update NAME", "-tpm"}, nil},
		{[]string{"tenants", "disable", "-h"}, []string{"usage: switchyard tenants disable NAME", "-admin"}, []string{"-rpm"}},
		{[]string{"tenants", "enable", "--help"}, []string{"usage: switchyard tenants enable NAME"}, []string{"-rpm"}},
		{[]string{"route", "-h"}, []string{"usage: switchyard route explain", "explain"}, nil},
		{[]string{"route", "explain", "-h"}, []string{"usage: switchyard route explain", "-model", "-traffic"}, nil},
	} {
		var out, errOut bytes.Buffer
		if err := Run(t.Context(), tc.args, func(string) string { return "" }, &out, &errOut); err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if errOut.Len() > 0 {
			t.Errorf("%v: wrote to stderr:\n%s", tc.args, errOut.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: help lacks %q:\n%s", tc.args, w, out.String())
			}
		}
		for _, n := range tc.not {
			if regexp.MustCompile(`(?m)^\s+` + n + `\b`).MatchString(out.String()) {
				t.Errorf("%v: help shows another subcommand's flag %s:\n%s", tc.args, n, out.String())
			}
		}
	}
	// Every top-level command is covered above.
	for _, c := range commands() {
		var out bytes.Buffer
		if err := Run(t.Context(), []string{c.name, "-h"}, func(string) string { return "" }, &out, &out); err != nil {
			t.Errorf("%s -h: %v", c.name, err)
		}
	}
}

// TestUsageErrors: a missing or unknown subcommand, or a bad flag, fails
// with the usage on stderr and nothing on stdout.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"keys"}, {"keys", "nope"}, {"tenants"}, {"route"}, {"route", "why"},
		{"keys", "list", "-expires", "1h"}, {"usage", "-colour"}} {
		var out, errOut bytes.Buffer
		err := Run(t.Context(), args, func(string) string { return "" }, &out, &errOut)
		if err == nil {
			t.Errorf("%v: succeeded", args)
		}
		if out.Len() > 0 || !strings.Contains(errOut.String(), "usage: switchyard") {
			t.Errorf("%v: stdout %q, stderr %q; want the usage on stderr only", args, out.String(), errOut.String())
		}
	}
}

// TestREADMECommandList: README's command list is the top-level help, and
// every -by list in README and the help is the one usage accepts.
func TestREADMECommandList(t *testing.T) {
	const path = "../../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)(<!-- commands:[^\n]*\n```\n)(.*?)(```\n<!-- end commands -->)")
	m := re.FindSubmatchIndex(data)
	if m == nil {
		t.Fatal("README.md has no <!-- commands --> block")
	}
	want := usageText()
	if *update {
		out := append(append(append([]byte{}, data[:m[3]]...), want...), data[m[5]:]...)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := string(data[m[4]:m[5]]); got != want {
		t.Errorf("README.md's command list differs from the help; run go test ./internal/app -run TestREADMECommandList -update\nREADME:\n%s\nhelp:\n%s", got, want)
	}
	var usageHelp bytes.Buffer
	if err := Run(t.Context(), []string{"usage", "-h"}, func(string) string { return "" }, &usageHelp, &usageHelp); err != nil {
		t.Fatal(err)
	}
	for _, g := range strings.Split(cli.UsageGroups, "|") {
		if !strings.Contains(usageHelp.String(), g) {
			t.Errorf("usage -h does not list -by %s", g)
		}
	}
	for _, doc := range []struct{ name, text string }{{"README.md", string(data)}, {"help", want}} {
		lists := regexp.MustCompile(`-by ([a-z]+(?:\|[a-z]+)+)`).FindAllStringSubmatch(doc.text, -1)
		if len(lists) == 0 {
			t.Errorf("%s lists no -by values", doc.name)
		}
		for _, l := range lists {
			if l[1] != cli.UsageGroups {
				t.Errorf("%s lists -by %s, want %s", doc.name, l[1], cli.UsageGroups)
			}
		}
	}
}
