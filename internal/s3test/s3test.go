// Package s3test runs a real S3-compatible server for tests: versitygw
// (github.com/versity/versitygw, the posix backend), pinned by the tool
// line of go.mod, built by `go tool` with the go of the toolchain (the
// build cache keeps the linked binary, so it is built once per machine),
// and started on a loopback port in a temporary directory.
//
// It is a real server, not an in-process fake: conditional writes, ETags,
// error codes and signatures are the server's.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// toolPath is versitygw's package, as the tool line of go.mod names it.
const toolPath = "github.com/versity/versitygw/cmd/versitygw"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of versitygw, built once per test process.
// `go tool -n` builds the tool of go.mod's tool line and keeps the linked
// binary in the Go build cache, so only the first test binary of a run (or
// of a machine) pays for the build; the others find it.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		goroot, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOROOT: %w", err)
			return
		}
		gocmd := filepath.Join(strings.TrimSpace(string(goroot)), "bin", "go")
		// Run in this module (the test's directory), so go.mod's
		// versions are the ones built.
		out, err := exec.Command(gocmd, "tool", "-n", "versitygw").Output()
		if err == nil {
			lines := strings.Fields(strings.TrimSpace(string(out)))
			if len(lines) > 0 {
				if _, serr := os.Stat(lines[len(lines)-1]); serr == nil {
					binPath = lines[len(lines)-1]
					return
				}
			}
		}
		// An older layout of the cache: build it into a temporary directory.
		dir, err := os.MkdirTemp("", "psync-versitygw-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "versitygw")
		cmd := exec.Command(gocmd, "build", "-o", binPath, toolPath)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build %s (the S3 server the tests need): %v\n%s", toolPath, err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Server is a running versitygw.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string
	cmd       *exec.Cmd
	client    *s3.Client
}

// Start starts a server for the test, stopped at its end.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	root, sidecar := t.TempDir(), t.TempDir()
	srv := &Server{AccessKey: "psynctest" + randHex(4), SecretKey: randHex(20), Region: "us-east-1"}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command(bin, "--port", addr, "posix", "--sidecar", sidecar, root)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+srv.AccessKey, "ROOT_SECRET_KEY="+srv.SecretKey, "VGW_REGION="+srv.Region)
		var logs strings.Builder
		cmd.Stdout, cmd.Stderr = &syncBuilder{b: &logs}, &syncBuilder{b: &logs}
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start versitygw: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		srv.Endpoint = "http://" + addr
		if err := waitReady(srv.Endpoint, exited); err != nil {
			_ = cmd.Process.Kill()
			lastErr = fmt.Errorf("versitygw on %s: %v\n%s", addr, err, logs.String())
			continue // the port was taken meanwhile, say
		}
		srv.cmd = cmd
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		srv.client = s3.New(s3.Options{
			Region:       srv.Region,
			BaseEndpoint: aws.String(srv.Endpoint),
			UsePathStyle: true,
			Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		})
		return srv
	}
	t.Fatal(lastErr)
	return nil
}

// Env is the environment that points the AWS SDK (and so psync) at the
// server, with no shared config in the way.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Setenv sets Env for the rest of the test.
func (s *Server) Setenv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// Client is an S3 client of the server, for a test to look at or change
// objects behind psync's back.
func (s *Server) Client() *s3.Client { return s.client }

// Bucket creates a new bucket with a random name and returns it.
func (s *Server) Bucket(t testing.TB) string {
	t.Helper()
	name := "psync-" + randHex(6)
	if _, err := s.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

func waitReady(endpoint string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		default:
		}
		resp, err := http.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil // any answer: it serves
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("not serving after 30 s")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type syncBuilder struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
