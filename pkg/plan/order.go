package plan

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strings"
)

// compareChanges is the order of independent changes: scripts, templates,
// assignments; then by action (create, adopt, update, replace, delete,
// assign, unassign); then by name, machine and key.
func compareChanges(a, b *Change) int {
	return cmp.Or(
		cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)),
		cmp.Compare(a.Action, b.Action),
		strings.Compare(a.Name, b.Name),
		strings.Compare(a.Machine, b.Machine),
		strings.Compare(a.Key, b.Key),
	)
}

// order sorts changes so that every change comes after the changes it
// depends on, and otherwise by compareChanges: the smallest change whose
// dependencies are done comes next (Kahn's algorithm with a heap), so the
// order is the same whatever order the changes came in.
func order(changes []Change) ([]Change, error) {
	slices.SortFunc(changes, func(a, b Change) int { return compareChanges(&a, &b) })
	index := make(map[string]int, len(changes))
	for i, c := range changes {
		if _, dup := index[c.Key]; dup {
			return nil, fmt.Errorf("plan: two changes have the key %q", c.Key)
		}
		index[c.Key] = i
	}
	waiting := make([]int, len(changes))
	dependants := map[int][]int{}
	for i, c := range changes {
		for _, k := range c.DependsOn {
			j, ok := index[k]
			if !ok {
				return nil, fmt.Errorf("plan: change %q depends on %q, which is not in the plan", c.Key, k)
			}
			waiting[i]++
			dependants[j] = append(dependants[j], i)
		}
	}
	ready := &intHeap{}
	for i, n := range waiting {
		if n == 0 {
			*ready = append(*ready, i)
		}
	}
	heap.Init(ready)
	out := make([]Change, 0, len(changes))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		out = append(out, changes[i])
		for _, j := range dependants[i] {
			if waiting[j]--; waiting[j] == 0 {
				heap.Push(ready, j)
			}
		}
	}
	if len(out) != len(changes) {
		var stuck []string
		for i, n := range waiting {
			if n > 0 {
				stuck = append(stuck, changes[i].Key)
			}
		}
		return nil, fmt.Errorf("plan: dependency cycle among %s", strings.Join(stuck, ", "))
	}
	return out, nil
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
