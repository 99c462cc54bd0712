package manifest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/psync-dev/psync/internal/textsafe"
)

// YAML syntax errors.
//
// yaml.v3 reports a syntax error as "yaml: line N: MESSAGE", in the
// scanner's words and often at the wrong line: a key dedented on line 4 is
// "line 2: did not find expected '-' indicator" (the line the sequence
// started on), a tab is "found character that cannot start any token". So
// psync keeps yaml.v3 for decoding (its node positions are what every
// other message uses) and, when it fails, reads the source lines itself to
// find the line and column of the usual culprits and say what is wrong in
// plain words: a tab in an indentation, a line indented to no block above
// it, a bracket or quote never closed, a second ": " in a plain value.
// When none of those is found, yaml.v3's own message is kept, at its line.
//
// This was chosen over a second parser (goccy/go-yaml locates errors too)
// because the cases people hit are few and known, the words can then be
// psync's own, and the loader keeps one YAML library.

// yamlLine matches yaml.v3's syntax errors, which carry a line but no
// column.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 decoding error of the file into a
// diagnostic at the line and column of the problem, where it can be found.
func syntaxError(file string, data []byte, err error) Diagnostic {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	loc, ok := locate(lines, line, msg)
	if !ok {
		loc = location{line: line, message: msg}
	}
	if loc.line >= 1 && loc.line <= len(lines) && loc.col > 0 {
		// Columns count characters, as yaml.v3's and editors' do.
		line := lines[loc.line-1]
		loc.col = utf8.RuneCountInString(line[:min(loc.col-1, len(line))]) + 1
	}
	d := Diagnostic{Pos: Position{File: file, Line: loc.line, Column: loc.col}, Message: "invalid YAML: " + loc.message}
	if loc.line >= 1 && loc.line <= len(lines) {
		d.Excerpt = excerpt(lines[loc.line-1], loc.col)
	}
	return d
}

// location is where a syntax problem is (col 0 when unknown) and what it is.
type location struct {
	line, col int
	message   string
}

// locate finds the problem yaml.v3 reported at line (1-based) as msg.
func locate(lines []string, line int, msg string) (location, bool) {
	if strings.Contains(msg, "control characters are not allowed") {
		if loc, ok := findControl(lines); ok {
			return loc, true
		}
	}
	if loc, ok := findTab(lines); ok {
		return loc, true
	}
	switch {
	case strings.Contains(msg, "found unexpected end of stream"),
		strings.Contains(msg, "did not find expected node content"),
		strings.Contains(msg, "did not find expected ',' or"),
		strings.Contains(msg, "did not find expected key"):
		if loc, ok := findUnclosed(lines); ok {
			return loc, true
		}
	}
	if loc, ok := findIndentation(lines); ok {
		return loc, true
	}
	if line < 1 || line > len(lines) {
		return location{}, false
	}
	text := lines[line-1]
	switch {
	case strings.Contains(msg, "found character that cannot start any token"):
		if col, c, ok := badStart(text); ok {
			return location{line, col, fmt.Sprintf("a plain value cannot start with %q; quote the value", c)}, true
		}
	case strings.Contains(msg, "mapping values are not allowed in this context"):
		if col, ok := secondColon(text); ok {
			return location{line, col, `a second ": " in a plain value; quote the value (for example name: "a: b")`}, true
		}
	case strings.Contains(msg, "could not find expected ':'"):
		return location{line, indentOf(text) + 1, `expected "key: value" here, but the line has no ":" (or a value above continues onto it)`}, true
	}
	return location{}, false
}

// findControl finds the first control character (other than a tab),
// which YAML does not allow anywhere in a file.
func findControl(lines []string) (location, bool) {
	for i, l := range lines {
		for j, r := range l {
			if r != '\t' && (r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0) {
				return location{i + 1, j + 1, fmt.Sprintf("control character %U is not allowed in YAML; remove it (or write it as an escape in a double-quoted string)", r)}, true
			}
		}
	}
	return location{}, false
}

// findTab finds the first line indented with a tab, outside block scalars.
func findTab(lines []string) (location, bool) {
	var sc scanner
	for i, l := range lines {
		if sc.inBlockScalar(l) {
			continue
		}
		for j := 0; j < len(l) && (l[j] == ' ' || l[j] == '\t'); j++ {
			if l[j] == '\t' {
				return location{i + 1, j + 1, "a tab is used for indentation; YAML needs spaces"}, true
			}
		}
		sc.note(l)
	}
	return location{}, false
}

