package githubactions

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/psync-dev/psync/pkg/sandbox"
)

// fakeGitHub serves the few REST routes the action calls — list, create
// and edit issue comments; list, create and edit issues — for the
// repository team/infra, as api.github.com answers them (pages of at most
// per_page items, pull requests in the issue list), and GET /user, which
// only a person's token may call. Tokens other than writeToken and those in
// personal may read but not write (a fork's).
type fakeGitHub struct {
	t          *testing.T
	writeToken string
	// personal are personal access tokens: they write as their person.
	personal map[string]ghUser
	mu       sync.Mutex
	nextID   int
	issues   map[int]*ghIssue
	comments map[int][]*ghComment // by issue number
	writes   int                  // writes done
	rejected int                  // writes refused to a token that may only read
}

type ghUser struct {
	Login string `json:"login"`
	Type  string `json:"type"`
}

type ghIssue struct {
	Number      int       `json:"number"`
	Title       string    `json:"title"`
	Body        string    `json:"body"`
	State       string    `json:"state"`
	StateReason string    `json:"state_reason,omitempty"`
	User        ghUser    `json:"user"`
	PullRequest *struct{} `json:"pull_request,omitempty"`
}

type ghComment struct {
	ID   int    `json:"id"`
	Body string `json:"body"`
	User ghUser `json:"user"`
}

var (
	bot   = ghUser{Login: "github-actions[bot]", Type: "Bot"}
	human = ghUser{Login: "octocat", Type: "User"}
)

func newFakeGitHub(t *testing.T) (*fakeGitHub, string) {
	g := &fakeGitHub{t: t, writeToken: "write-token", personal: map[string]ghUser{}, nextID: 1000, issues: map[int]*ghIssue{}, comments: map[int][]*ghComment{}}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv.URL
}

var (
	reComments = regexp.MustCompile(`^/repos/team/infra/issues/(\d+)/comments$`)
	reComment  = regexp.MustCompile(`^/repos/team/infra/issues/comments/(\d+)$`)
	reIssue    = regexp.MustCompile(`^/repos/team/infra/issues/(\d+)$`)
)

func (g *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" || r.Header.Get("Accept") != "application/vnd.github+json" {
		http.Error(w, `{"message":"Requires authentication"}`, http.StatusUnauthorized)
		return
	}
	author, personal := g.personal[token]
	if !personal {
		author = bot
	}
	if r.URL.Path == "/user" && r.Method == http.MethodGet {
		if !personal {
			// As GitHub answers GITHUB_TOKEN and an App's token.
			http.Error(w, `{"message":"Resource not accessible by integration"}`, http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(author)
		return
	}
	if r.Method != http.MethodGet && token != g.writeToken && !personal {
		g.rejected++
		http.Error(w, `{"message":"Resource not accessible by integration"}`, http.StatusForbidden)
		return
	}
	var in map[string]string
	if r.Method != http.MethodGet {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
			return
		}
		g.writes++
	}
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	page := func(n int) (lo, hi int) {
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if per <= 0 || per > 100 {
			per = 30
		}
		if p <= 0 {
			p = 1
		}
		lo, hi = min((p-1)*per, n), min(p*per, n)
		return lo, hi
	}
	switch m := reComments.FindStringSubmatch(r.URL.Path); {
	case m != nil && r.Method == http.MethodGet:
		n, _ := strconv.Atoi(m[1])
		cs := append([]*ghComment{}, g.comments[n]...) // [] rather than null, as GitHub answers
		lo, hi := page(len(cs))
		reply(http.StatusOK, cs[lo:hi])
		return
	case m != nil && r.Method == http.MethodPost:
		n, _ := strconv.Atoi(m[1])
		g.nextID++
		c := &ghComment{ID: g.nextID, Body: in["body"], User: author}
		g.comments[n] = append(g.comments[n], c)
		reply(http.StatusCreated, c)
		return
	}
	if m := reComment.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPatch {
		id, _ := strconv.Atoi(m[1])
		for _, cs := range g.comments {
			for _, c := range cs {
				if c.ID == id {
					c.Body = in["body"]
					reply(http.StatusOK, c)
					return
				}
			}
		}
		http.NotFound(w, r)
		return
	}
	if r.URL.Path == "/repos/team/infra/issues" {
		switch r.Method {
		case http.MethodGet:
			open := []*ghIssue{}
			for n := 1; n <= len(g.issues); n++ {
				if i := g.issues[n]; i.State == r.URL.Query().Get("state") {
					open = append(open, i)
				}
			}
			lo, hi := page(len(open))
			reply(http.StatusOK, open[lo:hi])
		case http.MethodPost:
			i := g.addIssueLocked(in["title"], in["body"], author, false)
			reply(http.StatusCreated, i)
		}
		return
	}
	if m := reIssue.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPatch {
		n, _ := strconv.Atoi(m[1])
		i := g.issues[n]
		if i == nil {
			http.NotFound(w, r)
			return
		}
		if b, ok := in["body"]; ok {
			i.Body = b
		}
		if s, ok := in["state"]; ok {
			i.State, i.StateReason = s, in["state_reason"]
		}
		reply(http.StatusOK, i)
		return
	}
	g.t.Errorf("unexpected GitHub API call %s %s", r.Method, r.URL)
	http.NotFound(w, r)
}

