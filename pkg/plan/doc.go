// Package plan computes what psync would change, as data.
//
// Compute is a pure function of the desired state (the manifest), the
// remote snapshot and the state file: no I/O, no clock, no randomness. Its
// result is an ordered list of Changes (create, adopt, update, replace,
// delete, assign, unassign, forget), each with the reasons for it, the remote
// fingerprint it was planned against and the changes it depends on, plus
// the unmanaged objects and the safety findings that make a plan unsafe.
//
// Identity is by name within a kind, pinned by the id the state records.
// The remote is the source of truth for what the API returns (names,
// runOnce, isEnabled, notes, source machines and, in the live dialect,
// assignments); the state fills the gaps: body hashes and, in the spec
// dialect, the assignments psync made.
//
// Choices this package makes where DESIGN.md is silent:
//   - A remote object that is not owned but is found under one of a
//     manifest entry's previousNames is adopted (action adopt, reason
//     "renamed from OLD"): it is renamed and recorded in the state. An owned
//     one is updated in place.
//   - maxDeletePercent counts deletes only (a replace keeps the number of
//     objects; preventDestroy covers protected ones), against every remote
//     object of that kind, owned or not, for kinds with at least 10 remote
//     objects. The value is taken literally: 0 forbids any delete there.
//   - In the live dialect templates have no note, so notes are not
//     compared there (the API could never make them equal).
//   - Changing only preventDestroy or sensitive is an update: the state
//     must learn it, and an update is how the state learns anything.
//     After.PreventDestroy is the protection the object has after the
//     change (the manifest's), which the applier records; Change.Protected
//     on a delete or replace is whether the destroy is protected (manifest
//     or state), and on the others the same as After.PreventDestroy.
//   - In the spec dialect an adopted script's assignments are unknown:
//     every machine the manifest lists is assigned (assign is idempotent)
//     and nothing is unassigned. Deleting a script plans no unassigns (the
//     delete removes them); its machines are in AffectedMachines.
//   - An owned object whose name is now matched by ignore is never
//     deleted: it gets a forget change (psync stops managing it, which is
//     how one lets go of an object without deleting it) and is listed as
//     an ignored unmanaged object. Once forgotten it is not deleted later
//     either, when the name is no longer ignored (except with prune).
//   - An owned object that is gone from the remote (deleted outside psync,
//     or by an apply killed before it journaled the delete) gets a forget
//     change: the applier drops it from the state and calls nothing. It is
//     not a destroy (no safety rule counts it). Without it the state would
//     keep the object for ever once the manifest no longer names it.
//   - Deletes and forgets whose key collides with another change (a pruned
//     duplicate name, a deposed template, a drifted object created again)
//     get the key "KIND/NAME#ID".
//
// Drift is compared three ways. For every owned object still on the
// remote, each attribute the API returns (name, runOnce, isEnabled, a
// template's source machine and note where the API has notes, a script's
// machines where the API exposes assignments) is compared between the
// state (what psync last applied) and the remote (what it is now). Every
// difference is a Drift, whether or not the manifest changed too, with the
// Resolution the manifest implies: revert, keep, delete or forget. A
// change that undoes one says so in its reason ("… (reverts a change made
// outside psync)"). Bodies cannot be read back: Plan.BodiesUnreadable says
// so, once, and apply --replace script/NAME pushes a body again.
//
// A template is an image made from its source machine: replacing or
// deleting one touches no machine, so template changes carry no
// AffectedMachines; a script delete lists the machines it stops
// configuring.
//
// Machines (machines.go): where the snapshot lists the team's machines,
// every machine id of the manifest is checked (an unknown one is an error
// at its file:line:column, with a suggestion) and the selectors of
// assignments are resolved; a machine matched by a selector is wanted like
// one listed by id. Choices made where the issue is silent:
//   - A template that exists with its machineId is not checked: its
//     source machine may have been deleted since, which does not matter.
//   - A machine is warned about when it is being deleted (dtDeleted) or in
//     a state psync does not know; selectors skip machines being deleted,
//     and a script on one is left there (unassigning it would only fail;
//     its assignments go with it).
//   - A selector's identity, in the state's record, is its canonical text
//     ("machineType=A100,region=ny2", a value holding , = or " quoted).
//     A selector new to the manifest that matches nothing, where a
//     recorded one is gone whose machines the plan unassigns, is treated
//     as an edit with a typo: refused like a selector that matched
//     machines and matches none now. Both apply only where the plan
//     unassigns machines the selector matched: not where another
//     selector or an id still wants them all, nor where they were
//     deleted from the team (a decommissioned fleet unassigns nothing).
//   - Machines in a state psync does not know are warned of five per
//     selector, the rest counted in one warning.
//   - Per-script maxDeletePercent counts the unassigns of machines a
//     selector matched at the last apply, for scripts on at least 10
//     machines, as the kinds' rule does for kinds of at least 10 objects.
//   - A machine deleted from the team takes its assignments along: the
//     state's record is refreshed, and it is not shown as drift.
//
// Saved plans (Write, Read) are versioned JSON. The body of a sensitive
// script is never written to them: applying a saved plan with sensitive
// scripts needs the manifest that produced it, whose bodies
// FillBodies puts back after checking their fingerprints. The same holds
// for the values of fromEnv variables: a saved plan shows and stores
// "<secret from $VAR>" in their place.
package plan