// findUnclosed finds a flow bracket or a quoted string that is never
// closed, or a closing bracket that closes nothing.
func findUnclosed(lines []string) (location, bool) {
	type open struct {
		line, col int
		c         byte
	}
	var stack []open
	var sc scanner
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if sc.inBlockScalar(l) {
			continue
		}
		if isDocumentMarker(l) {
			if len(stack) > 0 {
				break
			}
			continue
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case c == '#' && (j == 0 || l[j-1] == ' ' || l[j-1] == '\t'):
				j = len(l) // a comment runs to the end of the line
			case (c == '"' || c == '\'') && startsScalar(l, j, len(stack) > 0):
				n, k, ok := closingQuote(lines, i, j)
				if !ok {
					return location{i + 1, j + 1, fmt.Sprintf("this quoted string is never closed: add the closing %c", c)}, true
				}
				i, j, l = n, k, lines[n]
			case (c == '[' || c == '{') && (len(stack) > 0 || startsScalar(l, j, false)):
				stack = append(stack, open{i + 1, j + 1, c})
			case (c == ']' || c == '}') && len(stack) > 0:
				top := stack[len(stack)-1]
				if want := closerOf(top.c); c != want {
					return location{i + 1, j + 1, fmt.Sprintf("%q does not close the %q opened at line %d, column %d", c, top.c, top.line, top.col)}, true
				}
				stack = stack[:len(stack)-1]
			case (c == ']' || c == '}') && (startsScalar(l, j, false) || j > 0 && (l[j-1] == ']' || l[j-1] == '}')):
				return location{i + 1, j + 1, fmt.Sprintf("this %q closes nothing", c)}, true
			}
		}
		if len(stack) == 0 {
			sc.note(l)
		}
	}
	if len(stack) > 0 {
		top := stack[0]
		return location{top.line, top.col, fmt.Sprintf("this %q is never closed: add the matching %q", top.c, closerOf(top.c))}, true
	}
	return location{}, false
}

func closerOf(c byte) byte {
	if c == '[' {
		return ']'
	}
	return '}'
}

// startsScalar reports whether position j of l starts a value: the first
// thing on the line or after "- ", ": " (or, in a flow, after "[", "{" or
// ",").
func startsScalar(l string, j int, inFlow bool) bool {
	k := j - 1
	for k >= 0 && l[k] == ' ' {
		k--
	}
	if k < 0 {
		return true
	}
	switch l[k] {
	case ':', '-':
		return k+1 < j // followed by a space
	case '[', '{', ',':
		return inFlow
	}
	return false
}

// closingQuote finds the quote closing the one at line i, column j
// (0-based), which may be on a later line; ok is false when it never
// closes (before the end of the document).
func closingQuote(lines []string, i, j int) (line, col int, ok bool) {
	q := lines[i][j]
	for n := i; n < len(lines); n++ {
		l := lines[n]
		if n > i && isDocumentMarker(l) {
			return 0, 0, false
		}
		k := 0
		if n == i {
			k = j + 1
		}
		for ; k < len(l); k++ {
			switch {
			case q == '"' && l[k] == '\\':
				k++
			case q == '\'' && l[k] == q && k+1 < len(l) && l[k+1] == q:
				k++ // '' is an escaped quote
			case l[k] == q:
				return n, k, true
			}
		}
	}
	return 0, 0, false
}

func isDocumentMarker(l string) bool {
	return l == "---" || strings.HasPrefix(l, "--- ") || l == "..."
}

// findIndentation finds the first line that is indented to no block above
// it: a key dedented between two levels, or a key indented deeper than
// the line above opens.
func findIndentation(lines []string) (location, bool) {
	levels := []int{0}
	opens := false // the previous line opened a block ("key:" or "-")
	var sc scanner
	flow := 0
	for i, l := range lines {
		if sc.inBlockScalar(l) {
			continue
		}
		body := strings.TrimLeft(l, " ")
		if body == "" || body[0] == '#' {
			continue
		}
		if isDocumentMarker(l) || body[0] == '%' {
			levels, opens, flow = []int{0}, false, 0
			continue
		}
		if flow > 0 {
			flow += flowDepth(body)
			continue
		}
		ind := len(l) - len(body)
		top := levels[len(levels)-1]
		switch {
		case opens && ind > top:
			levels = append(levels, ind)
		case opens && ind == top && strings.HasPrefix(body, "-"):
			// A sequence may sit at its key's indentation.
		case ind > top:
			if isKey(body) {
				return location{i + 1, ind + 1, fmt.Sprintf(
					"this key is indented %s, deeper than the line above allows; align it with the keys above (%s)", spaces(ind), spaces(top))}, true
			}
			continue // a plain value continued on the next line
		default:
			above := -1
			for len(levels) > 1 && levels[len(levels)-1] > ind {
				above = levels[len(levels)-1]
				levels = levels[:len(levels)-1]
			}
			if top := levels[len(levels)-1]; top != ind {
				return location{i + 1, ind + 1, fmt.Sprintf(
					"this line is indented %s, which matches no block above it: the lines above are indented %d or %s (YAML nests by indentation)",
					spaces(ind), above, spaces(top))}, true
			}
		}
		// What the line opens: each "- " starts an item whose content is
		// a level of its own.
		opens = false
		for strings.HasPrefix(body, "-") && (len(body) == 1 || body[1] == ' ') {
			rest := strings.TrimLeft(body[1:], " ")
			ind += len(body) - len(rest)
			body = rest
			if body == "" || body[0] == '#' {
				opens = true
				break
			}
			levels = append(levels, ind)
		}
		if opens {
			continue
		}
		value, isMapping := valueOf(body)
		switch {
		case isMapping && (value == "" || value[0] == '#'):
			opens = true
		case value != "" && (value[0] == '[' || value[0] == '{'):
			flow = flowDepth(value)
		}
		sc.note(l)
	}
	return location{}, false
}

