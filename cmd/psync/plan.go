package main

import "errors"

// PlanCmd is being built; see the issue that owns cmd/psync/plan.go.
type PlanCmd struct{}

// Run reports that the command is not built yet.
func (c *PlanCmd) Run() error { return errors.New("plan: not built yet") }
