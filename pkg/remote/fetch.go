package remote

import (
	"context"
	"errors"
	"net/http"

	"golang.org/x/sync/errgroup"

	"github.com/psync-dev/psync/pkg/api"
)

// Fetch returns the whole remote picture: scripts, custom templates, the
// OS catalogue and, where the API lists them, the machines, fetched
// concurrently (the session too, once per
// client), every page followed, de-duplicated by id and sorted by name
// then id. The dialect is detected from the answers.
func (c *Client) Fetch(ctx context.Context) (*Snapshot, error) {
	var (
		scripts   scriptList
		templates templateList
		osts      []OSTemplate
		team      string
		machines  []Machine
		known     bool
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { scripts, err = c.listScripts(gctx, nil); return err })
	g.Go(func() (err error) { templates, err = c.listTemplates(gctx, nil); return err })
	g.Go(func() (err error) { osts, err = c.ListOSTemplates(gctx, ListOptions{}); return err })
	g.Go(func() (err error) { team, err = c.Session(gctx); return err })
	g.Go(func() (err error) { machines, known, err = c.ListMachines(gctx); return err })
	if err := g.Wait(); err != nil {
		return nil, err
	}

	fetched := make(map[string]bool, len(scripts.scripts)+len(templates.templates))
	for _, s := range scripts.scripts {
		fetched[s.ID] = true
	}
	for _, t := range templates.templates {
		fetched[t.ID] = true
	}
	c.mu.Lock()
	c.fetched = fetched
	c.mu.Unlock()

	live := scripts.live || templates.live
	dialect := dialectOf(live)
	c.noteDialect(dialect)
	if team == "" {
		team = scripts.team
	}
	if team == "" {
		team = templates.team
	}
	return &Snapshot{
		Dialect:          dialect,
		Team:             team,
		AssignmentsKnown: scripts.assignKnow,
		Scripts:          scripts.scripts,
		Templates:        templates.templates,
		OSTemplates:      osts,
		MachinesKnown:    known,
		Machines:         machines,
	}, nil
}

// Session returns the id of the team the key belongs to, from GET
// /auth/session. It returns "", nil when the API has no such route (the
// spec has none), and an UNAUTHORIZED error when the API answers null (a
// key that is not logged in). The answer is remembered for the client's
// lifetime.
func (c *Client) Session(ctx context.Context) (string, error) {
	c.mu.Lock()
	if s := c.session; s != nil {
		c.mu.Unlock()
		return s.team, s.err
	}
	c.mu.Unlock()

	o := op{Op: "get", Kind: "session"}
	resp, err := c.do(ctx, &request{op: o, method: http.MethodGet, path: "/auth/session"}, c.newRetrier())
	if err != nil {
		var e *Error
		if errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed || e.Status == http.StatusNotImplemented) {
			c.remember(&sessionResult{})
			return "", nil
		}
		return "", err
	}
	var s *api.Session
	if err := c.decodeBody(o, resp, &s); err != nil {
		return "", err
	}
	if s == nil {
		// The live API's answer for a key that is not logged in; taking
		// it for "team unknown" would switch the state's team guard off.
		e := o.err(0, nil)
		e.Code, e.Message = api.CodeUnauthorized, "PAPERSPACE_API_KEY is not valid for this API (GET /auth/session answered null: the key is not logged in)"
		err := c.redactError(e)
		c.remember(&sessionResult{err: err})
		return "", err
	}
	c.remember(&sessionResult{team: s.Team.ID})
	return s.Team.ID, nil
}

// fetchedBefore reports whether the last Fetch saw the object id.
func (c *Client) fetchedBefore(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetched[id]
}

func (c *Client) remember(s *sessionResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.session = s
}
