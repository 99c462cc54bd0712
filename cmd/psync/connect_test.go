package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/sandbox"
)

func testGlobals() *Globals {
	return &Globals{
		APIURL:       "https://api.paperspace.com/v1",
		RateLimit:    20,
		Timeout:      5 * time.Second,
		MaxAttempts:  3,
		MaxRetryTime: 10 * time.Second,
		// kong's default; connect refuses 0.
		TemplateTimeout: 30 * time.Minute,
	}
}

func TestConnectNeedsKey(t *testing.T) {
	t.Setenv(keyEnv, "  ")
	var stderr bytes.Buffer
	_, _, release, err := testGlobals().connect(context.Background(), &IO{Stderr: &stderr})
	if err == nil || !strings.Contains(err.Error(), "PAPERSPACE_API_KEY is not set") {
		t.Fatalf("got %v, want an error naming PAPERSPACE_API_KEY", err)
	}
	release()
}

func TestConnectRefusesPlainHTTP(t *testing.T) {
	t.Setenv(keyEnv, "k-123456")
	g := testGlobals()
	g.APIURL = "http://api.example.com/v1"
	_, _, _, err := g.connect(context.Background(), &IO{Stderr: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), "--insecure-http") || strings.Contains(err.Error(), "k-123456") {
		t.Fatalf("got %v, want a refusal mentioning --insecure-http", err)
	}
}

// --sandbox DIR ignores the environment, says so, and gives a target that
// stays the same from run to run although the port changes.
func TestConnectSandbox(t *testing.T) {
	t.Setenv(keyEnv, "")
	dir := t.TempDir()
	rel, err := filepath.Rel(mustGetwd(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	var targets []Target
	for range 2 {
		g := testGlobals()
		g.Sandbox = rel
		g.Debug = true
		var stderr bytes.Buffer
		c, target, release, err := g.connect(context.Background(), &IO{Stderr: &stderr})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Fetch(context.Background()); err != nil {
			t.Fatal(err)
		}
		release()
		targets = append(targets, target)
		out := stderr.String()
		if !strings.HasPrefix(out, "psync: using the sandbox in "+rel+" (not Paperspace)\n") {
			t.Errorf("stderr:\n%s\nwant the sandbox notice first", out)
		}
		if !strings.Contains(out, "GET /v1/startup-scripts?limit=120 -> 200 (attempt 1,") {
			t.Errorf("stderr:\n%s\nwant --debug request lines", out)
		}
	}
	// The fingerprint key comes from the sandbox's key, which its data
	// directory keeps: the same every run, so secret bodies stay verified.
	want := Target{APIURL: "sandbox:" + dir, Team: sandbox.DefaultTeam, Key: targets[0].Key}
	if want.Key.IsZero() {
		t.Error("no fingerprint key")
	}
	for i, got := range targets {
		if got != want {
			t.Errorf("run %d: target %+v, want %+v", i, got, want)
		}
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// PAPERSPACE_API_URL set but empty (a CI variable that is not defined, as
// in `PAPERSPACE_API_URL: ${{ vars.PAPERSPACE_API_URL }}`) means the
// default URL, as the README says, not "no API URL". (The context is
// cancelled so that nothing leaves the machine.)
func TestConnectEmptyURLMeansDefault(t *testing.T) {
	t.Setenv(keyEnv, "k-123456")
	g := testGlobals()
	g.APIURL = "" // what kong gives for PAPERSPACE_API_URL=""
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, release, err := g.connect(ctx, &IO{Stderr: &bytes.Buffer{}})
	release()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want the default URL to be used (and the cancelled session request)", err)
	}
}