// addIssue adds an issue (or a pull request), as a person or another tool
// would.
func (g *fakeGitHub) addIssue(title, body string, by ghUser, pr bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.addIssueLocked(title, body, by, pr)
}

func (g *fakeGitHub) addIssueLocked(title, body string, by ghUser, pr bool) *ghIssue {
	i := &ghIssue{Number: len(g.issues) + 1, Title: title, Body: body, State: "open", User: by}
	if pr {
		i.PullRequest = &struct{}{}
	}
	g.issues[i.Number] = i
	return i
}

// bodies are the bodies of issue n's comments.
func (g *fakeGitHub) bodies(n int) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var bs []string
	for _, c := range g.comments[n] {
		bs = append(bs, c.Body)
	}
	return bs
}

// githubRunner is a run with the fake GitHub's URL and a token.
func githubRunner(t *testing.T, w *world, url, token string) *runner {
	w.runs++
	r := w.checkout("gh-"+strconv.Itoa(w.runs), w.git(w.origin, "rev-parse", "main"))
	r.env = append(r.env, "GITHUB_API_URL="+url, "PSYNC_ACTION_GITHUB_TOKEN="+token)
	return r
}

// TestPlanCommentIsPostedOnce: the plan becomes one comment, updated on the
// next push, found among more comments than one page holds; a person's
// comment quoting the marker, and another bot's comment, are left alone. A
// token that may not comment gets a warning, not a failure.
func TestPlanCommentIsPostedOnce(t *testing.T) {
	needTools(t, "curl")
	w := newWorld(t)
	w.merge("add a", []string{"a"})
	g, url := newFakeGitHub(t)
	g.addIssue("Add a", "", human, true) // pull request #1
	mark := "<!-- psync-action plan psync.yaml -->"
	g.mu.Lock()
	for i := range 150 {
		g.nextID++
		c := &ghComment{ID: g.nextID, Body: "looks good " + strconv.Itoa(i), User: human}
		switch i {
		case 3:
			c.Body = mark + "\nquoting the bot"
		case 4:
			c.Body = "a plan from another tool"
			c.User = ghUser{Login: "renovate[bot]", Type: "Bot"}
		}
		g.comments[1] = append(g.comments[1], c)
	}
	g.mu.Unlock()

	post := func(token, plan string) (int, string) {
		t.Helper()
		r := githubRunner(t, w, url, token)
		if err := os.WriteFile(filepath.Join(r.out, "comment.md"), []byte(mark+"\n"+plan+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return r.script("comment.sh", "PSYNC_ACTION_PR=1")
	}
	ours := func() []ghComment {
		g.mu.Lock()
		defer g.mu.Unlock()
		var cs []ghComment
		for _, c := range g.comments[1] {
			if c.User == bot {
				cs = append(cs, *c)
			}
		}
		return cs
	}

	if code, out := post("write-token", "plan one"); code != 0 || !strings.Contains(out, "posted the plan comment") {
		t.Fatalf("first post: exit %d:\n%s", code, out)
	}
	if code, out := post("write-token", "plan two"); code != 0 || !strings.Contains(out, "updated the plan comment") {
		t.Fatalf("second post: exit %d:\n%s", code, out)
	}
	cs := ours()
	if len(cs) != 1 || cs[0].Body != mark+"\nplan two\n" {
		t.Fatalf("the bot's comments after two pushes: %+v", cs)
	}
	g.mu.Lock()
	if got := g.comments[1][3].Body; got != mark+"\nquoting the bot" {
		t.Errorf("the person's comment was changed to %q", got)
	}
	if got := g.comments[1][4].Body; got != "a plan from another tool" {
		t.Errorf("the other bot's comment was changed to %q", got)
	}
	writes, rejected := g.writes, g.rejected
	g.mu.Unlock()

	code, out := post("read-only-token", "plan three")
	if code != 0 || !strings.Contains(out, "::warning::could not comment on the pull request") {
		t.Errorf("a token that may not comment: exit %d, want 0 with a warning:\n%s", code, out)
	}
	g.mu.Lock()
	wrote, refused := g.writes-writes, g.rejected-rejected
	g.mu.Unlock()
	if wrote != 0 || refused != 1 || ours()[0].Body != mark+"\nplan two\n" {
		t.Errorf("the read-only token: %d writes done, %d refused, comment %q; want 0, 1 (the update), unchanged", wrote, refused, ours()[0].Body)
	}
	if strings.Contains(out, "read-only-token") {
		t.Errorf("the token is in the output:\n%s", out)
	}
}

// TestPersonalTokenFindsItsOwnComment: with a person's token (a PAT given
// as github-token), what the action posts is written by that person, not by
// a bot. The plan comment is still updated rather than posted again on
// every push, and the drift issue opened once rather than every night;
// another person's comment or issue quoting the marker is left alone.
func TestPersonalTokenFindsItsOwnComment(t *testing.T) {
	needTools(t, "curl")
	w := newWorld(t)
	w.merge("add a", []string{"a"})
	g, url := newFakeGitHub(t)
	ci := ghUser{Login: "team-ci", Type: "User"}
	g.personal["pat-token"] = ci
	g.addIssue("Add a", "", human, true) // pull request #1
	plan, drift := "<!-- psync-action plan psync.yaml -->", "<!-- psync-action drift psync.yaml -->"
	g.addIssue("quoting", drift+"\na person", human, false) // #2
	g.mu.Lock()
	g.nextID++
	g.comments[1] = append(g.comments[1], &ghComment{ID: g.nextID, Body: plan + "\nquoting the plan", User: human})
	g.mu.Unlock()

	run := func(script, body string, env ...string) string {
		t.Helper()
		r := githubRunner(t, w, url, "pat-token")
		if err := os.WriteFile(filepath.Join(r.out, "comment.md"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := r.script(script, env...)
		if code != 0 || strings.Contains(out, "::warning::") {
			t.Fatalf("%s: exit %d:\n%s", script, code, out)
		}
		return out
	}
	for i := 1; i <= 2; i++ {
		run("comment.sh", plan+"\nplan "+strconv.Itoa(i)+"\n", "PSYNC_ACTION_PR=1")
		run("drift-issue.sh", drift+"\ndrift "+strconv.Itoa(i)+"\n", "PSYNC_ACTION_EXITCODE=2")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var comments, issues []string
	for _, c := range g.comments[1] {
		if c.User == ci {
			comments = append(comments, c.Body)
		}
	}
	for n := 1; n <= len(g.issues); n++ {
		if i := g.issues[n]; i.User == ci {
			issues = append(issues, i.Body)
		}
	}
	if len(comments) != 1 || comments[0] != plan+"\nplan 2\n" {
		t.Errorf("the plan comments after two pushes: %q, want one, updated", comments)
	}
	if len(issues) != 1 || issues[0] != drift+"\ndrift 2\n" {
		t.Errorf("the drift issues after two nights: %q, want one, updated", issues)
	}
	if got := g.comments[1][0].Body; got != plan+"\nquoting the plan" {
		t.Errorf("the person's comment was changed to %q", got)
	}
	if got := g.issues[2].Body; got != drift+"\na person" {
		t.Errorf("the person's issue was changed to %q", got)
	}
}

// TestDriftIssueLifecycle runs the drift check (plan.sh, then
// drift-issue.sh, as action.yml does) against the sandbox: no issue while
// the team matches; one issue, updated, while a script deleted in the
// console is missing; the issue closed, with a comment, once an apply made
// the team match again. Issues and pull requests that only quote the
// marker are left alone.
func TestDriftIssueLifecycle(t *testing.T) {
	needTools(t, "curl")
	w := newWorld(t)
	c1 := w.merge("add a and b", []string{"a", "b"})
	if applyCode, commitCode, out := w.checkout("apply1", c1).apply(); applyCode != 0 || commitCode != 0 {
		t.Fatalf("apply: exit %d and %d:\n%s", applyCode, commitCode, out)
	}
	g, url := newFakeGitHub(t)
	mark := "<!-- psync-action drift psync.yaml -->"
	g.addIssue("quoting", mark+"\na person", human, false)
	g.addIssue("a pull request", mark+"\nby a bot", bot, true)

	drift := func() (planExit string, out string) {
		t.Helper()
		r := githubRunner(t, w, url, "write-token")
		res, out := r.runAction(map[string]string{"command": "drift", "state": "psync.state.json", "args": "--sandbox " + w.sandbox, "github-token": "write-token"})
		if failed(res) || res["drift-issue"].outcome != "success" {
			t.Fatalf("the drift check failed (steps %v):\n%s", res, out)
		}
		return res["psync"].outputs["exitcode"], out
	}
	driftIssues := func() []ghIssue {
		g.mu.Lock()
		defer g.mu.Unlock()
		var is []ghIssue
		for n := 1; n <= len(g.issues); n++ {
			if i := g.issues[n]; i.User == bot && i.PullRequest == nil {
				is = append(is, *i)
			}
		}
		return is
	}

	if code, out := drift(); code != "0" || len(driftIssues()) != 0 {
		t.Fatalf("no drift: plan exit %s, issues %+v:\n%s", code, driftIssues(), out)
	}

	// Someone deletes b in the console.
	inst, err := sandbox.Start(sandbox.Config{DataDir: w.sandbox}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodDelete, inst.URL+"/startup-scripts/"+w.sandboxIDLocked(inst, "b"), nil)
	req.Header.Set("Authorization", "Bearer "+inst.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("deleting b in the sandbox: %v %v", err, resp)
	}
	resp.Body.Close()
	inst.Close()

	for night := 1; night <= 2; night++ {
		code, out := drift()
		is := driftIssues()
		if code != "2" || len(is) != 1 || is[0].State != "open" {
			t.Fatalf("night %d of drift: plan exit %s, issues %+v:\n%s", night, code, is, out)
		}
		for _, want := range []string{mark + "\n", "the team has drifted from the manifest", "<code>b</code> | deleted outside psync"} {
			if !strings.Contains(is[0].Body, want) {
				t.Errorf("night %d: the issue's body lacks %q:\n%s", night, want, is[0].Body)
			}
		}
		if is[0].Title != "psync: the team has drifted from the manifest (psync.yaml)" {
			t.Errorf("the issue's title is %q", is[0].Title)
		}
	}

	// The apply puts b back; the next night closes the issue.
	if applyCode, _, out := w.checkout("apply2", w.git(w.origin, "rev-parse", "main")).apply(); applyCode != 0 {
		t.Fatalf("apply: exit %d:\n%s", applyCode, out)
	}
	if code, out := drift(); code != "0" {
		t.Fatalf("after the apply: plan exit %s:\n%s", code, out)
	}
	is := driftIssues()
	if len(is) != 1 || is[0].State != "closed" || is[0].StateReason != "completed" {
		t.Fatalf("after the apply the drift issue is %+v, want it closed", is)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if cs := g.comments[is[0].Number]; len(cs) != 1 || !strings.Contains(cs[0].Body, "matches the manifest again") {
		t.Errorf("the closing comment: %+v", cs)
	}
	for _, n := range []int{1, 2} {
		if i := g.issues[n]; i.State != "open" || !strings.HasSuffix(i.Body, "\na person") && !strings.HasSuffix(i.Body, "\nby a bot") {
			t.Errorf("issue %d, which only quotes the marker, was changed: %+v", n, i)
		}
	}
}

// sandboxIDLocked is the id of the script named name, read through the
// running sandbox instance (which holds the data directory).
func (w *world) sandboxIDLocked(inst *sandbox.Instance, name string) string {
	w.t.Helper()
	d, err := inst.Server.Dump(inst.TeamID)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, s := range d.StartupScripts {
		if s.Name == name {
			return s.ID
		}
	}
	w.t.Fatalf("the sandbox has no script %q", name)
	return ""
}
