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

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok || info.Main.Version == "" {
		return "(devel)"
	}
	return info.Main.Version
}
