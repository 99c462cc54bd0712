package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/psync-dev/psync/internal/safefile"
	"github.com/psync-dev/psync/internal/textsafe"
	"github.com/psync-dev/psync/pkg/state"
)

// StateCmd works on the state itself, with Terraform's names. None of them
// calls the Paperspace API; those that write take the state's lock.
type StateCmd struct {
	List    StateListCmd    `cmd:"" help:"List the objects the state owns: kind/name, id, protection."`
	Show    StateShowCmd    `cmd:"" help:"Show what the state records of one object (KIND/NAME)."`
	Rm      StateRmCmd      `cmd:"" help:"Forget objects (KIND/NAME...): psync stops owning them; nothing is deleted."`
	Pull    StatePullCmd    `cmd:"" help:"Print the state."`
	Push    StatePushCmd    `cmd:"" help:"Replace the state with a state file (refused for another lineage or an older serial unless --force)."`
	Migrate StateMigrateCmd `cmd:"" help:"Copy the state to another backend (--to FILE|s3://BUCKET/KEY), keeping lineage and serial, and verify the copy."`
	Unlock  StateUnlockCmd  `cmd:"" help:"Remove the lock a killed psync left on a remote state, given its lock id."`
}

// openState opens the backend of this command's state: --state or
// PSYNC_STATE, else settings.state of the manifest, else psync.state.json
// next to it.
func (g *Globals) openState(ctx context.Context, streams *IO) (state.Backend, error) {
	if g.State != "" {
		return openBackend(ctx, streams, g.State, g.InsecureHTTP)
	}
	m, err := loadManifest(g.File, streams)
	if err != nil {
		return nil, fmt.Errorf("%w (the state's location comes from the manifest's settings.state, or --state / PSYNC_STATE)", err)
	}
	return openBackend(ctx, streams, g.stateLocation(m), g.InsecureHTTP)
}

// openBackend opens the state at location. For a remote state, the
// storage credentials in the environment join the secrets that never
// reach the output (the SDK's messages do not hold them: a second fence),
// and a plain http:// endpoint that is not loopback is refused unless
// insecureHTTP, as the API's is.
func openBackend(ctx context.Context, streams *IO, location string, insecureHTTP bool) (state.Backend, error) {
	b, err := state.Open(ctx, location)
	if err != nil {
		return nil, err
	}
	if s3b, remote := b.(*state.S3); remote && !insecureHTTP {
		if u, err := url.Parse(s3b.Endpoint()); err == nil && u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("state %s: refusing the plain http:// S3 endpoint %s, which is not loopback (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL): the state and any session token would travel unencrypted (use https://, or --insecure-http if you really mean it)", b, s3b.Endpoint())
		}
	}
	if _, remote := b.(*state.S3); remote && streams.Secrets != nil {
		for _, name := range []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
			streams.Secrets.AddSecret(os.Getenv(name))
		}
	}
	return b, nil
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadState loads the state, refusing one that does not exist: a state
// command on it is a mistaken location.
func loadState(ctx context.Context, b state.Backend) (*state.State, error) {
	s, info, err := b.Load(ctx)
	if err != nil {
		return nil, err
	}
	if !info.Exists {
		return nil, fmt.Errorf("state %s does not exist (check --state, PSYNC_STATE or settings.state)", b)
	}
	return s, nil
}

// readState opens the state and loads it, for a command that only reads
// (no lock, as plan).
func (g *Globals) readState(ctx context.Context, streams *IO) (*state.State, error) {
	b, err := g.openState(ctx, streams)
	if err != nil {
		return nil, err
	}
	return loadState(ctx, b)
}

// lockState takes b's lock for a command that writes.
func lockState(ctx context.Context, b state.Backend) (state.Unlocker, error) {
	l, err := b.Lock(ctx, state.CommandLine())
	if err != nil {
		return nil, withCode(ExitError, err)
	}
	return l, nil
}

// releaseLock releases l, saying so when it could not: a lock left behind
// fails the next run, which should be no surprise. The command's own
// outcome stands (its write is done).
func releaseLock(streams *IO, l state.Unlocker) {
	if l == nil {
		return
	}
	if err := l.Unlock(); err != nil {
		fmt.Fprintf(streams.Stderr, "psync: warning: %s\n", textsafe.Line(err.Error()))
	}
}

// StateListCmd lists the owned objects.
type StateListCmd struct{}

func (c *StateListCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	s, err := g.readState(ctx, streams)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(streams.Stdout, 0, 4, 2, ' ', 0)
	for _, sc := range s.Scripts {
		fmt.Fprintf(tw, "script/%s\t%s\t%s\n", safe(sc.Name), safe(sc.ID), protection(sc.PreventDestroy, false))
	}
	for _, t := range s.Templates {
		fmt.Fprintf(tw, "template/%s\t%s\t%s\n", safe(t.Name), safe(t.ID), protection(t.PreventDestroy, t.Deposed))
	}
	return tw.Flush()
}

