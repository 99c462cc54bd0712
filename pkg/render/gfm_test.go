package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	gmext "github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"golang.org/x/net/html"

	"github.com/psync-dev/psync/pkg/plan"
)

// The Markdown plan is rendered the way GitHub renders a comment (goldmark
// with the GitHub-flavoured extensions: tables, strikethrough, autolinks,
// task lists; raw HTML kept, as GitHub keeps <details>), the HTML parsed,
// and its structure checked for every plan scenario and for hostile names
// and bodies: the tables keep their rows and cells, each body is one
// <details> with one code block holding the diff intact, and no name,
// reason or body adds an element (a link, an image, a script, an emphasis).

// gfmHTML renders md as GitHub would and parses the result.
func gfmHTML(t *testing.T, md string) *html.Node {
	t.Helper()
	gm := goldmark.New(goldmark.WithExtensions(gmext.GFM), goldmark.WithRendererOptions(gmhtml.WithUnsafe()))
	var out bytes.Buffer
	if err := gm.Convert([]byte(md), &out); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(&out)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func elements(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// tableWithHeader finds the table whose first header cell reads first.
func tableWithHeader(doc *html.Node, header string) *html.Node {
	for _, tb := range elements(doc, "table") {
		for _, th := range elements(tb, "th") {
			if strings.TrimSpace(textOf(th)) == header {
				return tb
			}
		}
	}
	return nil
}

// gfmAllowed are the elements a plan comment may have: psync's own.
var gfmAllowed = map[string]bool{
	"html": true, "head": true, "body": true, "h3": true, "h4": true, "p": true, "strong": true,
	"code": true, "br": true, "table": true, "thead": true, "tbody": true, "tr": true, "th": true,
	"td": true, "details": true, "summary": true, "pre": true, "blockquote": true, "ul": true, "li": true,
}

func hostileDriftPlan() *plan.Plan {
	p := hostilePlan()
	evil := "drift|`x`</details><a href=x>y</a>~~z~~ https://evil.example"
	p.Drift = []plan.Drift{
		{Key: "script/" + evil, Kind: plan.KindScript, ID: "s|1", Name: evil, Attribute: "name", LastApplied: "<b>old</b>|", Remote: evil, Resolution: plan.ResolutionRevert},
		{Key: "script/" + evil, Kind: plan.KindScript, ID: "s|1", Name: evil, Attribute: "machines", LastApplied: "", Remote: "m1, m|2", Resolution: plan.ResolutionKeep},
	}
	p.BodiesUnreadable = true
	return p
}

func TestMarkdownStructureSurvivesGFM(t *testing.T) {
	scenarios := append([]planScenario{}, planScenarios...)
	scenarios = append(scenarios, planScenario{name: "hostile", plan: hostilePlan}, planScenario{name: "hostile-drift", plan: hostileDriftPlan})
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			p := s.plan()
			md := string(renderPlan(t, p, Markdown, Options{}))
			doc := gfmHTML(t, md)

			var walk func(*html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode && !gfmAllowed[n.Data] {
					t.Errorf("the comment has a <%s> element: something in the plan became markup", n.Data)
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
			if strings.Contains(md, "Run `psync plan` locally") {
				return // truncated: what is left is checked by the limit tests
			}

			// The table of changes: one row per item, five cells each,
			// the name cell starting with the name as it is.
			its := items(p)
			tb := tableWithHeader(doc, "Action")
			if len(its) == 0 {
				if tb != nil {
					t.Errorf("an empty plan has a table of changes")
				}
			} else {
				if tb == nil {
					t.Fatalf("no table of changes in:\n%s", md)
				}
				rows := elements(elements(tb, "tbody")[0], "tr")
				if len(rows) != len(its) {
					t.Fatalf("table of changes has %d rows, want %d", len(rows), len(its))
				}
				for i, r := range rows {
					cells := elements(r, "td")
					if len(cells) != 5 {
						t.Errorf("row %d has %d cells, want 5: %q", i, len(cells), textOf(r))
						continue
					}
					if got, want := textOf(cells[3]), sanitize(its[i].first().Name); !strings.HasPrefix(got, want) {
						t.Errorf("row %d name cell = %q, want it to start with %q", i, got, want)
					}
					if got := textOf(cells[2]); got != string(its[i].first().Kind) {
						t.Errorf("row %d kind cell = %q", i, got)
					}
				}
			}

			// "Changed outside psync": one row per drifted attribute.
			dt := tableWithHeader(doc, "Object")
			switch {
			case len(p.Drift) == 0 && dt != nil:
				t.Errorf("a plan without drift has a drift table")
			case len(p.Drift) > 0:
				if dt == nil {
					t.Fatalf("no drift table in:\n%s", md)
				}
				rows := elements(elements(dt, "tbody")[0], "tr")
				if len(rows) != min(len(p.Drift), mdRefreshLimit) {
					t.Errorf("drift table has %d rows, want %d", len(rows), len(p.Drift))
				}
				for i, r := range rows {
					cells := elements(r, "td")
					if len(cells) != 5 {
						t.Errorf("drift row %d has %d cells: %q", i, len(cells), textOf(r))
						continue
					}
					if got, want := textOf(cells[0]), string(p.Drift[i].Kind)+" "+sanitize(p.Drift[i].Name); got != want {
						t.Errorf("drift row %d object = %q, want %q", i, got, want)
					}
					if got, want := textOf(cells[3]), sanitize(p.Drift[i].Remote); got != want {
						t.Errorf("drift row %d now = %q, want %q", i, got, want)
					}
				}
			}

			// Each body is one <details> holding one code block: the diff,
			// whole, whatever the body has in it.
			var sections []mdSection
			for _, c := range p.Changes {
				if sec, ok := bodySection(c); ok {
					sections = append(sections, sec)
				}
			}
			details := elements(doc, "details")
			if len(details) != len(sections) {
				t.Fatalf("%d <details>, want %d (one per body)", len(details), len(sections))
			}
			for i, d := range details {
				if len(elements(d, "summary")) != 1 {
					t.Errorf("details %d has no single summary", i)
				}
				pres := elements(d, "pre")
				if len(pres) != 1 {
					t.Errorf("details %d has %d code blocks, want 1", i, len(pres))
					continue
				}
				if got, want := textOf(pres[0]), strings.Join(sections[i].lines, ""); got != want {
					t.Errorf("details %d code block:\n got %q\nwant %q", i, got, want)
				}
			}
		})
	}
}

// Apply reports in Markdown: one table, one row per result, no element
// psync did not write.
func TestMarkdownReportSurvivesGFM(t *testing.T) {
	for _, s := range reportScenarios {
		t.Run(s.name, func(t *testing.T) {
			r := s.report()
			doc := gfmHTML(t, string(renderReport(t, r, Markdown, Options{})))
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode && !gfmAllowed[n.Data] {
					t.Errorf("the report has a <%s> element", n.Data)
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
			if len(r.Results) == 0 {
				return
			}
			tb := tableWithHeader(doc, "Status")
			if tb == nil {
				t.Fatal("no table")
			}
			rows := elements(elements(tb, "tbody")[0], "tr")
			if len(rows) != len(r.Results) {
				t.Errorf("%d rows, want %d", len(rows), len(r.Results))
			}
			for i, row := range rows {
				if n := len(elements(row, "td")); n != 7 {
					t.Errorf("row %d has %d cells, want 7", i, n)
				}
			}
		})
	}
}
