// Package e2e proves psync's promise — apply is safe to re-run, never
// duplicates, never loses track — with tests that can fail:
//
//   - chaos convergence (chaos_test.go): random manifests and random edits
//     applied through the same library calls as the CLI against a sandbox
//     injecting ~20% faults; after at most two applies per step the remote,
//     the state and a fresh plan all agree with the manifest.
//   - crash safety (crash_test.go): the real psync binary killed with
//     SIGKILL at random points of a 500-change apply, then re-run.
//   - concurrency (crash_test.go): two applies on one state file.
//
// A failing chaos seed is rerun alone with
//
//	go test ./e2e -run TestChaos -seed N
//
// The package holds only tests; this file exists for its documentation.
package e2e
