package apply_test

import (
	"github.com/psync-dev/psync/pkg/plan"
)

// Builders of plan changes as the planner makes them.

func ptr[T any](v T) *T { return &v }

func scriptAttrs(name, body string) *plan.Attributes {
	return &plan.Attributes{Name: name, Body: ptr(body), RunOnce: ptr(false), IsEnabled: ptr(true)}
}

func createScript(name string) plan.Change {
	return plan.Change{Key: "script/" + name, Kind: plan.KindScript, Action: plan.Create, Name: name,
		After: scriptAttrs(name, "echo "+name+"\n")}
}

func updateScript(id, name, body string) plan.Change {
	return plan.Change{Key: "script/" + name, Kind: plan.KindScript, Action: plan.Update, Name: name, ID: id,
		Before: &plan.Attributes{Name: name}, After: scriptAttrs(name, body),
		Precondition: plan.Precondition{Exists: true}}
}

func deleteScript(id, name string, deps ...string) plan.Change {
	return plan.Change{Key: "script/" + name, Kind: plan.KindScript, Action: plan.Delete, Name: name, ID: id,
		Before: &plan.Attributes{Name: name}, Precondition: plan.Precondition{Exists: true}, DependsOn: deps}
}

// assign assigns a script; id is empty when the plan creates the script.
func assign(id, script, machine string) plan.Change {
	c := plan.Change{Key: "assignment/" + script + "/" + machine, Kind: plan.KindAssignment, Action: plan.Assign,
		Name: script, ID: id, Machine: machine}
	if id == "" {
		c.DependsOn = []string{"script/" + script}
	}
	return c
}

func unassign(id, script, machine string) plan.Change {
	return plan.Change{Key: "assignment/" + script + "/" + machine, Kind: plan.KindAssignment, Action: plan.Unassign,
		Name: script, ID: id, Machine: machine, Precondition: plan.Precondition{Exists: true}}
}

func createTemplate(name, machine string) plan.Change {
	return plan.Change{Key: "template/" + name, Kind: plan.KindTemplate, Action: plan.Create, Name: name,
		After: &plan.Attributes{Name: name, MachineID: machine}}
}

func replaceTemplate(id, name, oldMachine, newMachine string) plan.Change {
	return plan.Change{Key: "template/" + name, Kind: plan.KindTemplate, Action: plan.Replace, Name: name, ID: id,
		Before:       &plan.Attributes{Name: name, MachineID: oldMachine},
		After:        &plan.Attributes{Name: name, MachineID: newMachine},
		Precondition: plan.Precondition{Exists: true}, AffectedMachines: []string{oldMachine}}
}

func deleteTemplate(id, name string) plan.Change {
	return plan.Change{Key: "template/" + name, Kind: plan.KindTemplate, Action: plan.Delete, Name: name, ID: id,
		Before: &plan.Attributes{Name: name}, Precondition: plan.Precondition{Exists: true}}
}

func newPlan(changes ...plan.Change) *plan.Plan {
	return &plan.Plan{FormatVersion: plan.FormatVersion, APIURL: "http://127.0.0.1/v1", Changes: changes}
}
