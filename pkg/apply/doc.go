// Package apply executes a plan.Plan against the API.
//
// The plan is a dependency graph (Change.DependsOn): a script's create comes
// before its assigns, unassigns before the script's delete, a template
// replace creates the new template before deleting the old one. Run walks
// that graph with bounded concurrency (errgroup.SetLimit): a change starts
// as soon as its own dependencies are done, never waiting for a whole
// "phase". A failed change skips only its transitive dependants.
//
// Every successful write is journaled into the state (Journal) before the
// change is reported done and before its dependants start, so an apply
// killed at any moment leaves a state that records exactly what was done,
// and the next plan shows what remains. The state journal appends each
// change to a journal file and shares one sync among the updates that
// arrive while a sync is in progress (group commit, see state.Journal),
// and a change waiting for its sync has already given its API slot to the
// next change: an apply runs at the API's pace.
//
// A dry run walks the same executor with a Writer that records and
// succeeds; CheckPreconditions refuses a saved plan whose objects moved.
package apply
