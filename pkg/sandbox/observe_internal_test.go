package sandbox

import "testing"

// TestRequestLogIsBounded fills the log past MaxRequestLog and expects the
// last MaxRequestLog records, in order, and the count of the dropped ones.
func TestRequestLogIsBounded(t *testing.T) {
	o := newObserver()
	const extra = 1234
	for range MaxRequestLog + extra {
		seq := o.begin()
		o.end(RequestRecord{Seq: seq, Method: "GET", Route: "/x", Status: 200})
	}
	log := o.requests()
	if len(log.Requests) != MaxRequestLog || log.Dropped != extra {
		t.Fatalf("%d records, %d dropped; want %d, %d", len(log.Requests), log.Dropped, MaxRequestLog, extra)
	}
	for i, r := range log.Requests {
		if want := uint64(extra + i + 1); r.Seq != want {
			t.Fatalf("record %d has seq %d, want %d", i, r.Seq, want)
		}
	}
	if st := o.stats(); st.Total != MaxRequestLog+extra || st.Requests["GET /x"][200] != MaxRequestLog+extra {
		t.Errorf("stats %+v", st)
	}
	o.reset()
	if log := o.requests(); len(log.Requests) != 0 || log.Dropped != 0 {
		t.Errorf("after reset: %d records, %d dropped", len(log.Requests), log.Dropped)
	}
}
