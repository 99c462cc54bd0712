package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/psync-dev/psync/internal/s3test"
	"github.com/psync-dev/psync/pkg/state"
)

// startS3 starts a real S3 server (versitygw) and points the environment
// at it; it returns a state URL in a new bucket.
func startS3(t *testing.T) (*s3test.Server, string) {
	t.Helper()
	srv := s3test.Start(t)
	srv.Setenv(t)
	t.Setenv("PSYNC_STATE", "")
	return srv, "s3://" + srv.Bucket(t) + "/prod/psync.state.json"
}

// A team moves its state from the file to S3: migrate copies it (lineage
// and serial kept), after which a plan against S3 is a no-op, and applies
// go on there, through --state, PSYNC_STATE or settings.state.
func TestS3MigrateThenPlanIsNoop(t *testing.T) {
	startSandbox(t)
	srv, url := startS3(t)
	manifest := writeManifest(t, twoScripts)
	if code, _, stderr := runPsync(t, "-f", manifest, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	local, err := os.ReadFile(filepath.Join(filepath.Dir(manifest), "psync.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runPsync(t, "-f", manifest, "state", "migrate", "--to", url)
	if code != 0 || !strings.Contains(stdout, "and verified it") {
		t.Fatalf("migrate: exit %d\n%s%s", code, stdout, stderr)
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(url, "s3://"), "/")
	obj, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	remote, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(remote) != string(local) {
		t.Fatalf("the S3 state is not the file byte for byte:\n%s\nwant\n%s", remote, local)
	}
	if code, stdout, stderr := runPsync(t, "-f", manifest, "--state", url, "plan", "--detailed-exitcode"); code != 0 {
		t.Fatalf("plan against the migrated state: exit %d, want 0\n%s%s", code, stdout, stderr)
	}
	// A second migrate to the same place finds the same state: fine; to
	// a place with another state: refused.
	if code, _, stderr := runPsync(t, "-f", manifest, "state", "migrate", "--to", url); code != 0 {
		t.Fatalf("migrate again: exit %d\n%s", code, stderr)
	}

	// settings.state names the S3 state; the local file is no longer read.
	os.Remove(filepath.Join(filepath.Dir(manifest), "psync.state.json"))
	withSetting := strings.Replace(twoScripts, "version: 1\n", "version: 1\nsettings:\n  state: "+url+"\n", 1)
	os.WriteFile(manifest, []byte(strings.Replace(withSetting, `echo a\n`, `echo a2\n`, 1)), 0o644)
	code, stdout, stderr = runPsync(t, "-f", manifest, "apply", "--auto-approve")
	if code != 0 || !strings.Contains(stdout, "1 done") {
		t.Fatalf("apply with settings.state: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(manifest), "psync.state.json")); err == nil {
		t.Error("an apply with an S3 settings.state wrote a local state file")
	}
	code, stdout, _ = runPsync(t, "-f", manifest, "state", "list")
	if code != 0 || !strings.Contains(stdout, "script/a") || !strings.Contains(stdout, "template/t") {
		t.Fatalf("state list: exit %d\n%s", code, stdout)
	}
	// PSYNC_STATE wins over settings.state: another (empty) state.
	t.Setenv("PSYNC_STATE", strings.Replace(url, "prod/", "other/", 1))
	code, stdout, stderr = runPsync(t, "-f", manifest, "plan")
	if code != 0 || !strings.Contains(stderr, "does not exist yet") || !strings.Contains(stdout, "to adopt") {
		t.Fatalf("plan with PSYNC_STATE: exit %d\n%s%s", code, stdout, stderr)
	}
}

// state commands on an S3 state: rm takes the lock, push refuses another
// lineage, pull prints what is stored.
func TestS3StateCommands(t *testing.T) {
	startSandbox(t)
	_, url := startS3(t)
	manifest := writeManifest(t, twoScripts)
	run := func(args ...string) (int, string, string) {
		return runPsync(t, append([]string{"-f", manifest, "--state", url}, args...)...)
	}
	if code, _, stderr := run("apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	code, pulled, _ := run("state", "pull")
	if code != 0 || !strings.Contains(pulled, `"serial": `) {
		t.Fatalf("pull: exit %d\n%s", code, pulled)
	}
	if code, stdout, stderr := run("state", "rm", "script/b"); code != 0 || !strings.Contains(stdout, "Removed script/b") {
		t.Fatalf("rm: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stdout, _ := run("state", "list"); strings.Contains(stdout, "script/b") {
		t.Fatalf("script/b still listed:\n%s", stdout)
	}
	old := filepath.Join(t.TempDir(), "old.json")
	os.WriteFile(old, []byte(pulled), 0o644)
	if code, _, stderr := run("state", "push", old); code != ExitRefused || !strings.Contains(stderr, "older than state "+url) {
		t.Fatalf("push of an older serial: exit %d, want 3\n%s", code, stderr)
	}
	if code, _, stderr := run("state", "push", "--force", old); code != 0 {
		t.Fatalf("push --force: exit %d\n%s", code, stderr)
	}
	if _, stdout, _ := run("state", "list"); !strings.Contains(stdout, "script/b") {
		t.Fatalf("script/b not back after push --force:\n%s", stdout)
	}
	if code, stdout, stderr := run("plan", "--detailed-exitcode"); code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", code, stdout, stderr)
	}

	// Another runner holds the lock: plan (and import, which only reads
	// the state) read without it; apply and the writing state commands
	// fail at once, naming the holder and the id.
	other, err := state.OpenS3(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := other.Lock(context.Background(), "psync apply --auto-approve (runner 2)")
	if err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := run("plan", "--detailed-exitcode"); code != 0 {
		t.Fatalf("plan while locked: exit %d, want 0\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := run("import", "--out", filepath.Join(t.TempDir(), "imported.yaml")); code != 0 {
		t.Fatalf("import while locked: exit %d, want 0\n%s", code, stderr)
	}
	for _, args := range [][]string{{"apply", "--auto-approve"}, {"state", "rm", "script/a"}, {"state", "push", "--force", old}} {
		code, _, stderr := run(args...)
		if code != 1 || !strings.Contains(stderr, "is locked by ") || !strings.Contains(stderr, "(runner 2)") || !strings.Contains(stderr, "psync state unlock ") {
			t.Errorf("%v while locked: exit %d, want 1 naming the holder and the unlock command\n%s", args, code, stderr)
		}
	}
	lock.Unlock()
}

// Each misconfiguration gives a clear error naming the setting to check,
// and never prints a secret; an object that is not a psync state is
// refused.
func TestS3Misconfigured(t *testing.T) {
	startSandbox(t)
	srv, url := startS3(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	manifest := writeManifest(t, twoScripts)
	bucket, key, _ := strings.Cut(strings.TrimPrefix(url, "s3://"), "/")
	cases := []struct {
		name, url, envKey, envValue, want string
	}{
		{"bad secret", url, "AWS_SECRET_ACCESS_KEY", "not-the-secret-0123456789abcdef", "check the AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{"unknown bucket", "s3://psync-no-such-bucket/psync.state.json", "", "", "bucket psync-no-such-bucket does not exist: check the bucket of the state URL (--state, PSYNC_STATE or settings.state)"},
		{"unreachable endpoint", url, "AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9", "cannot reach http://127.0.0.1:9: check AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL"},
		{"no region", url, "AWS_REGION", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.envKey != "" {
				t.Setenv(tc.envKey, tc.envValue)
			}
			for _, args := range [][]string{{"plan"}, {"apply", "--auto-approve"}, {"state", "list"}} {
				code, stdout, stderr := runPsync(t, append([]string{"-f", manifest, "--state", tc.url}, args...)...)
				if tc.name == "no region" {
					// A custom endpoint works without a region.
					if code == 1 && strings.Contains(stderr, "region") {
						t.Errorf("%v: a custom endpoint needs no region: %s", args, stderr)
					}
					continue
				}
				if code != 1 || !strings.Contains(stderr, tc.want) {
					t.Errorf("%v: exit %d, want 1 and %q in\n%s", args, code, tc.want, stderr)
				}
				for _, secret := range []string{srv.SecretKey, "not-the-secret-0123456789abcdef"} {
					if strings.Contains(stdout+stderr, secret) {
						t.Errorf("%v: the output holds a secret:\n%s%s", args, stdout, stderr)
					}
				}
			}
		})
	}
	t.Run("not a psync state", func(t *testing.T) {
		if _, err := srv.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: strings.NewReader(`{"version":4,"terraform_version":"1.9.0","serial":1}`)}); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runPsync(t, "-f", manifest, "--state", url, "apply", "--auto-approve")
		if code != 1 || !strings.Contains(stderr, "state "+url+": no formatVersion: this is not a psync state file") {
			t.Fatalf("apply over a foreign object: exit %d\n%s", code, stderr)
		}
		// And it was not overwritten, nor locked forever.
		obj, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		if !strings.Contains(string(b), "terraform_version") {
			t.Fatalf("the foreign object was overwritten: %s", b)
		}
		if code, _, stderr := runPsync(t, "-f", manifest, "--state", url, "state", "unlock", "x"); code != 1 || !strings.Contains(stderr, "is not locked") {
			t.Fatalf("the failed apply left its lock: %s", stderr)
		}
	})
}

// A lock psync could not remove (the role may not delete, the service
// failed) is not left in silence: the command says so, with the command
// that removes it, so the next run's "locked" is no surprise.
func TestS3LockNotRemovedIsSaid(t *testing.T) {
	startSandbox(t)
	srv, url := startS3(t)
	manifest := writeManifest(t, twoScripts)
	if code, _, stderr := runPsync(t, "-f", manifest, "--state", url, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	target, err := neturl.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, ".lock") {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	t.Setenv("AWS_ENDPOINT_URL_S3", proxy.URL)
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	for _, args := range [][]string{{"state", "rm", "script/b"}, {"apply", "--auto-approve"}} {
		code, _, stderr := runPsync(t, append([]string{"-f", manifest, "--state", url}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		if !strings.Contains(stderr, "psync: warning: ") || !strings.Contains(stderr, "psync state unlock ") || !strings.Contains(stderr, "access denied") {
			t.Fatalf("%v could not remove its lock and did not say so with the unlock command:\n%s", args, stderr)
		}
		t.Setenv("AWS_ENDPOINT_URL_S3", srv.Endpoint)
		other, err := state.OpenS3(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		var le *state.RemoteLockedError
		if _, err := other.Lock(context.Background(), "x"); !errors.As(err, &le) {
			t.Fatalf("the lock is not left: %v", err)
		}
		if err := other.ForceUnlock(context.Background(), le.Lock.ID); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AWS_ENDPOINT_URL_S3", proxy.URL)
	}
}

// A plain http:// S3 endpoint that is not loopback is refused, as the
// API's is, unless --insecure-http: the state (script bodies) and a
// session token would cross the network unencrypted.
func TestS3PlainHTTPEndpointRefused(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIATEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-for-the-test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("PSYNC_STATE", "")
	url := "s3://acme/psync.state.json"
	// migrate to the same place fails after both backends are open,
	// before any request: no network is needed.
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://192.0.2.1:9000")
	code, _, stderr := runPsync(t, "--state", url, "state", "migrate", "--to", url)
	if code != 1 || !strings.Contains(stderr, "http://192.0.2.1:9000") || !strings.Contains(stderr, "--insecure-http") {
		t.Fatalf("plain http to a host that is not loopback: exit %d, want 1 naming the endpoint and --insecure-http\n%s", code, stderr)
	}
	for _, tc := range []struct {
		endpoint string
		args     []string
	}{
		{"http://192.0.2.1:9000", []string{"--insecure-http"}},
		{"http://127.0.0.1:9000", nil},
		{"http://localhost:9000", nil},
		{"https://s3.example.com", nil},
	} {
		t.Setenv("AWS_ENDPOINT_URL_S3", tc.endpoint)
		code, _, stderr := runPsync(t, append(tc.args, "--state", url, "state", "migrate", "--to", url)...)
		if code != 1 || !strings.Contains(stderr, "already at") {
			t.Errorf("%s %v: exit %d, want the endpoint accepted\n%s", tc.endpoint, tc.args, code, stderr)
		}
	}
}
