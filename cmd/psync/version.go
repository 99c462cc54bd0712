package main

import (
	"fmt"
	"runtime/debug"
)

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints psync's version, taken from the build information.
func (c *VersionCmd) Run(streams *IO) error {
	fmt.Fprintf(streams.Stdout, "psync %s\n", version())
	return nil
}

// version is the module version psync was installed at (go install
// ...@v1.2.3), or for a build from a checkout "(devel)" with the commit it
// was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
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
		return "(devel)"
	}
	return fmt.Sprintf("(devel, commit %.12s%s)", revision, modified)
}
