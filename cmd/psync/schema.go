package main

import (
	"github.com/psync-dev/psync/pkg/manifest"
)

// SchemaCmd prints the manifest's JSON Schema, for editors
// (yaml-language-server) and CI checks.
type SchemaCmd struct{}

// Run prints the JSON Schema (draft 2020-12) generated from the manifest's
// Go types.
func (c *SchemaCmd) Run(streams *IO) error {
	b, err := manifest.Schema()
	if err != nil {
		return err
	}
	_, err = streams.Stdout.Write(b)
	return err
}
