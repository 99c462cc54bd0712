package remote_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/remote"
)

// TestEndlessAndMalformedLists: hostile list answers end in a clear error,
// in a bounded number of requests, never in an endless walk, an empty
// team or a half-read object the plan would replace or delete.
func TestEndlessAndMalformedLists(t *testing.T) {
	page := func(items string, more bool, next string) string {
		return fmt.Sprintf(`{"items":[%s],"hasMore":%v,"nextPage":%q}`, items, more, next)
	}
	tests := []struct {
		name    string
		path    string // which list; "" is scripts
		answer  func(n int, after string) string
		wantErr string
	}{
		{"cursor cycles", "", func(n int, after string) string {
			// a → b → c → a: each cursor differs from the last one.
			next := map[string]string{"": "a", "a": "b", "b": "c", "c": "a"}[after]
			return page(fmt.Sprintf(`{"id":"s%d","name":"n%d"}`, n, n), true, next)
		}, "comes back after"},
		{"page adds nothing new", "", func(n int, after string) string {
			return page(`{"id":"s1","name":"a"}`, true, fmt.Sprintf("c%d", n))
		}, "adds no new item"},
		{"endless new ids (live)", "", func(n int, after string) string {
			var items []string
			for i := range 120 {
				items = append(items, fmt.Sprintf(`{"id":"s%d_%d","name":"n%d_%d"}`, n, i, n, i))
			}
			return page(strings.Join(items, ","), true, fmt.Sprintf("c%d", n))
		}, "more than 100000 items"},
		{"endless new ids (spec)", "", func(n int, after string) string {
			var items []string
			for i := range 120 {
				items = append(items, fmt.Sprintf(`{"id":"s%d_%d","name":"n%d_%d"}`, n, i, n, i))
			}
			return "[" + strings.Join(items, ",") + "]"
		}, "more than 100000 items"},
		{"endless empty pages", "", func(n int, after string) string {
			return page("", true, fmt.Sprintf("c%d", n))
		}, "adds no new item"},
		{"error envelope with empty items", "", func(int, string) string {
			return `{"items":[],"hasMore":false,"code":"UNAUTHORIZED","message":"team suspended"}`
		}, "UNAUTHORIZED: team suspended"},
		{"script without a name", "", func(int, string) string {
			return `[{"id":"s1","name":"a"},{"id":"s2"}]`
		}, `(id "s2") has no name`},
		{"template without a source machine", "/custom-templates", func(int, string) string {
			return `[{"id":"t1","name":"gpu"}]`
		}, `(id "t1") has no source machine`},
		{"template without a name", "/custom-templates", func(int, string) string {
			return `{"items":[{"id":"t1","parentMachineId":"ps1"}],"hasMore":false}`
		}, `(id "t1") has no name`},
		{"machine without a name", "/machines", func(int, string) string {
			// A selector on names would unassign it as if it were renamed.
			return `{"items":[{"id":"psbox001","name":"train-1"},{"id":"psbox002","name":null,"machineType":"A100"}],"hasMore":false}`
		}, `(id "psbox002") has no name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			path := "/v1" + tt.path
			if tt.path == "" {
				path = "/v1/startup-scripts"
			}
			url := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path != path {
					w.Write([]byte(`[]`))
					return
				}
				n := int(requests.Add(1))
				w.Write([]byte(tt.answer(n, r.URL.Query().Get("after"))))
			})
			c, err := remote.New(remote.Config{BaseURL: url, APIKey: hostileKey, MaxAttempts: 1, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			switch tt.path {
			case "":
				_, err = c.ListScripts(context.Background())
			case "/machines":
				_, _, err = c.ListMachines(context.Background())
			default:
				_, err = c.ListTemplates(context.Background())
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if n := requests.Load(); n > remote.MaxListPages {
				t.Errorf("%d requests: more than MaxListPages", n)
			}
		})
	}
}

// TestCreatedIsRemembered: the API's dtCreated of each listed object is
// kept for the plan's ownership check; a date in a shape psync does not
// know is no error, only unknown.
func TestCreatedIsRemembered(t *testing.T) {
	url := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[{"id":"s1","name":"a","dtCreated":"2026-05-01T10:00:00Z"},{"id":"s2","name":"b","dtCreated":{"odd":1}}]`))
	})
	c, err := remote.New(remote.Config{BaseURL: url, APIKey: hostileKey, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := c.Created()
	if want := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC); !got["s1"].Equal(want) {
		t.Errorf("Created()[s1] = %v, want %v", got["s1"], want)
	}
	if _, ok := got["s2"]; ok {
		t.Errorf("an unreadable date was kept: %v", got["s2"])
	}
}

// TestListBytesAreCapped: a server sending pages of huge items, each with
// a new id and cursor, is stopped by the bytes of the walk, long before
// MaxListPages pages of MaxResponseBytes each would be held in memory.
func TestListBytesAreCapped(t *testing.T) {
	var requests atomic.Int32
	big := strings.Repeat("x", 64<<10)
	url := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		n := requests.Add(1)
		fmt.Fprintf(w, `{"items":[{"id":"s%d","name":"%s"}],"hasMore":true,"nextPage":"c%d%s"}`, n, big, n, big)
	})
	c, err := remote.New(remote.Config{BaseURL: url, APIKey: hostileKey, MaxAttempts: 1, Timeout: 10 * time.Second, MaxListBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListScripts(context.Background())
	if err == nil || !strings.Contains(err.Error(), "more than 1 MiB of answers") {
		t.Fatalf("got %v, want the walk stopped at 1 MiB", err)
	}
	if n := requests.Load(); n > 10 {
		t.Errorf("%d requests of 128 KiB for a 1 MiB cap", n)
	}
}
