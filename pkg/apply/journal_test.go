package apply

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/state"
)

// slowJournal saves slowly and can fail chosen saves.
type slowJournal struct {
	mu    sync.Mutex
	st    state.State
	saves int
	delay time.Duration
	fail  map[int]bool // by save number, from 1
}

func (j *slowJournal) Update(fn func(*state.State)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.saves++
	fn(&j.st)
	time.Sleep(j.delay)
	if j.fail[j.saves] {
		return errors.New("disk full")
	}
	return nil
}

func TestGroupJournalSharesSavesAndAppliesEveryUpdate(t *testing.T) {
	inner := &slowJournal{delay: 5 * time.Millisecond}
	g := newGroupJournal(inner)
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range 50 {
		wg.Go(func() {
			errs[i] = g.Update(func(st *state.State) {
				st.Scripts = append(st.Scripts, state.Script{ID: fmt.Sprint(i)})
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("update %d: %v", i, err)
		}
	}
	if n := len(inner.st.Scripts); n != 50 {
		t.Errorf("%d updates applied, want 50", n)
	}
	if inner.saves >= 50 {
		t.Errorf("%d saves for 50 concurrent updates: none shared", inner.saves)
	}
	if g.flushing || len(g.queue) != 0 {
		t.Errorf("left flushing=%v with %d queued", g.flushing, len(g.queue))
	}
}

func TestGroupJournalFailedSaveFailsOnlyItsBatch(t *testing.T) {
	inner := &slowJournal{delay: 100 * time.Millisecond, fail: map[int]bool{2: true}}
	g := newGroupJournal(inner)
	first := make(chan error)
	go func() { first <- g.Update(func(*state.State) {}) }()
	time.Sleep(10 * time.Millisecond) // the first save is in progress
	// These three queue behind it and share the second save, which fails.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() { errs[i] = g.Update(func(*state.State) {}) })
	}
	if err := <-first; err != nil {
		t.Errorf("first save: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil || err.Error() != "disk full" {
			t.Errorf("queued update %d: %v, want the failed save's error", i, err)
		}
	}
	if inner.saves != 2 {
		t.Errorf("%d saves, want 2", inner.saves)
	}
	// The journal still works after a failure.
	if err := g.Update(func(*state.State) {}); err != nil {
		t.Errorf("after the failure: %v", err)
	}
}
