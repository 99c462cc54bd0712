package main

import "errors"

// SandboxCmd is being built; see the issue that owns cmd/psync/sandbox.go.
type SandboxCmd struct{}

// Run reports that the command is not built yet.
func (c *SandboxCmd) Run() error { return errors.New("sandbox: not built yet") }
