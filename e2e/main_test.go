package e2e

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs up to 16 parallel tests unless -parallel says otherwise:
// the chaos seeds mostly wait on injected latency, not on the 2 CPUs a CI
// runner has.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "16")
	}
	os.Exit(m.Run())
}
