package sandbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/sandbox"
)

// BenchmarkSandbox measures requests per second on loopback, client and
// server in one process, with parallel clients over kept-alive connections:
//
//	go test -run '^$' -bench Sandbox -benchtime 3s ./pkg/sandbox/
//
// list is GET /startup-scripts on a team of 20 scripts; create is POST
// /startup-scripts with a 1 KiB body. memory keeps data in memory, disk in a
// bbolt file (acknowledged once in the page cache), disk-sync fsyncs every
// write; live is memory in the paperspace-v1 dialect (an envelope page of
// 20 for list).
func BenchmarkSandbox(b *testing.B) {
	for _, store := range []string{"memory", "disk", "disk-sync", "live"} {
		for _, op := range []string{"list", "create"} {
			if store == "disk-sync" && op == "list" {
				continue // reads never touch the file
			}
			b.Run(store+"/"+op, func(b *testing.B) {
				cfg := sandbox.Config{Keys: map[string]string{"bench": "team-bench"}}
				if store == "live" {
					cfg.Dialect = sandbox.DialectPaperspace1
				}
				if store != "memory" && store != "live" {
					cfg.DataDir = b.TempDir()
					cfg.Sync = store == "disk-sync"
				}
				in, err := sandbox.Start(cfg, "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				defer in.Close()
				tr := http.DefaultTransport.(*http.Transport).Clone()
				tr.MaxIdleConnsPerHost = 256
				client := &http.Client{Transport: tr}
				send := func(method, path string, body []byte) int {
					req, _ := http.NewRequest(method, in.URL+path, bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer bench")
					req.Header.Set("Content-Type", "application/json")
					res, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					return res.StatusCode
				}
				script := bytes.Repeat([]byte("echo benchmark\n"), 70)
				for i := range 20 {
					body, _ := json.Marshal(api.StartupScriptCreate{Name: fmt.Sprint("seed-", i), Script: string(script)})
					send("POST", "/startup-scripts", body)
				}
				var n atomic.Int64
				b.SetParallelism(4)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						var st int
						if op == "list" {
							st = send("GET", "/startup-scripts", nil)
						} else {
							body, _ := json.Marshal(api.StartupScriptCreate{Name: fmt.Sprint("bench-", n.Add(1)), Script: string(script)})
							st = send("POST", "/startup-scripts", body)
						}
						if st != 200 && st != 201 {
							b.Errorf("status %d", st)
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
				b.StopTimer() // not the final flush of Close
			})
		}
	}
}
