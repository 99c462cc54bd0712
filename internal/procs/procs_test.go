package procs

import (
	"runtime"
	"testing"
)

func TestRaise(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))

	runtime.GOMAXPROCS(2)
	t.Setenv("GOMAXPROCS", "")
	if got := Raise(); got != Floor {
		t.Errorf("from 2: Raise() = %d, want %d", got, Floor)
	}

	runtime.GOMAXPROCS(Floor + 4)
	if got := Raise(); got != Floor+4 {
		t.Errorf("from %d: Raise() = %d, want it left alone", Floor+4, got)
	}

	runtime.GOMAXPROCS(1)
	t.Setenv("GOMAXPROCS", "1")
	if got := Raise(); got != 1 {
		t.Errorf("with GOMAXPROCS=1 set: Raise() = %d, want the user's 1", got)
	}
}
