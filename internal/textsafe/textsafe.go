// Package textsafe makes text from outside psync (API answers, state
// files, manifests under review) safe to print: a control character could
// move the cursor, recolour the terminal or forge a line of output, and
// the invisible and bidirectional formatting characters of "Trojan
// Source" (CVE-2021-42574) make a name or a script read differently from
// what will run. Both are written as Go escapes (\x1b, \u202e), visible and
// inert.
package textsafe

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// IsInvisible reports a character that changes how text around it reads
// without showing itself: every format character (Unicode's Cf: the
// bidirectional embeddings, overrides and isolates U+202A–U+202E,
// U+2066–U+2069 and U+061C, the zero-width characters and direction marks
// U+200B–U+200F, the word joiner U+2060, the soft hyphen, the byte order
// mark U+FEFF, the tags U+E0001–U+E007F that spell hidden ASCII), the line
// and paragraph separators (U+2028, U+2029) and the Hangul fillers, blank
// letters that make two names look the same.
func IsInvisible(r rune) bool {
	switch {
	case r < 0xAD:
		return false
	case unicode.Is(unicode.Cf, r):
		return true
	case r == 0x2028, r == 0x2029, r == 0x115F, r == 0x1160, r == 0x3164, r == 0xFFA0:
		return true
	}
	return false
}

// HasInvisible reports whether s holds a character IsInvisible reports.
func HasInvisible(s string) bool {
	return strings.IndexFunc(s, IsInvisible) >= 0
}

// Quote is strconv.Quote, which escapes every character that is not
// printable, the invisible ones included.
func Quote(s string) string { return strconv.Quote(s) }

// Line returns s with every control character but tab, every invisible
// character and every invalid byte escaped: one line of output, whatever
// s holds.
func Line(s string) string { return escape(s, false) }

// Text is Line keeping line breaks ("\n"): a multi-line message (a list
// of manifest problems) stays readable, and no line of it can hide or
// forge anything.
func Text(s string) string { return escape(s, true) }

func escape(s string, keepNewlines bool) string {
	bad := func(r rune, size int) bool {
		switch {
		case r == utf8.RuneError && size <= 1:
			return true
		case r == '\t', r == '\n' && keepNewlines:
			return false
		}
		return unicode.IsControl(r) || IsInvisible(r)
	}
	clean := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if bad(r, n) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case bad(r, n) && r < utf8.RuneSelf:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		case bad(r, n) && r > 0xFFFF:
			fmt.Fprintf(&b, `\U%08x`, r)
		case bad(r, n):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
