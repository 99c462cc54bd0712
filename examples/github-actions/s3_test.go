package githubactions

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/psync-dev/psync/internal/s3test"
)

// TestS3PairNeverPushes runs the action as s3-plan.yml and s3-apply.yml
// do, with the state in a real S3 server (versitygw): the apply applies the
// newest main, writes the state to the bucket and pushes nothing to the
// repository; the plan of a pull request afterwards is a no-op and leaves
// the state object and its lock as they were (it only reads).
func TestS3PairNeverPushes(t *testing.T) {
	w := newWorld(t)
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	key := "psync/team.json"
	url := "s3://" + bucket + "/" + key
	aws := append(srv.Env(), "AWS_PROFILE=", "AWS_SESSION_TOKEN=", "AWS_ENDPOINT_URL=", "AWS_WEB_IDENTITY_TOKEN_FILE=", "AWS_ROLE_ARN=")

	c1 := w.merge("add a", []string{"a"})
	r := w.checkout("apply", c1) // triggered by c1 ...
	w.merge("add b", []string{"a", "b"})
	r.env = append(r.env, aws...)
	head := w.git(w.origin, "rev-parse", "main")
	res, out := r.runAction(map[string]string{"command": "apply", "state": url, "args": "--sandbox " + w.sandbox})
	if failed(res) || exitCode(res["psync"]) != 0 {
		t.Fatalf("the apply failed (steps %v):\n%s", res, out)
	}
	if res["commit-state"].outcome != "skipped" {
		t.Errorf("the state commit step ran (%s) without commit-state", res["commit-state"].outcome)
	}
	// ... and applied the newest main, c2.
	if got := res["psync"].outputs["commit"]; got != head {
		t.Errorf("applied %s, want the newest main %s", got, head)
	}
	if after := w.git(w.origin, "rev-parse", "main"); after != head {
		t.Errorf("main moved from %s to %s: the S3 apply pushed", head, after)
	}
	if strings.Contains(w.git(r.dir, "status", "--porcelain", "--untracked-files=all"), "psync.state.json") {
		t.Errorf("the checkout has a state file:\n%s", w.git(r.dir, "status", "--porcelain"))
	}
	ctx := context.Background()
	obj, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("the state is not in the bucket: %v", err)
	}

	// A pull request's plan reads it and changes nothing.
	base := w.git(w.origin, "rev-parse", "main")
	w.git(w.dev, "pull", "--quiet", "origin", "main")
	w.git(w.dev, "checkout", "--quiet", "-b", "docs")
	w.git(w.dev, "commit", "--quiet", "--allow-empty", "-m", "docs only")
	w.git(w.dev, "push", "--quiet", "origin", "docs")
	pr := w.prRun("docs", base, "docs")
	pr.env = append(pr.env, aws...)
	passed, out := pr.plan(map[string]string{"state": url})
	if !passed || pr.outputs()["exitcode"] != "0" {
		t.Fatalf("the plan: passed %v, exit code %q, want a passing no-op:\n%s", passed, pr.outputs()["exitcode"], out)
	}
	again, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	if *again.ETag != *obj.ETag {
		t.Errorf("the plan wrote the state: ETag %s, then %s", *obj.ETag, *again.ETag)
	}
	lock := key + ".lock"
	var nf *types.NotFound
	if _, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &lock}); !errors.As(err, &nf) {
		t.Errorf("after the plan the lock object is there, or cannot be looked at: %v", err)
	}
}
