package main

import "errors"

// ValidateCmd is being built; see the issue that owns cmd/psync/validate.go.
type ValidateCmd struct{}

// Run reports that the command is not built yet.
func (c *ValidateCmd) Run() error { return errors.New("validate: not built yet") }
