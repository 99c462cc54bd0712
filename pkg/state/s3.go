package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/psync-dev/psync/internal/textsafe"
)

// S3 is a state stored as one object in S3-compatible storage, with a lock
// object beside it (KEY.lock).
//
// Credentials, region and endpoint come from the AWS SDK's standard chain
// (environment, shared config and profiles, web identity).
// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL points at another S3-compatible
// service; path-style addressing is then used, which they all serve.
//
// The lock is created with If-None-Match: *, so of two processes only one
// creates it; the state is written with If-Match on the ETag last read or
// written, so a process that lost its lock (removed by force) can never
// overwrite a newer state.
type S3 struct {
	Bucket, Key string
	// FlushInterval is the least time between two state writes of an
	// apply's journal (group commit); changes made meanwhile are saved
	// together by the next write.
	FlushInterval time.Duration

	client   *s3.Client
	endpoint string // the custom endpoint, or "" for AWS
	creds    aws.CredentialsProvider

	mu   sync.Mutex
	etag string // of the state last read or written; "" when there was none
	puts atomic.Int64
}

// maxStateSize caps what psync reads of a state object: a state of 1,000
// scripts with their bodies is about 400 KiB.
const maxStateSize = 64 << 20

// OpenS3 returns the backend of an s3://BUCKET/KEY URL, configured from the
// AWS SDK's standard chain. It makes no request.
func OpenS3(ctx context.Context, location string) (*S3, error) {
	bucket, key, err := parseS3URL(location)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("state %s: AWS configuration: %w (check AWS_PROFILE, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE)", location, err)
	}
	b := &S3{Bucket: bucket, Key: key, FlushInterval: 500 * time.Millisecond, creds: cfg.Credentials}
	b.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if o.BaseEndpoint == nil {
			return
		}
		// A custom endpoint is an S3-compatible service: path-style
		// addressing works on all of them, virtual hosts need DNS set up.
		// Checksums go only where required: not all of them know the
		// newer ones.
		b.endpoint = withoutUserinfo(*o.BaseEndpoint)
		o.UsePathStyle = true
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		if o.Region == "" {
			o.Region = "us-east-1" // what they accept when they ignore it
		}
	})
	if b.client.Options().Region == "" {
		return nil, fmt.Errorf("state %s: no AWS region: set AWS_REGION (or the region of the AWS profile) to the bucket's region", location)
	}
	return b, nil
}

// withoutUserinfo is endpoint without a user and password, for messages:
// the SDK never sends them, and they may be a secret all the same.
func withoutUserinfo(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "(an endpoint that is not a URL)"
	}
	u.User = nil
	return u.String()
}

// parseS3URL splits s3://BUCKET/KEY.
func parseS3URL(location string) (bucket, key string, err error) {
	u, err := url.Parse(location)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a token
		}
		return "", "", fmt.Errorf("state URL %s: %w", withoutQuery(location), err)
	}
	if u.User != nil {
		// Never echo it: it may hold a secret.
		return "", "", errors.New("state URL: credentials do not go in an s3:// URL; they come from the AWS environment (AWS_ACCESS_KEY_ID, AWS_PROFILE, web identity)")
	}
	bucket, key = u.Host, strings.TrimPrefix(u.Path, "/")
	switch {
	case u.RawQuery != "" || u.Fragment != "":
		return "", "", fmt.Errorf("state URL %s: want s3://BUCKET/KEY without a query (the endpoint and region come from AWS_ENDPOINT_URL_S3 and AWS_REGION)", withoutQuery(location))
	case bucket == "":
		return "", "", fmt.Errorf("state URL %s: no bucket: want s3://BUCKET/KEY", location)
	case u.Port() != "":
		return "", "", fmt.Errorf("state URL %s: a bucket has no port: want s3://BUCKET/KEY, with the service's address in AWS_ENDPOINT_URL_S3", location)
	case key == "" || strings.HasSuffix(key, "/"):
		return "", "", fmt.Errorf("state URL %s: no object key: want s3://BUCKET/KEY, for example s3://%s/psync.state.json", location, bucket)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			// S3 takes them literally, some services and proxies resolve
			// them: the object read and the one written could differ.
			return "", "", fmt.Errorf("state URL %s: the key has a %q segment: name the object plainly (s3://BUCKET/DIR/NAME)", withoutQuery(location), seg)
		}
	}
	return bucket, key, nil
}

