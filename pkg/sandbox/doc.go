// Package sandbox is an embedded emulator of the Paperspace Templates &
// Startup Scripts API (api/openapi.yaml), so psync can be run and tested end
// to end with no account.
//
// It implements every operation of the spec with its schemas and status
// codes, keeps teams apart by API key, seeds machines psbox001… per team and
// a fixed OS-template catalogue, and persists its data in a bbolt file when
// given a directory. For tests and benchmarks it injects faults (latency,
// errors, throttling, a real per-key rate limit, and "ambiguous" writes that
// happen but answer with a failure) deterministically under a seed, and it
// exposes what it saw under /v1/_sandbox/: dump, stats, requests and reset.
//
// The sandbox shares only the wire types of pkg/api with the client
// (pkg/remote): it is an independent implementation of the contract, so a
// mistake in one is caught by the other.
package sandbox
