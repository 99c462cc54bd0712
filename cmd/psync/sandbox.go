package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/psync-dev/psync/pkg/sandbox"
)

// SandboxCmd groups the sandbox's subcommands.
type SandboxCmd struct {
	Serve SandboxServeCmd `cmd:"" help:"Serve the API sandbox over HTTP until interrupted."`
}

// SandboxServeCmd runs the sandbox standalone.
type SandboxServeCmd struct {
	Listen   string   `name:"listen" default:"127.0.0.1:8080" placeholder:"ADDR" help:"Address to listen on (default ${default}; port 0 picks a free one)."`
	Data     string   `name:"data" placeholder:"DIR" help:"Persist the sandbox's data in DIR (default: in memory, lost at exit)."`
	Key      []string `name:"key" sep:"none" placeholder:"TEAM=KEY" help:"An API key and its team (repeatable). Default: one team with a generated key, stable for a given --data."`
	Machines int      `name:"machines" default:"10" help:"Machines seeded per team: psbox001-006 A100 training boxes (train-a100-N, ny2), psbox007-008 A4000 inference boxes (infer-N, ams1), then CPU notebooks. Add, change and remove them with /v1/_sandbox/machines."`
	Dialect  string   `name:"dialect" default:"spec" enum:"spec,paperspace-v1" help:"API dialect: spec (api/openapi.yaml) or paperspace-v1 (the live API's shapes)."`

	TemplateDelay     time.Duration `name:"template-delay" default:"300ms" placeholder:"D" help:"paperspace-v1: how long an asynchronous template creation takes (default ${default})."`
	TemplateErrorRate float64       `name:"template-error-rate" placeholder:"F" help:"paperspace-v1: fraction of template creations that end in error."`
	SpuriousErrorRate float64       `name:"template-spurious-error-rate" placeholder:"F" help:"paperspace-v1: fraction of the other template creations whose event ends in error with no message, though the template was made."`
	RepeatItems       bool          `name:"repeat-items" help:"paperspace-v1: start each page with the previous page's last item, as the live API may."`
	DeletedLinger     time.Duration `name:"deleted-linger" placeholder:"D" help:"paperspace-v1: keep deleted objects in lists and readable by GET, with dtDeleted, for D."`
	DeletedUnmarked   bool          `name:"deleted-unmarked" help:"paperspace-v1: deleted objects carry no dtDeleted (those that linger look like any other)."`
	RedundantAssign   int           `name:"redundant-assign-status" default:"400" placeholder:"N" help:"paperspace-v1: status of a duplicate assign or of an unassign of a machine not assigned (a 2xx makes both succeed)."`
	MaxScriptBytes    int           `name:"max-script-bytes" placeholder:"N" help:"paperspace-v1: refuse script bodies over N bytes (0: no limit, as no v1 source gives one)."`
	Sync              bool          `name:"sync" help:"fsync every write (survives a power cut, not only a crash; slower)."`

	Latency       time.Duration `name:"latency" placeholder:"D" help:"Delay every API request by D (e.g. 20ms)."`
	Jitter        time.Duration `name:"jitter" placeholder:"D" help:"Add a random delay up to D to every API request."`
	ErrorRate     float64       `name:"error-rate" placeholder:"F" help:"Fraction of API requests answered 500 or 503 (e.g. 0.1)."`
	ThrottleRate  float64       `name:"throttle-rate" placeholder:"F" help:"Fraction of API requests answered 429 with Retry-After."`
	AmbiguousRate float64       `name:"ambiguous-rate" placeholder:"F" help:"Fraction of writes performed and then answered 500 or cut off."`
	RPS           float64       `name:"rps" placeholder:"N" help:"Requests per second allowed per key; beyond it 429 with Retry-After (0: no limit)."`
	RetryAfter    time.Duration `name:"retry-after" default:"1s" placeholder:"D" help:"Retry-After of --throttle-rate answers (default ${default}; whole seconds, rounded up)."`
	Seed          int64         `name:"seed" placeholder:"N" help:"Seed of the fault decisions: the same seed gives the same sequence."`
}

// Run serves until SIGINT/SIGTERM or ctx ends. It prints the URL and the
// keys on stderr: sandbox keys are not secrets, and this is the one place
// they are shown.
func (c *SandboxServeCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	keys := map[string]string{}
	for _, kv := range c.Key {
		team, key, ok := strings.Cut(kv, "=")
		if !ok || team == "" || key == "" {
			return fmt.Errorf("--key %q: want TEAM=KEY", kv)
		}
		if other, dup := keys[key]; dup {
			return fmt.Errorf("--key: the same key is given to teams %s and %s", other, team)
		}
		keys[key] = team
	}
	retryAfter := c.RetryAfter
	if retryAfter <= 0 {
		retryAfter = -1 // Faults: negative sends "Retry-After: 0"
	}
	cfg := sandbox.Config{
		DataDir:  c.Data,
		Keys:     keys,
		Machines: c.Machines,
		Dialect:  c.Dialect,
		Sync:     c.Sync,
		Live: sandbox.LiveConfig{
			TemplateDelay: c.TemplateDelay, TemplateErrorRate: c.TemplateErrorRate, TemplateSpuriousErrorRate: c.SpuriousErrorRate,
			RedundantAssignStatus: c.RedundantAssign, MaxScriptBytes: c.MaxScriptBytes,
			RepeatItems: c.RepeatItems, DeletedLinger: c.DeletedLinger, DeletedUnmarked: c.DeletedUnmarked,
		},
		Faults: sandbox.Faults{
			Latency: c.Latency, Jitter: c.Jitter,
			ErrorRate: c.ErrorRate, ThrottleRate: c.ThrottleRate, AmbiguousRate: c.AmbiguousRate,
			RPS: c.RPS, Seed: c.Seed, RetryAfter: retryAfter,
		},
	}
	if g.Debug {
		cfg.Logf = func(format string, args ...any) { fmt.Fprintf(streams.Stderr, format+"\n", args...) }
	}
	in, err := sandbox.Start(cfg, c.Listen)
	if err != nil {
		return err
	}
	where := "in memory (lost at exit)"
	if c.Data != "" {
		where = "in " + c.Data
	}
	fmt.Fprintf(streams.Stderr, "psync sandbox: serving %s (dialect %s), data %s\n", in.URL, c.Dialect, where)
	byTeam := in.Server.Keys()
	teams := make([]string, 0, len(byTeam))
	for t := range byTeam {
		teams = append(teams, t)
	}
	sort.Strings(teams)
	for _, t := range teams {
		fmt.Fprintf(streams.Stderr, "psync sandbox: team %s: PAPERSPACE_API_KEY=%s\n", t, byTeam[t])
	}
	fmt.Fprintf(streams.Stderr, "psync sandbox: use it with: export PAPERSPACE_API_URL=%s PAPERSPACE_API_KEY=%s\n", in.URL, in.Key)
	fmt.Fprintln(streams.Stderr, "psync sandbox: press Ctrl-C to stop")

	var serveErr error
	waitErr := make(chan error, 1)
	go func() { waitErr <- in.Wait() }()
	// An interrupt cancels ctx (see handleInterrupts).
	select {
	case <-ctx.Done():
	case serveErr = <-waitErr:
	}
	if err := in.Close(); err != nil && serveErr == nil {
		serveErr = err
	}
	if serveErr != nil {
		return fmt.Errorf("sandbox: %w", serveErr)
	}
	fmt.Fprintln(streams.Stderr, "psync sandbox: stopped")
	return nil
}
