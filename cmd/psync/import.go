package main

import "errors"

// ImportCmd is being built; see the issue that owns cmd/psync/import.go.
type ImportCmd struct{}

// Run reports that the command is not built yet.
func (c *ImportCmd) Run() error { return errors.New("import: not built yet") }
