//go:build race

package sandbox_test

// raceEnabled lets the slowest tests scale down under the race detector,
// which makes every request about ten times as costly.
const raceEnabled = true
