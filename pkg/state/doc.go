// Package state reads and writes psync's state file (psync.state.json):
// the record of which remote objects psync owns and of what it cannot read
// back from the API (body hashes, the last pushed bodies, assignments in the
// spec dialect, preventDestroy).
//
// The remote is the source of truth for everything the API returns; the
// state only fills the gaps. A missing state file is not an error: it owns
// nothing and knows no hashes. Writes are atomic (temp file + rename), an
// exclusive lock keeps two applies apart, and a state is never used against
// another API URL or team.
//
// A body that holds a secret (a sensitive script, or one with fromEnv
// variables) is recorded by a keyed fingerprint (FingerprintKey), never by
// a bare hash, which would give a short secret back; the key is derived
// from a secret psync holds and is never stored.
//
// During an apply, Journal appends each change to a journal file beside
// the state file (JournalPath) and folds it into the state file at the
// end; Load replays a journal that a killed apply left behind.
//
// The package knows nothing about HTTP, manifests or plans.
package state
