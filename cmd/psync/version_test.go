package main

import (
	"os/exec"
	"strings"
	"testing"
)

// A build without the commit in its build information (go run,
// -buildvcs=false, this test binary) finds it with git in the checkout it
// was compiled from; outside a git work tree there is none.
func TestVersionTakesTheCommitFromGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	if got := gitCommit(t.TempDir()); got != "" {
		t.Errorf("commit of a directory outside any repository = %q, want none", got)
	}
	out, err := exec.Command("git", "-C", sourceDir(), "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("the source is not a git checkout: %v", err)
	}
	want := strings.TrimSpace(string(out))
	if got := gitCommit(sourceDir()); got != want {
		t.Errorf("gitCommit(source) = %q, want %q", got, want)
	}
	if _, ok := buildVersion(); !ok {
		if v := fullVersion(); v != "(devel, commit "+want[:12]+")" {
			t.Errorf("fullVersion() = %q, want the commit %.12s", v, want)
		}
	}
}