// withoutQuery is location cut before its query or fragment, for an error
// to quote: a pasted presigned URL holds a signature and maybe a session
// token there.
func withoutQuery(location string) string {
	if i := strings.IndexAny(location, "?#"); i >= 0 {
		return location[:i] + "?…"
	}
	return location
}

func (b *S3) String() string { return "s3://" + b.Bucket + "/" + b.Key }

// Endpoint is the custom endpoint the SDK's configuration set
// (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, a profile's endpoint_url), or ""
// for AWS S3's own.
func (b *S3) Endpoint() string { return b.endpoint }

func (b *S3) lockKey() string { return b.Key + ".lock" }

// Puts is how many times this backend wrote the state.
func (b *S3) Puts() int64 { return b.puts.Load() }

// Load reads the state object.
func (b *S3) Load(ctx context.Context) (*State, LoadInfo, error) {
	data, etag, err := b.get(ctx, b.Key)
	if errors.Is(err, errNoObject) {
		b.setETag("")
		return New(), LoadInfo{}, nil
	}
	if err != nil {
		return nil, LoadInfo{}, b.describe("read the state", err)
	}
	s, err := parse(b.String(), data)
	if err != nil {
		return nil, LoadInfo{}, err
	}
	b.setETag(etag)
	return s, LoadInfo{Exists: true}, nil
}

func (b *S3) setETag(etag string) {
	b.mu.Lock()
	b.etag = etag
	b.mu.Unlock()
}

// Write puts s with If-Match on the ETag last read or written (If-None-Match
// when there was no state).
func (b *S3) Write(ctx context.Context, s *State) error {
	data, err := s.encode()
	if err != nil {
		return fmt.Errorf("save state %s: %w", b, err)
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("save state %s: %w", b, err)
	}
	return b.put(ctx, data)
}

// put writes one version of the state document.
func (b *S3) put(ctx context.Context, data []byte) error {
	b.mu.Lock()
	etag := b.etag
	b.mu.Unlock()
	in := &s3.PutObjectInput{
		Bucket:      &b.Bucket,
		Key:         &b.Key,
		Body:        bytes.NewReader(data),
		ContentType: aws.String("application/json"),
	}
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := b.client.PutObject(ctx, in)
	b.puts.Add(1)
	if err != nil && conditionFailed(err) {
		// The SDK sends a PUT again when its answer was lost: the
		// first may have been carried out, and the condition then fails
		// on this process's own write.
		if stored, storedETag, gerr := b.get(ctx, b.Key); gerr == nil && bytes.Equal(stored, data) {
			b.setETag(storedETag)
			return nil
		}
	}
	if err != nil {
		if conditionFailed(err) || errors.Is(err, errNoObject) || apiCode(err) == "NoSuchKey" {
			return fmt.Errorf("save state %s: %w: another process wrote it (or deleted it) after this one read it; nothing was overwritten. Was the lock removed with 'psync state unlock' while this psync ran? Run plan again: it reads the newer state, and adopts by name whatever this run made that it does not record", b, ErrStateChanged)
		}
		return b.describe("save the state", err)
	}
	b.setETag(aws.ToString(out.ETag))
	return nil
}

var errNoObject = errors.New("no such object")

// get reads an object whole, with its ETag; errNoObject when it is not there.
func (b *S3) get(ctx context.Context, key string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.Bucket, Key: &key})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) || apiCode(err) == "NoSuchKey" {
			return nil, "", errNoObject
		}
		return nil, "", err
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxStateSize+1))
	if err != nil {
		return nil, "", err
	}
	if len(data) > maxStateSize {
		return nil, "", fmt.Errorf("s3://%s/%s is larger than %d MiB: it is not a psync state", b.Bucket, key, maxStateSize>>20)
	}
	return data, aws.ToString(out.ETag), nil
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// conditionFailed reports an If-Match or If-None-Match that did not hold
// (AWS answers 409 to two conditional writes racing).
func conditionFailed(err error) bool {
	code := apiCode(err)
	return code == "PreconditionFailed" || code == "ConditionalRequestConflict" ||
		httpStatus(err) == http.StatusPreconditionFailed || httpStatus(err) == http.StatusConflict
}

