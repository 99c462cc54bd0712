package main

import "errors"

// SchemaCmd is being built; see the issue that owns cmd/psync/schema.go.
type SchemaCmd struct{}

// Run reports that the command is not built yet.
func (c *SchemaCmd) Run() error { return errors.New("schema: not built yet") }
