// Package sandbox is an embedded emulator of the Paperspace Templates &
// Startup Scripts API, so psync can be run and tested end to end with no
// account.
//
// It speaks one of two dialects. "spec" (the default) implements every
// operation of api/openapi.yaml with its schemas and status codes.
// "paperspace-v1" serves the live API's shapes instead (see
// ../shared/paperspace-v1-notes.md and api/paperspace-v1.yaml):
// envelope lists with cursors, isRunOnce and assignedMachineIds, 200 for
// every success, asynchronous template creation polled at
// /machine-events/{id}, /auth/session, and the machine list at /machines.
//
// Both keep teams apart by API key, seed machines psbox001… per team
// (A100 training boxes, A4000 inference boxes, CPU notebooks, see
// machines.go; /_sandbox/machines adds, changes and removes them while
// the sandbox runs) and a fixed OS-template catalogue, and persist their data in a bbolt file when
// given a directory (which is then locked against a second server). For
// tests and benchmarks the sandbox injects faults (latency, errors,
// throttling, a real per-key rate limit, and "ambiguous" writes that happen
// but answer with a failure) deterministically under a seed, and it exposes
// what it saw under /v1/_sandbox/: dump (a team's data, bodies and
// assignments included), stats (counts by route and status, peak
// concurrency), requests (the ordered request log) and reset.
//
// The sandbox shares only the wire types of pkg/api with the client
// (pkg/remote): it is an independent implementation of the contract, so a
// mistake in one is caught by the other.
package sandbox