// describe turns an S3 error into one that names the setting to check. It
// never holds a credential: the SDK's messages do not, and the access key
// id and secret are scrubbed all the same.
func (b *S3) describe(what string, err error) error {
	code, status := apiCode(err), httpStatus(err)
	var netErr net.Error
	var hint string
	switch {
	case code == "NoSuchBucket":
		hint = fmt.Sprintf("bucket %s does not exist: check the bucket of the state URL (--state, PSYNC_STATE or settings.state)", b.Bucket)
		if b.endpoint != "" {
			hint += " and the endpoint " + b.endpoint + " (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL)"
		}
	case code == "InvalidAccessKeyId" || code == "XAdminUserNotFound" || code == "SignatureDoesNotMatch" || code == "AccessDenied" ||
		code == "InvalidToken" || code == "ExpiredToken" || status == http.StatusForbidden || status == http.StatusUnauthorized:
		hint = "access denied: check the AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the web identity role) and that they may read and write " + b.String() + " and " + b.String() + ".lock"
	case code == "InvalidBucketName":
		hint = fmt.Sprintf("%s is not a valid bucket name: check the bucket of the state URL (--state, PSYNC_STATE or settings.state)", b.Bucket)
	case code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" || code == "IllegalLocationConstraintException":
		hint = "the bucket is in another region: check AWS_REGION"
	case credentialsMissing(err):
		hint = "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or configure web identity (in GitHub Actions: aws-actions/configure-aws-credentials)"
	case status == 0 && errors.As(err, &netErr):
		endpoint := b.endpoint
		if endpoint == "" {
			endpoint = "AWS S3"
		}
		hint = fmt.Sprintf("cannot reach %s: check AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, and AWS_REGION", endpoint)
	}
	msg := err.Error()
	if b.creds != nil && !credentialsMissing(err) {
		// Cached by the SDK after the request that failed: no new call.
		if c, cerr := b.creds.Retrieve(context.Background()); cerr == nil {
			for _, secret := range []string{c.SecretAccessKey, c.SessionToken, c.AccessKeyID} {
				if len(secret) >= 4 {
					msg = strings.ReplaceAll(msg, secret, "[redacted]")
				}
			}
		}
	}
	if hint != "" {
		return fmt.Errorf("state %s: %s: %s (%s)", b, what, hint, msg)
	}
	return fmt.Errorf("state %s: %s: %s", b, what, msg)
}

// credentialsMissing reports an error of the SDK's credential chain: the
// request was never sent.
func credentialsMissing(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "get identity") || strings.Contains(msg, "retrieve credentials")
}

// LockInfo is the content of a lock object: who holds the lock.
type LockInfo struct {
	Version int       `json:"psyncLock"`
	ID      string    `json:"id"`
	Who     string    `json:"who"` // user@host
	PID     int       `json:"pid"`
	Since   time.Time `json:"since"`
	Command string    `json:"command"`
}

// RemoteLockedError is returned when another process holds a remote
// state's lock.
type RemoteLockedError struct {
	State string
	Lock  LockInfo
	Age   time.Duration
}

func (e *RemoteLockedError) Error() string {
	l := e.Lock
	return fmt.Sprintf("state %s is locked by %s (pid %d) since %s (%s ago), running %q; lock id %s. Wait for it to finish; if that process is gone (killed, or its runner lost), remove the lock with: psync state unlock %s --state %s",
		e.State, textsafe.Line(l.Who), l.PID, l.Since.UTC().Format(time.RFC3339), e.Age.Truncate(time.Second), l.Command, l.ID, l.ID, shellWord(e.State))
}

