package sandbox_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/sandbox"
)

func TestRestartKeepsEverything(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s1, err := sandbox.New(sandbox.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := attachHTTPTest(t, s1)
	keys := s1.Keys()
	if len(keys) != 1 || !strings.HasPrefix(keys[sandbox.DefaultTeam], "sbx_") {
		t.Fatalf("default keys %v", keys)
	}
	var scripts []api.StartupScript
	for i := range 5 {
		scripts = append(scripts, e.createScript(fmt.Sprintf("s%d", i), fmt.Sprintf("echo %d", i)))
	}
	e.call("POST", "/startup-scripts/"+scripts[1].ID+"/assign", api.MachineRef{MachineID: "psbox004"}, http.StatusOK, nil)
	e.call("PUT", "/startup-scripts/"+scripts[2].ID, api.StartupScriptCreate{Name: "s2-renamed", Script: "new", RunOnce: ptr(true)}, http.StatusOK, nil)
	e.call("DELETE", "/startup-scripts/"+scripts[3].ID, nil, http.StatusNoContent, nil)
	var tpl api.CustomTemplate
	e.call("POST", "/custom-templates", api.CustomTemplateCreate{MachineID: "psbox003", Name: "t", Note: "n"}, http.StatusCreated, &tpl)
	e.call("PUT", "/custom-templates/"+tpl.ID, api.CustomTemplateUpdate{Name: ptr("t2")}, http.StatusOK, nil)
	var list1 []api.StartupScript
	e.call("GET", "/startup-scripts", nil, http.StatusOK, &list1)
	before := e.dump(e.key)
	e.close()

	s2, err := sandbox.New(sandbox.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e2 := attachHTTPTest(t, s2)
	if diff := cmp.Diff(keys, s2.Keys()); diff != "" {
		t.Errorf("the generated key changed across restarts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, e2.dump(e2.key)); diff != "" {
		t.Errorf("dump after restart (-want +got):\n%s", diff)
	}
	var list2 []api.StartupScript
	e2.call("GET", "/startup-scripts", nil, http.StatusOK, &list2)
	if diff := cmp.Diff(list1, list2); diff != "" {
		t.Errorf("list after restart (-want +got):\n%s", diff)
	}
	// New writes go on after a restart.
	e2.createScript("after", "x")
	if n := len(e2.dump(e2.key).StartupScripts); n != 5 {
		t.Errorf("%d scripts, want 5", n)
	}
	e2.close()

	// A fresh in-memory sandbox has a fresh key and nothing in it.
	m1, err := sandbox.New(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Close()
	if m1.Keys()[sandbox.DefaultTeam] == keys[sandbox.DefaultTeam] {
		t.Error("an in-memory sandbox reuses the directory's key")
	}
	// Configured keys replace the default one, and the data is by team.
	s3, err := sandbox.New(sandbox.Config{DataDir: dir, Keys: map[string]string{"mine": sandbox.DefaultTeam}})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if d, err := s3.Dump(sandbox.DefaultTeam); err != nil || len(d.StartupScripts) != 5 {
		t.Errorf("dump with a configured key: %d scripts, %v", len(d.StartupScripts), err)
	}
	if _, err := s3.Dump("team-nope"); err == nil {
		t.Error("Dump of an unknown team succeeded")
	}
}

func TestDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	s1, err := sandbox.New(sandbox.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sandbox.New(sandbox.Config{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use by another sandbox server") {
		t.Fatalf("second New on %s: %v, want in use", dir, err)
	}
	if in, err := sandbox.Start(sandbox.Config{DataDir: dir}, "127.0.0.1:0"); err == nil {
		in.Close()
		t.Fatal("second Start succeeded")
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	in, err := sandbox.Start(sandbox.Config{DataDir: dir}, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start after Close: %v", err)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	// A directory that cannot be made is an error, not a panic.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := sandbox.New(sandbox.Config{DataDir: filepath.Join(file, "sub")}); err == nil {
		t.Error("New under a file succeeded")
	}
}

func TestStartServes(t *testing.T) {
	in, err := sandbox.Start(sandbox.Config{Keys: map[string]string{"k2": "team-b", "k1": "team-a"}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(in.URL, "http://127.0.0.1:") || !strings.HasSuffix(in.URL, "/v1") || in.Key != "k1" || in.TeamID != "team-a" {
		t.Errorf("instance URL %q key %q team %q", in.URL, in.Key, in.TeamID)
	}
	e := attach(t, in.Server, in.URL)
	e.createScript("s", "x")
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := in.Wait(); err != nil {
		t.Errorf("Wait after Close: %v", err)
	}
	if _, err := e.try(e.key, "GET", "/startup-scripts", nil); err == nil {
		t.Error("still serving after Close")
	}
}

// TestManyObjects checks the store stays fast with 10,000 objects: a write
// costs the same at the end as at the start, and a restart loads them all.
func TestManyObjects(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	n := 10_000
	if raceEnabled {
		n = 2_000 // the race detector makes each request ten times slower
	}
	dir := t.TempDir()
	in, err := sandbox.Start(sandbox.Config{DataDir: dir}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := attach(t, in.Server, in.URL)
	e.client.Transport = http.DefaultTransport // bulk load without the spec check
	body := strings.Repeat("#!/bin/sh\necho hello\n", 50)
	var first, last time.Duration
	for i := range n {
		start := time.Now()
		r := e.do(e.key, "POST", "/startup-scripts", api.StartupScriptCreate{Name: fmt.Sprintf("script-%05d", i), Script: body})
		if r.status != http.StatusCreated {
			t.Fatalf("create %d: %d %s", i, r.status, r.body)
		}
		switch d := time.Since(start); {
		case i < 1000:
			first += d
		case i >= n-1000 && i >= 1000:
			last += d
		}
	}
	t.Logf("mean create: %v for the first 1,000, %v for the last 1,000", first/1000, last/1000)
	if last > 3*first+100*time.Millisecond {
		t.Errorf("creates slow down with the number of objects: %v for the first 1,000, %v for the last", first, last)
	}
	start := time.Now()
	r := e.do(e.key, "GET", "/startup-scripts", nil)
	t.Logf("list of %d: %v, %d bytes", n, time.Since(start), len(r.body))
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	s, err := sandbox.New(sandbox.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("reopen with %d objects: %v", n, time.Since(start))
	d, err := s.Dump(sandbox.DefaultTeam)
	if err != nil || len(d.StartupScripts) != n {
		t.Fatalf("after reopen: %d scripts, %v", len(d.StartupScripts), err)
	}
}

// attachHTTPTest serves s with httptest until the test ends or e.close.
func attachHTTPTest(t *testing.T, s *sandbox.Server) *closableEnv {
	hs := newHTTPTestServer(s)
	e := &closableEnv{env: attach(t, s, hs.URL+"/v1")}
	e.close = func() {
		hs.Close()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	t.Cleanup(e.close)
	return e
}

type closableEnv struct {
	*env
	close func()
}
