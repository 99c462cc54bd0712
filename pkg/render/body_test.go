package render

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func numbered(n int, change map[int]string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if s, ok := change[i]; ok {
			b.WriteString(s)
			continue
		}
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

func TestUnifiedDiff(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"same", "a\nb\n", "a\nb\n", ""},
		{"both empty", "", "", ""},
		{"from empty", "", "a\nb\n", "@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{"to empty", "a\nb\n", "", "@@ -1,2 +0,0 @@\n-a\n-b\n"},
		{"one line changed", numbered(5, nil), numbered(5, map[int]string{3: "three\n"}),
			"@@ -1,5 +1,5 @@\n line 1\n line 2\n-line 3\n+three\n line 4\n line 5\n"},
		{"far apart: two hunks", numbered(20, nil), numbered(20, map[int]string{3: "x\n", 17: "y\n"}),
			"@@ -1,6 +1,6 @@\n line 1\n line 2\n-line 3\n+x\n line 4\n line 5\n line 6\n" +
				"@@ -14,7 +14,7 @@\n line 14\n line 15\n line 16\n-line 17\n+y\n line 18\n line 19\n line 20\n"},
		{"six lines apart: one hunk", numbered(20, nil), numbered(20, map[int]string{3: "x\n", 10: "y\n"}),
			"@@ -1,13 +1,13 @@\n line 1\n line 2\n-line 3\n+x\n line 4\n line 5\n line 6\n line 7\n line 8\n line 9\n-line 10\n+y\n line 11\n line 12\n line 13\n"},
		{"seven lines apart: two hunks", numbered(20, nil), numbered(20, map[int]string{3: "x\n", 11: "y\n"}),
			"@@ -1,6 +1,6 @@\n line 1\n line 2\n-line 3\n+x\n line 4\n line 5\n line 6\n" +
				"@@ -8,7 +8,7 @@\n line 8\n line 9\n line 10\n-line 11\n+y\n line 12\n line 13\n line 14\n"},
		{"insert in the middle", numbered(10, nil), numbered(10, map[int]string{5: "line 5\nnew\n"}),
			"@@ -3,6 +3,7 @@\n line 3\n line 4\n line 5\n+new\n line 6\n line 7\n line 8\n"},
		{"newline added at the end", "a\nb", "a\nb\n", "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
		{"no newline on either side", "a\nb", "a\nc", "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, diffLines(tt.old, tt.new).String()); diff != "" {
				t.Errorf("diff of %q and %q (-want +got):\n%s", tt.old, tt.new, diff)
			}
		})
	}
}

// patch applies u to old, checking every context and removed line, as
// patch(1) would.
func patch(t *testing.T, old string, u unified) string {
	t.Helper()
	lines := splitLines(old)
	if old == "" {
		lines = nil
	}
	var out []string
	at := 0 // next old line to copy
	for _, h := range u.hunks {
		start := h.oldStart - 1
		if h.oldLines == 0 {
			start = h.oldStart
		}
		if start < at {
			t.Fatalf("hunk %s overlaps the previous one", h.header())
		}
		out = append(out, lines[at:start]...)
		at = start
		newCount, oldCount := 0, 0
		for _, l := range h.lines {
			text := l.text
			if l.eol {
				text += "\n"
			}
			switch l.op {
			case ' ', '-':
				if at >= len(lines) || lines[at] != text {
					t.Fatalf("hunk %s: line %d is %q, the diff says %q", h.header(), at+1, lines[at], text)
				}
				at++
				oldCount++
				if l.op == ' ' {
					out = append(out, text)
					newCount++
				}
			case '+':
				out = append(out, text)
				newCount++
			}
		}
		if oldCount != h.oldLines || newCount != h.newLines {
			t.Fatalf("hunk %s counts %d old and %d new lines", h.header(), oldCount, newCount)
		}
	}
	out = append(out, lines[at:]...)
	return strings.Join(out, "")
}

func TestUnifiedDiffPatchesBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	text := func() string {
		var b strings.Builder
		n := rng.IntN(40)
		for range n {
			fmt.Fprintf(&b, "l%d\n", rng.IntN(8))
		}
		if n > 0 && rng.IntN(4) == 0 {
			fmt.Fprintf(&b, "last%d", rng.IntN(2)) // no final newline
		}
		return b.String()
	}
	for i := range 2000 {
		old, new := text(), text()
		u := diffLines(old, new)
		if got := patch(t, old, u); got != new {
			t.Fatalf("case %d: patching %q with\n%s\ngives %q, want %q", i, old, u, got, new)
		}
		if (old == new) != (len(u.hunks) == 0) {
			t.Fatalf("case %d: %d hunks for equal=%v", i, len(u.hunks), old == new)
		}
		for j := 1; j < len(u.hunks); j++ {
			prev, h := u.hunks[j-1], u.hunks[j]
			if gap := h.oldStart - (prev.oldStart + prev.oldLines); gap <= 0 {
				t.Fatalf("case %d: hunks %s and %s touch: they should be one", i, prev.header(), h.header())
			}
		}
	}
}

func TestSanitize(t *testing.T) {
	tests := map[string]string{
		"plain":              "plain",
		"tab\tkept":          "tab\tkept",
		"esc \x1b[31m":       `esc \x1b[31m`,
		"crlf\r\n":           `crlf\r\n`,
		"bell\a del\x7f":     `bell\a del\x7f`,
		"bad \xff utf8":      `bad \xff utf8`,
		"ünïcödé → ok":       "ünïcödé → ok",
		"replacement \ufffd": "replacement \ufffd",
		"c1 \u009b":          `c1 \u009b`,
	}
	for in, want := range tests {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