// shellWord quotes s for a POSIX shell unless it is plain: the unlock
// command is meant to be copied, wherever the state's URL came from (the
// flag, the environment or a manifest).
func shellWord(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._:-+=,@%", r)) {
			plain = false
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Lock creates the lock object with If-None-Match: *, so of two processes
// at most one succeeds, and reads it back, in case the service ignored the
// condition.
func (b *S3) Lock(ctx context.Context, command string) (Unlocker, error) {
	id, err := newLineage()
	if err != nil {
		return nil, err
	}
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	host, _ := os.Hostname()
	info := LockInfo{Version: 1, ID: id, Who: who + "@" + host, PID: os.Getpid(), Since: time.Now().UTC().Truncate(time.Second), Command: command}
	data, _ := json.MarshalIndent(info, "", "  ")
	for attempt := 1; ; attempt++ {
		out, err := b.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &b.Bucket, Key: aws.String(b.lockKey()),
			Body: bytes.NewReader(data), IfNoneMatch: aws.String("*"),
			ContentType: aws.String("application/json"),
		})
		if err != nil && !conditionFailed(err) {
			return nil, b.describe("take the lock", err)
		}
		held, rerr := b.readLock(ctx)
		if errors.Is(rerr, errNoObject) && attempt < 3 {
			continue // released in between: try again
		}
		if rerr != nil {
			if err == nil && aws.ToString(out.ETag) != "" {
				// Created but not confirmed (the read failed, or an
				// interrupt came): no process would hold it. Removed
				// only if it is still the version this PUT made.
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				_ = b.deleteLock(dctx, aws.ToString(out.ETag))
				cancel()
			}
			if errors.Is(rerr, errNoObject) {
				rerr = fmt.Errorf("state %s: the lock object came and went three times while psync took the lock: try again", b)
			}
			return nil, rerr
		}
		if held.ID == id {
			// Also when the condition failed: the SDK sent the PUT
			// again after a lost answer, and the lock is this one.
			return &s3Lock{b: b, id: id}, nil
		}
		return nil, &RemoteLockedError{State: b.String(), Lock: *held, Age: time.Since(held.Since)}
	}
}

// readLock reads the lock object; etag is the version read.
func (b *S3) readLock(ctx context.Context) (*LockInfo, error) {
	l, _, err := b.readLockVersion(ctx)
	return l, err
}

func (b *S3) readLockVersion(ctx context.Context) (*LockInfo, string, error) {
	data, etag, err := b.get(ctx, b.lockKey())
	if errors.Is(err, errNoObject) {
		return nil, "", err
	}
	if err != nil {
		return nil, "", b.describe("read the lock", err)
	}
	var l LockInfo
	// The id goes into a command to copy into a shell: one psync could
	// not have drawn is not psync's lock.
	if err := json.Unmarshal(data, &l); err != nil || l.Version == 0 || !lockIDPattern.MatchString(l.ID) {
		return nil, "", fmt.Errorf("state %s: the lock object s3://%s/%s is not a psync lock: remove it by hand if nothing else uses it", b, b.Bucket, b.lockKey())
	}
	return &l, etag, nil
}

// lockIDPattern is what newLineage draws.
var lockIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ForceUnlock removes the lock if its id is id.
func (b *S3) ForceUnlock(ctx context.Context, id string) error {
	held, etag, err := b.readLockVersion(ctx)
	if errors.Is(err, errNoObject) {
		return fmt.Errorf("state %s is not locked", b)
	}
	if err != nil {
		return err
	}
	if held.ID != id {
		return fmt.Errorf("state %s is locked with id %s (by %s since %s, running %q), not %q: nothing was unlocked", b, held.ID, textsafe.Line(held.Who), held.Since.UTC().Format(time.RFC3339), held.Command, id)
	}
	return b.deleteLock(ctx, etag)
}

// deleteLock removes the lock object if it is still the version read
// (If-Match), so that a lock taken by another process in between is never
// removed. A service without conditional deletes gets a plain delete.
func (b *S3) deleteLock(ctx context.Context, etag string) error {
	in := &s3.DeleteObjectInput{Bucket: &b.Bucket, Key: aws.String(b.lockKey())}
	if etag != "" {
		in.IfMatch = aws.String(etag)
	}
	_, err := b.client.DeleteObject(ctx, in)
	if err != nil && etag != "" && (apiCode(err) == "NotImplemented" || httpStatus(err) == http.StatusNotImplemented) {
		in.IfMatch = nil
		_, err = b.client.DeleteObject(ctx, in)
	}
	switch {
	case err == nil:
		return nil
	case conditionFailed(err):
		return fmt.Errorf("state %s: the lock changed while psync removed it (another process took it): left as is", b)
	}
	return b.describe("remove the lock", err)
}

