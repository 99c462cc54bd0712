package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/psync-dev/psync/internal/textsafe"
	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/render"
	"github.com/psync-dev/psync/pkg/state"
)

// workspace is everything a plan or an apply works on: the manifest, the
// state file, and a connection to the API.
type workspace struct {
	manifest  *manifest.Manifest
	backend   state.Backend
	stateInfo state.LoadInfo
	state     *state.State
	client    *remote.Client
	target    Target
	lock      state.Unlocker
	closeConn func()
	streams   *IO // where close says that the lock could not be released
	// unbound is set when the state owned objects but recorded no target:
	// its ownership is unverified (plan.Options.UnboundState), and apply
	// records the target.
	unbound bool
}

// openOptions say how much of the workspace a command needs.
type openOptions struct {
	// lock takes the state file's exclusive lock (apply); planning only reads.
	lock bool
}

// openWorkspace loads the manifest and the state, connects, and checks that
// the state belongs to the target. The caller must call close.
func (g *Globals) openWorkspace(ctx context.Context, streams *IO, o openOptions) (*workspace, error) {
	m, err := loadManifest(g.File, streams)
	if err != nil {
		return nil, err
	}
	ws := &workspace{manifest: m, streams: streams}
	if ws.backend, err = openBackend(ctx, streams, g.stateLocation(m), g.InsecureHTTP); err != nil {
		return nil, err
	}
	if o.lock {
		ws.lock, err = ws.backend.Lock(ctx, state.CommandLine())
		if err != nil {
			return nil, withCode(ExitError, err)
		}
	}
	ws.state, ws.stateInfo, err = ws.backend.Load(ctx)
	if err != nil {
		ws.close()
		return nil, err
	}
	if !ws.stateInfo.Exists {
		// Without a state psync owns nothing and adopts by name: say so,
		// or "6 to adopt" reads like six new objects, and a --state
		// naming the wrong file goes unnoticed.
		what := "state file"
		if _, local := ws.backend.(*state.File); !local {
			what = "state"
		}
		if g.State != "" {
			fmt.Fprintf(streams.Stderr, "psync: note: %s %s does not exist yet: psync owns nothing there (a first apply, or a mistyped --state?)\n", what, ws.backend)
		} else {
			fmt.Fprintf(streams.Stderr, "psync: note: no %s: objects found by name will be adopted (%s does not exist yet)\n", what, ws.backend)
		}
	}
	ws.client, ws.target, ws.closeConn, err = g.connect(ctx, streams)
	if err != nil {
		ws.close()
		return nil, err
	}
	if err := refuseKeyInManifest(ws.manifest, ws.client.HoldsKey); err != nil {
		ws.close()
		return nil, withCode(ExitError, fmt.Errorf("manifest refused: %w", err))
	}
	if err := ws.resolveSecrets(os.LookupEnv); err != nil {
		ws.close()
		return nil, err
	}
	if err := refuseKeyInSecrets(ws.manifest, ws.client.HoldsKey); err != nil {
		ws.close()
		return nil, withCode(ExitError, fmt.Errorf("manifest refused: %w", err))
	}
	if ws.state.Unbound(ws.target.Team) {
		ws.unbound = true
		fmt.Fprintf(streams.Stderr, "psync: warning: the state %s owns %s but records no API URL or team: it is taken as %s's, which nothing here can verify (changes it alone justifies are marked \"unverified ownership\"); the next apply records the target\n",
			ws.backend, plural(len(ws.state.Scripts)+len(ws.state.Templates), "object"), textsafe.Line(ws.target.describe()))
	}
	if err := ws.state.CheckTarget(ws.target.APIURL, ws.target.Team); err != nil {
		ws.close()
		var te *state.TargetError
		if errors.As(err, &te) {
			return nil, withCode(ExitRefused, err)
		}
		return nil, err
	}
	return ws, nil
}

// describe names the target: its URL, and its team when known.
func (t Target) describe() string {
	if t.Team == "" {
		return t.APIURL
	}
	return fmt.Sprintf("%s (team %s)", t.APIURL, t.Team)
}

