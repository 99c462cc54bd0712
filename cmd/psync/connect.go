package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
	"github.com/psync-dev/psync/pkg/state"
)

// keyEnv is where the API key comes from. Never a flag: a flag's value
// shows in ps and in shell history.
const keyEnv = "PAPERSPACE_API_KEY"

// Target identifies what a state file belongs to.
type Target struct {
	// APIURL is the normalised base URL, or "sandbox:" and the sandbox's
	// absolute data directory (its port changes every run; its data does
	// not).
	APIURL string
	// Team is the key's team when the API tells it; empty otherwise.
	Team string
	// Key keys the fingerprints of bodies that hold a secret
	// (fingerprintKey): derived from the API key, or PSYNC_FINGERPRINT_KEY.
	Key state.FingerprintKey
}

// connect builds the API client from the global flags and
// PAPERSPACE_API_KEY, or starts the in-process sandbox with --sandbox DIR,
// and learns the target the state must belong to. The returned func
// releases what connect started (the sandbox); it is never nil.
func (g *Globals) connect(ctx context.Context, streams *IO) (*remote.Client, Target, func(), error) {
	noop := func() {}
	if g.MaxAttempts < 1 {
		return nil, Target{}, noop, fmt.Errorf("--max-attempts must be at least 1, not %d", g.MaxAttempts)
	}
	// The client would take 0 or less as its default, silently: not what
	// a user who wrote --timeout 0 meant.
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--timeout", g.Timeout}, {"--max-retry-time", g.MaxRetryTime}, {"--template-timeout", g.TemplateTimeout}} {
		if d.v <= 0 {
			return nil, Target{}, noop, fmt.Errorf("%s must be more than 0, not %s", d.flag, d.v)
		}
	}
	baseURL := strings.TrimSpace(g.APIURL)
	if baseURL == "" {
		// PAPERSPACE_API_URL set but empty, as an undefined CI variable
		// gives: the default, like an unset one.
		baseURL = remote.DefaultBaseURL
	}
	cfg := remote.Config{
		BaseURL:      baseURL,
		InsecureHTTP: g.InsecureHTTP,
		RateLimit:    g.RateLimit,
		Timeout:      g.Timeout,
		MaxAttempts:  g.MaxAttempts,
		MaxRetryTime: g.MaxRetryTime,
		EventTimeout: g.TemplateTimeout,
		UserAgent:    "psync/" + version(),
	}
	if g.Debug {
		cfg.Debug = streams.Stderr
	}

	var (
		target  Target
		release = noop
		inst    *sandbox.Instance
	)
	if g.Sandbox != "" {
		dir, err := filepath.Abs(g.Sandbox)
		if err != nil {
			return nil, Target{}, noop, fmt.Errorf("sandbox directory %s: %w", g.Sandbox, err)
		}
		dialect := cmp.Or(g.SandboxDialect, sandbox.DialectSpec)
		if dialect != sandbox.DialectSpec && dialect != sandbox.DialectPaperspace1 {
			return nil, Target{}, noop, fmt.Errorf("--sandbox-dialect (or PSYNC_SANDBOX_DIALECT) must be %s or %s, not %q", sandbox.DialectSpec, sandbox.DialectPaperspace1, dialect)
		}
		inst, err = sandbox.Start(sandbox.Config{DataDir: dir, Dialect: dialect}, "127.0.0.1:0")
		// On loopback an asynchronous template creation is worth polling
		// often; Paperspace's take minutes.
		cfg.PollInterval = 100 * time.Millisecond
		if err != nil {
			return nil, Target{}, noop, fmt.Errorf("start the sandbox in %s: %w", g.Sandbox, err)
		}
		fmt.Fprintf(streams.Stderr, "psync: using the sandbox in %s (not Paperspace)\n", g.Sandbox)
		release = func() {
			if err := inst.Close(); err != nil {
				fmt.Fprintf(streams.Stderr, "psync: closing the sandbox: %v\n", err)
			}
		}
		cfg.BaseURL, cfg.APIKey = inst.URL, inst.Key
		target.APIURL = "sandbox:" + dir
	} else {
		cfg.APIKey = strings.TrimSpace(os.Getenv(keyEnv))
		if cfg.APIKey == "" {
			return nil, Target{}, noop, fmt.Errorf("%s is not set: export your Paperspace API key in it (psync never takes the key as a flag, where ps would show it), or try psync without an account with --sandbox DIR", keyEnv)
		}
	}

	// Whatever prints it, the key never reaches the output. (The
	// client's own Redactor also holds the secrets the manifest names,
	// for its errors; the output's holds the key alone, so that a line of
	// a sensitive body does not blank the same line in other diffs.)
	if streams.Secrets != nil {
		streams.Secrets.AddSecret(cfg.APIKey)
	}
	client, err := remote.New(cfg)
	if err != nil {
		release()
		return nil, Target{}, noop, fmt.Errorf("API client: %w", err)
	}
	if target.APIURL == "" {
		target.APIURL = client.BaseURL()
	}
	team, err := client.Session(ctx)
	if err != nil {
		release()
		return nil, Target{}, noop, fmt.Errorf("learn the API key's team: %w", err)
	}
	if team == "" && inst != nil {
		team = inst.TeamID
	}
	target.Team = team
	if target.Key, err = fingerprintKey(os.LookupEnv, cfg.APIKey); err != nil {
		release()
		return nil, Target{}, noop, err
	}
	return client, target, release, nil
}