func spaces(n int) string {
	if n == 1 {
		return "1 space"
	}
	return fmt.Sprintf("%d spaces", n)
}

// flowDepth is how many more flow brackets s opens than it closes
// (ignoring quotes and comments, roughly: enough to skip a flow value).
func flowDepth(s string) int {
	d := 0
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '#' && i > 0 && s[i-1] == ' ':
			return d
		case c == '[' || c == '{':
			d++
		case c == ']' || c == '}':
			d--
		}
	}
	return d
}

// isKey reports whether a line's content is "key:" or "key: value".
func isKey(body string) bool {
	_, ok := valueOf(body)
	return ok
}

// valueOf splits "key: value" and returns the value; ok is false when body
// is no plain or quoted key followed by ":".
func valueOf(body string) (string, bool) {
	if body == "" {
		return "", false
	}
	i := 0
	switch body[0] {
	case '"', '\'':
		end := strings.IndexByte(body[1:], body[0])
		if end < 0 {
			return "", false
		}
		i = end + 2
		if i >= len(body) || body[i] != ':' {
			return "", false
		}
	case '[', '{', '|', '>', '#', '&', '*', '!':
		return "", false
	default:
		for {
			k := strings.IndexByte(body[i:], ':')
			if k < 0 {
				return "", false
			}
			i += k
			if i+1 == len(body) || body[i+1] == ' ' {
				break
			}
			i++
		}
	}
	return strings.TrimSpace(body[i+1:]), true
}

// secondColon finds a ": " inside the plain value of "key: value", which
// YAML reads as a nested mapping where none may start.
func secondColon(l string) (int, bool) {
	body := strings.TrimLeft(l, " -")
	off := len(l) - len(body)
	v, ok := valueOf(body)
	if !ok || v == "" || v[0] == '"' || v[0] == '\'' {
		return 0, false
	}
	start := strings.Index(l[off:], v) + off
	if k := strings.Index(v, ": "); k >= 0 {
		return start + k + 1, true
	}
	if strings.HasSuffix(v, ":") {
		return start + len(v), true
	}
	return 0, false
}

// badStart finds a value starting with a character YAML reserves (@ or `).
func badStart(l string) (int, string, bool) {
	for j := 0; j < len(l); j++ {
		if (l[j] == '@' || l[j] == '`') && startsScalar(l, j, true) {
			return j + 1, string(l[j]), true
		}
	}
	return 0, "", false
}

func indentOf(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// scanner follows block scalars ("key: |" and "key: >"), whose content
// lines are text, not YAML structure.
type scanner struct {
	// block is the indentation of the line that opened a block scalar, -1
	// when not in one.
	block   int
	started bool
}

// note records a structural line: it may open a block scalar.
func (s *scanner) note(l string) {
	body := strings.TrimLeft(l, " -")
	v, ok := valueOf(body)
	if !ok {
		v = body
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	if v != "" && (v[0] == '|' || v[0] == '>') && strings.Trim(v[1:], "+-0123456789") == "" {
		s.block, s.started = indentOf(l), true
		return
	}
	s.started = false
}

// inBlockScalar reports whether l is content of the block scalar opened
// above: blank, or indented deeper than the line that opened it.
func (s *scanner) inBlockScalar(l string) bool {
	if !s.started {
		return false
	}
	if strings.TrimSpace(l) == "" || indentOf(l) > s.block {
		return true
	}
	s.started = false
	return false
}

// excerptWidth bounds the quoted source line.
const excerptWidth = 60

// excerpt is one source line quoted under a diagnostic, with a caret
// under col (1-based, in characters; 0 for none): short (a window of excerptWidth
// characters around the column) and with every character that is not
// printable or invisible (bidirectional, zero-width) shown as "?", tabs as
// "→", so that neither a long line nor a control character reaches the
// terminal from the file.
func excerpt(line string, col int) string {
	runes := []rune(line)
	rc := col
	start := 0
	if rc > excerptWidth-10 {
		start = rc - (excerptWidth - 10)
	}
	end := min(len(runes), start+excerptWidth)
	var b strings.Builder
	if start > 0 {
		b.WriteString("…")
	}
	for _, r := range runes[start:end] {
		switch {
		case r == '\t':
			b.WriteRune('→')
		case !unicode.IsPrint(r) || textsafe.IsInvisible(r):
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	if end < len(runes) {
		b.WriteString("…")
	}
	out := "  | " + b.String()
	if rc > 0 {
		pad := rc - 1 - start
		if start > 0 {
			pad++ // the leading "…"
		}
		out += "\n  | " + strings.Repeat(" ", pad) + "^"
	}
	return out
}