func (ws *workspace) close() {
	if ws.closeConn != nil {
		ws.closeConn()
	}
	if ws.lock != nil {
		releaseLock(ws.streams, ws.lock)
	}
}

// stateLocation is where the state lives: --state (or PSYNC_STATE), else
// settings.state (a file relative to the manifest's directory), else
// psync.state.json next to the manifest.
func (g *Globals) stateLocation(m *manifest.Manifest) string {
	switch {
	case g.State != "":
		return g.State
	case strings.HasPrefix(m.Settings.State, "s3://"):
		return m.Settings.State
	case m.Settings.State != "":
		return filepath.Join(m.Dir, m.Settings.State)
	}
	return filepath.Join(m.Dir, state.DefaultFileName)
}

// renderOptions decides colour: only on a terminal, never with --no-color
// or NO_COLOR.
func (g *Globals) renderOptions(streams *IO) render.Options {
	return render.Options{Color: render.UseColor(isTerminal(streams.Stdout), g.NoColor, os.LookupEnv)}
}

// isTerminal reports whether v is a terminal (an *os.File on a tty).
func isTerminal(v any) bool {
	if sw, ok := v.(*syncWriter); ok {
		v = sw.w
	}
	if rw, ok := v.(*redactingWriter); ok {
		v = rw.w
	}
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// fetch reads the whole remote picture through the read-only interface:
// planning can never write.
func fetch(ctx context.Context, r remote.Reader) (*remote.Snapshot, error) {
	snap, err := r.Fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the team: %w", err)
	}
	return snap, nil
}

// warnIgnoredNotes says when the manifest sets template notes that the API
// cannot hold: the live API has no note, so psync neither writes nor
// compares it there, and a plan would otherwise be silent about it.
func warnIgnoredNotes(w io.Writer, m *manifest.Manifest, snap *remote.Snapshot) {
	if snap.Dialect != remote.DialectPaperspaceV1 {
		return
	}
	var names []string
	for _, t := range m.Templates {
		if t.Note != "" {
			names = append(names, strconv.Quote(t.Name))
		}
	}
	if len(names) > 0 {
		fmt.Fprintf(w, "psync: warning: the live API has no template notes; the note of template %s is not applied\n", textsafe.Line(strings.Join(names, ", ")))
	}
}

// learnTeam takes the team from the team's objects (their teamId) when the
// API could not say whose the key is (the spec's API has no session
// route), and checks the state against it: a state of another team is
// refused (exit 3). It reports whether the state learnt its team just now,
// for apply to record it.
func (ws *workspace) learnTeam(snap *remote.Snapshot) (bool, error) {
	if ws.target.Team != "" || snap.Team == "" {
		return false, nil
	}
	ws.target.Team = snap.Team
	had := ws.state.Team
	if err := ws.state.CheckTarget(ws.target.APIURL, ws.target.Team); err != nil {
		return false, withCode(ExitRefused, err)
	}
	return had == "" && ws.state.Team != "", nil
}

// erroredStateFile is where apply keeps the state it could not save to a
// remote backend, as Terraform keeps errored.tfstate.
const erroredStateFile = "psync-errored.state.json"

// rescue keeps an apply's state when the remote backend refused the last
// save: written to a local file, with the command that pushes it once the
// cause is fixed. A local state's journal already holds every change.
func (ws *workspace) rescue(j state.Recorder, closeErr error) error {
	if _, local := ws.backend.(*state.File); local {
		return closeErr
	}
	path := filepath.Join(ws.manifest.Dir, erroredStateFile)
	s := j.State()
	if err := s.Save(path); err != nil {
		return fmt.Errorf("%w; keeping it in %s failed too: %v", closeErr, path, err)
	}
	return fmt.Errorf("%w; the state with every change done is kept in %s: once the cause is fixed, run 'psync state push %s' (it refuses to replace a newer state without --force)", closeErr, path, path)
}
