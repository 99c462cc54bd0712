package main

import "errors"

// ApplyCmd is being built; see the issue that owns cmd/psync/apply.go.
type ApplyCmd struct{}

// Run reports that the command is not built yet.
func (c *ApplyCmd) Run() error { return errors.New("apply: not built yet") }
