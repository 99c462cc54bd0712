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
// Where a state lives is a Backend (Open): File, the state file above and
// the default, or S3, one object in S3-compatible storage with a lock
// object beside it, created with If-None-Match, and every write a
// compare-and-swap on the ETag (If-Match). Each backend's Journal records an
// apply's changes as its storage allows: the file's on disk before each
// change counts as done; S3's group-committed into a whole-state PUT at
// most every FlushInterval, and the rest at Close.
//
// The package knows nothing about manifests or plans, nor about the
// Paperspace API; it talks to S3 through the AWS SDK.
package state
