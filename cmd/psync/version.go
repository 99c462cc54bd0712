package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kong"
)

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints psync's version, taken from the build information, or from
// git for a build that has none (go run, -buildvcs=false).
func (c *VersionCmd) Run(streams *IO) error {
	fmt.Fprintf(streams.Stdout, "psync %s\n", fullVersion())
	return nil
}

// versionFlag is --version: it prints what the version command prints and
// exits. (kong.VersionFlag would take the text at parse time of every
// command, and finding the commit may run git.)
type versionFlag bool

// BeforeApply prints the version and exits.
func (versionFlag) BeforeApply(app *kong.Kong) error {
	fmt.Fprintf(app.Stdout, "psync %s\n", fullVersion())
	app.Exit(0)
	return nil
}

// version is the module version psync was installed at (go install
// ...@v1.2.3), or for a build from a checkout "(devel, commit …)" with the
// commit the build information records, or "(devel)" when it records none.
// It never runs anything: it goes into every request's User-Agent.
func version() string {
	v, _ := buildVersion()
	return v
}

// fullVersion is version, with the commit taken from git when the build
// information lacks it (go run and -buildvcs=false record none), or
// "unknown commit": never a bare "(devel)".
var fullVersion = sync.OnceValue(func() string {
	v, ok := buildVersion()
	if ok {
		return v
	}
	if rev := gitCommit(sourceDir()); rev != "" {
		return fmt.Sprintf("(devel, commit %.12s)", rev)
	}
	return "(devel, unknown commit)"
})

// buildVersion reads the build information; ok is false when it says
// neither a module version nor a commit.
func buildVersion() (string, bool) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)", false
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v, true
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if revision == "" {
		return "(devel)", false
	}
	return fmt.Sprintf("(devel, commit %.12s%s)", revision, modified), true
}

// sourceDir is the directory psync was compiled from, when the binary
// knows it (not with -trimpath): the checkout a go run builds.
func sourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	return filepath.Dir(file)
}

var commitHash = regexp.MustCompile(`^[0-9a-f]{40,64}$`)

// gitCommit is the commit checked out in dir, or "" when dir is not in a
// git work tree or git is not installed. Only rev-parse runs: it reads the
// repository and runs none of its hooks.
func gitCommit(dir string) string {
	if dir == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	if !commitHash.MatchString(rev) {
		return ""
	}
	return rev
}