type s3Lock struct {
	b  *S3
	id string
}

// Unlock removes the lock object if it is still this one.
func (l *s3Lock) Unlock() error {
	if l == nil || l.b == nil {
		return nil
	}
	b := l.b
	l.b = nil
	// The command's context may be cancelled (an interrupt): the lock
	// is removed all the same.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	held, etag, err := b.readLockVersion(ctx)
	if errors.Is(err, errNoObject) {
		return fmt.Errorf("unlock state %s: the lock was removed while this psync held it (psync state unlock?)", b)
	}
	if err != nil {
		return err
	}
	if held.ID != l.id {
		return fmt.Errorf("unlock state %s: the lock is now held by %s (lock id %s), not this psync: it was removed while this psync held it; left as is", b, textsafe.Line(held.Who), held.ID)
	}
	if err := b.deleteLock(ctx, etag); err != nil {
		return fmt.Errorf("%w; the lock is left: once nothing runs, remove it with: psync state unlock %s --state %s", err, l.id, shellWord(b.String()))
	}
	return nil
}

// Journal returns a recorder that group-commits the apply's changes: an
// Update changes the state in memory and returns; a writer saves the state
// at most every FlushInterval, and Close saves the rest. A kill -9 loses
// the changes since the last write; the next plan adopts their objects by
// name, and forgets the deleted ones it still records.
func (b *S3) Journal(ctx context.Context, s *State) Recorder {
	if s == nil {
		s = New()
	}
	if s.Lineage == "" {
		if l, err := newLineage(); err == nil {
			s.Lineage = l
		}
	}
	j := &s3Journal{
		b:     b,
		ctx:   context.WithoutCancel(ctx), // an interrupt must not stop the saves
		state: s,
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go j.writer()
	return j
}

type s3Journal struct {
	b   *S3
	ctx context.Context

	mu      sync.Mutex
	state   *State
	changes uint64 // Updates applied
	saved   uint64 // Updates in the stored state
	closed  bool
	lost    error // the state changed underneath: no write can succeed
	lastErr error // the last write's error

	kick       chan struct{}
	stop, done chan struct{}
}

func (j *s3Journal) Update(fn func(*State)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return fmt.Errorf("journal: state %s: update after Close", j.b)
	}
	lineage := j.state.Lineage
	fn(j.state)
	j.state.Lineage = lineage
	j.state.Serial++
	j.changes++
	select {
	case j.kick <- struct{}{}:
	default:
	}
	return j.lost
}

// writer saves the state whenever it changed, at most every FlushInterval.
func (j *s3Journal) writer() {
	defer close(j.done)
	for {
		select {
		case <-j.stop:
			return
		case <-j.kick:
		}
		j.flush()
		select {
		case <-j.stop:
			return
		case <-time.After(j.b.FlushInterval):
		}
		if j.unsaved() {
			// The write failed (the service was briefly unavailable):
			// try again now, not only at the next change or at Close.
			select {
			case j.kick <- struct{}{}:
			default:
			}
		}
	}
}

// unsaved reports changes not in the stored state that a write may still
// save (not after the state changed underneath).
func (j *s3Journal) unsaved() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lost == nil && j.saved != j.changes
}

// flush writes the state if it holds unsaved changes.
func (j *s3Journal) flush() error {
	j.mu.Lock()
	if j.lost != nil {
		j.mu.Unlock()
		return j.lost
	}
	if j.saved == j.changes {
		j.mu.Unlock()
		return nil
	}
	snap, upTo := j.state.Clone(), j.changes
	j.mu.Unlock()
	err := j.b.Write(j.ctx, snap)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lastErr = err
	switch {
	case err == nil:
		j.saved = upTo
	case errors.Is(err, ErrStateChanged):
		j.lost = err
	}
	return err
}

// Close stops the writer and saves every change not saved yet.
func (j *s3Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	close(j.stop)
	<-j.done
	if err := j.flush(); err != nil {
		j.mu.Lock()
		defer j.mu.Unlock()
		return fmt.Errorf("journal: %w (%d changes done are not in it)", err, j.changes-j.saved)
	}
	return nil
}

func (j *s3Journal) State() *State {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state.Clone()
}