func protection(prevent, deposed bool) string {
	var out []string
	if prevent {
		out = append(out, "preventDestroy")
	}
	if deposed {
		out = append(out, "deposed")
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

// safe quotes a name or id that holds anything but printable characters:
// a state may be hostile, and must not forge output on a terminal.
func safe(s string) string {
	if strings.ContainsRune(s, '\t') || textsafe.Line(s) != s {
		return fmt.Sprintf("%+q", s)
	}
	return s
}

// StateShowCmd shows one entry.
type StateShowCmd struct {
	Address string `arg:"" name:"address" help:"script/NAME or template/NAME."`
}

func (c *StateShowCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	kind, name, err := parseAddress(c.Address)
	if err != nil {
		return err
	}
	b, err := g.openState(ctx, streams)
	if err != nil {
		return err
	}
	s, err := loadState(ctx, b)
	if err != nil {
		return err
	}
	var entries []any
	switch kind {
	case "script":
		for _, sc := range s.Scripts {
			if sc.Name == name {
				// The body is what psync pushed; pull prints it. Show
				// says what it is, not what it says.
				sc.Body = nil
				entries = append(entries, sc)
			}
		}
	case "template":
		for _, t := range s.Templates {
			if t.Name == name {
				entries = append(entries, t)
			}
		}
	}
	if len(entries) == 0 {
		return fmt.Errorf("state %s owns no %s named %q ('psync state list' lists what it owns)", b, kind, name)
	}
	for _, e := range entries {
		if err := printJSON(streams, e); err != nil {
			return err
		}
	}
	return nil
}

// printJSON prints v as indented JSON, with every character outside
// printable ASCII escaped, so no state can forge output.
func printJSON(streams *IO, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for _, r := range string(data) {
		if r > 0x7e {
			if r > 0xffff {
				r1, r2 := utf16Pair(r)
				fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&out, `\u%04x`, r)
			}
			continue
		}
		out.WriteRune(r)
	}
	out.WriteByte('\n')
	_, err = streams.Stdout.Write(out.Bytes())
	return err
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

func parseAddress(addr string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(addr, "/")
	if !ok || name == "" || (kind != "script" && kind != "template") {
		return "", "", fmt.Errorf("%q is not an object address: want script/NAME or template/NAME", addr)
	}
	return kind, name, nil
}

// StateRmCmd forgets objects.
type StateRmCmd struct {
	Addresses []string `arg:"" name:"address" help:"script/NAME or template/NAME (repeatable)."`
}

func (c *StateRmCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	type address struct{ kind, name string }
	var addrs []address
	for _, a := range c.Addresses {
		kind, name, err := parseAddress(a)
		if err != nil {
			return err
		}
		addrs = append(addrs, address{kind, name})
	}
	b, err := g.openState(ctx, streams)
	if err != nil {
		return err
	}
	lock, err := lockState(ctx, b)
	if err != nil {
		return err
	}
	defer releaseLock(streams, lock)
	s, err := loadState(ctx, b)
	if err != nil {
		return err
	}
	var removed []string
	for _, a := range addrs {
		var ids []string
		switch a.kind {
		case "script":
			for _, sc := range s.Scripts {
				if sc.Name == a.name {
					ids = append(ids, sc.ID)
				}
			}
			for _, id := range ids {
				s.RemoveScript(id)
			}
		case "template":
			for _, t := range s.Templates {
				if t.Name == a.name {
					ids = append(ids, t.ID)
				}
			}
			for _, id := range ids {
				s.RemoveTemplate(id)
			}
		}
		if len(ids) == 0 {
			// Nothing is written: a typo must not half-apply.
			return fmt.Errorf("state %s owns no %s named %q: nothing was removed", b, a.kind, a.name)
		}
		for _, id := range ids {
			removed = append(removed, fmt.Sprintf("%s/%s (%s)", a.kind, safe(a.name), safe(id)))
		}
	}
	if err := state.Save(ctx, b, s); err != nil {
		return err
	}
	for _, r := range removed {
		fmt.Fprintf(streams.Stdout, "Removed %s from the state; the object itself is untouched.\n", r)
	}
	if len(removed) == 1 {
		fmt.Fprintln(streams.Stdout, "psync no longer owns it: the next plan adopts it by name if the manifest still declares it, and never deletes it otherwise (unless --prune).")
	} else {
		fmt.Fprintln(streams.Stdout, "psync no longer owns them: the next plan adopts by name those the manifest still declares, and never deletes the others (unless --prune).")
	}
	return nil
}

// StatePullCmd prints the state.
type StatePullCmd struct{}

func (c *StatePullCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	s, err := g.readState(ctx, streams)
	if err != nil {
		return err
	}
	return printJSON(streams, s)
}

// StatePushCmd replaces the state with a file.
type StatePushCmd struct {
	File  string `arg:"" name:"file" help:"A psync state file ('-' for standard input)."`
	Force bool   `name:"force" help:"Replace the state even with another lineage or an older serial."`
}

func (c *StatePushCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	var data []byte
	var err error
	name := c.File
	if c.File == "-" {
		data, err = readAllCapped(streams.Stdin)
		name = "standard input"
	} else {
		// A regular file of bounded size: a device or a FIFO would
		// never end.
		data, err = safefile.ReadFile(c.File, safefile.Options{Limit: maxStateBytes, What: "state file"})
	}
	if err != nil {
		return fmt.Errorf("state push: %w", err)
	}
	pushed, err := state.Parse(name, data)
	if err != nil {
		return err
	}
	b, err := g.openState(ctx, streams)
	if err != nil {
		return err
	}
	lock, err := lockState(ctx, b)
	if err != nil {
		return err
	}
	defer releaseLock(streams, lock)
	cur, info, err := b.Load(ctx)
	if err != nil {
		return err
	}
	if info.Exists && !c.Force {
		switch {
		case pushed.Lineage != cur.Lineage:
			return withCode(ExitRefused, fmt.Errorf("state push: %s is of lineage %s, but state %s is of lineage %s (another history): pass --force to replace it", name, pushed.Lineage, b, cur.Lineage))
		case pushed.Serial < cur.Serial:
			return withCode(ExitRefused, fmt.Errorf("state push: %s has serial %d, older than state %s (serial %d): pass --force to replace it", name, pushed.Serial, b, cur.Serial))
		case pushed.Serial == cur.Serial && !cur.SameAs(pushed):
			return withCode(ExitRefused, fmt.Errorf("state push: %s has the serial of state %s (%d) but other content: pass --force to replace it", name, b, cur.Serial))
		}
	}
	// The pushed state is the next version of the stored one.
	pushed.Serial = max(pushed.Serial, cur.Serial)
	if err := state.Save(ctx, b, pushed); err != nil {
		return err
	}
	// The lineage is the pushed file's: it may hold anything.
	fmt.Fprintf(streams.Stdout, "Pushed %s to state %s (lineage %s, serial %d).\n", safe(name), safe(b.String()), safe(pushed.Lineage), pushed.Serial)
	return nil
}

// StateMigrateCmd copies the state to another backend.
type StateMigrateCmd struct {
	To    string `name:"to" required:"" placeholder:"FILE|s3://BUCKET/KEY" help:"Where to copy the state."`
	Force bool   `name:"force" help:"Replace a state that already exists there."`
}

func (c *StateMigrateCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	from, err := g.openState(ctx, streams)
	if err != nil {
		return err
	}
	to, err := openBackend(ctx, streams, c.To, g.InsecureHTTP)
	if err != nil {
		return err
	}
	if from.String() == to.String() {
		return fmt.Errorf("state migrate: the state is already at %s", to)
	}
	if f, ok := to.(*state.File); ok {
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			return err
		}
	}
	fromLock, err := lockState(ctx, from)
	if err != nil {
		return err
	}
	defer releaseLock(streams, fromLock)
	toLock, err := lockState(ctx, to)
	if err != nil {
		return err
	}
	defer releaseLock(streams, toLock)
	s, err := loadState(ctx, from)
	if err != nil {
		return err
	}
	existing, info, err := to.Load(ctx)
	if err != nil {
		return err
	}
	if info.Exists && !c.Force && !existing.SameAs(s) {
		return withCode(ExitRefused, fmt.Errorf("state migrate: %s already holds a state (lineage %s, serial %d): pass --force to replace it", to, existing.Lineage, existing.Serial))
	}
	if err := to.Write(ctx, s); err != nil {
		return err
	}
	// Verify through a fresh read of the destination.
	check, err := state.Open(ctx, c.To)
	if err != nil {
		return err
	}
	copied, _, err := check.Load(ctx)
	if err != nil {
		return fmt.Errorf("state migrate: verify %s: %w", to, err)
	}
	if !copied.SameAs(s) {
		return errors.New("state migrate: the copy read back differs from the state: the source is left as is")
	}
	fmt.Fprintf(streams.Stdout, "Copied state %s to %s (lineage %s, serial %d, %s, %s) and verified it.\n",
		safe(from.String()), safe(to.String()), safe(s.Lineage), s.Serial, plural(len(s.Scripts), "script"), plural(len(s.Templates), "template"))
	fmt.Fprintf(streams.Stdout, "Point psync at it (settings.state: %s in the manifest, or --state / PSYNC_STATE), then remove %s so that no one applies with the old one.\n", to, from)
	return nil
}

// StateUnlockCmd removes a lock by id.
type StateUnlockCmd struct {
	ID string `arg:"" name:"lock-id" help:"The lock id, as the error of the locked command names it."`
}

func (c *StateUnlockCmd) Run(g *Globals, streams *IO, ctx context.Context) error {
	b, err := g.openState(ctx, streams)
	if err != nil {
		return err
	}
	if err := b.ForceUnlock(ctx, c.ID); err != nil {
		return err
	}
	fmt.Fprintf(streams.Stdout, "Removed lock %s of state %s.\n", c.ID, b)
	return nil
}

// maxStateBytes is the most of a state push reads, as psync reads of any
// state.
const maxStateBytes = 64 << 20

// readAllCapped reads a state from a stream, up to 64 MiB.
func readAllCapped(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxStateBytes+1))
	if err == nil && len(data) > maxStateBytes {
		err = errors.New("larger than 64 MiB: not a psync state")
	}
	return data, err
}
