// Package bench is psync's benchmark suite: what an apply costs against the
// ideal, what a no-op plan costs against the API's pagination minimum,
// throughput under a server-side rate limit, and the memory a plan of
// 10,000 objects takes. Everything runs through the real pipeline —
// manifest.Load, remote.Client (no client rate limit unless said), plan
// Compute, apply.Run with the real state journal in a temporary directory —
// against the sandbox with injected latency.
//
// Run it all, once each (a few minutes):
//
//	go test ./bench -run '^$' -bench . -benchtime 1x
//
// Parallelism 1 applies a tenth of the manifest unless -bench-full is
// given (the whole one takes over 80 s at 20 ms). Without -bench, go test
// runs only the suite's quick self-checks.
package bench
