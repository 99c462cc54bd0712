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
	// Sort positions, not the changes themselves: a Change is large.
	rank := make([]int, len(changes))
	for i := range rank {
		rank[i] = i
	}
	slices.SortFunc(rank, func(a, b int) int { return compareChanges(&changes[a], &changes[b]) })
	sorted := make([]*Change, len(changes))
	index := make(map[string]int, len(changes))
	for pos, i := range rank {
		sorted[pos] = &changes[i]
		if _, dup := index[changes[i].Key]; dup {
			return nil, fmt.Errorf("plan: two changes have the key %q", changes[i].Key)
		}
		index[changes[i].Key] = pos
	}
	waiting := make([]int, len(sorted))
	var dependants map[int][]int
	for pos, c := range sorted {
		for _, k := range c.DependsOn {
			dep, ok := index[k]
			if !ok {
				return nil, fmt.Errorf("plan: change %q depends on %q, which is not in the plan", c.Key, k)
			}
			if dependants == nil {
				dependants = map[int][]int{}
			}
			waiting[pos]++
			dependants[dep] = append(dependants[dep], pos)
		}
	}
	ready := &intHeap{}
	for pos, n := range waiting {
		if n == 0 {
			*ready = append(*ready, pos)
		}
	}
	heap.Init(ready)
	out := make([]Change, 0, len(sorted))
	for ready.Len() > 0 {
		pos := heap.Pop(ready).(int)
		out = append(out, *sorted[pos])
		for _, j := range dependants[pos] {
			if waiting[j]--; waiting[j] == 0 {
				heap.Push(ready, j)
			}
		}
	}
	if len(out) != len(sorted) {
		var stuck []string
		for pos, n := range waiting {
			if n > 0 {
				stuck = append(stuck, sorted[pos].Key)
			}
		}
		slices.Sort(stuck)
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
