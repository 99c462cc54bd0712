package textsafe

import "testing"

func TestEscapes(t *testing.T) {
	tests := []struct{ in, line, text string }{
		{"plain\ttext é", "plain\ttext é", "plain\ttext é"},
		{"a\x1b[2Jb", `a\x1b[2Jb`, `a\x1b[2Jb`},
		{"two\nlines\r", `two\nlines\r`, "two\nlines\\r"},
		{"admin\u202e\u2066txt", `admin\u202e\u2066txt`, `admin\u202e\u2066txt`},
		{"zero\u200bwidth\ufeff", `zero\u200bwidth\ufeff`, `zero\u200bwidth\ufeff`},
		{"bad\xffbyte", `bad\xffbyte`, `bad\xffbyte`},
		{"del\x7f", `del\x7f`, `del\x7f`},
		{"c1\u0085", `c1\u0085`, `c1\u0085`},
		// Invisible too: the word joiner, a soft hyphen, Unicode tags
		// (which spell hidden ASCII), a Hangul filler (a blank letter).
		{"rm -rf /tmp/a\u2060b\u00ad", `rm -rf /tmp/a\u2060b\u00ad`, `rm -rf /tmp/a\u2060b\u00ad`},
		{"echo hi\U000E0072\U000E006D", `echo hi\U000e0072\U000e006d`, `echo hi\U000e0072\U000e006d`},
		{"x\u3164=1", `x\u3164=1`, `x\u3164=1`},
	}
	for _, tt := range tests {
		if got := Line(tt.in); got != tt.line {
			t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.line)
		}
		if got := Text(tt.in); got != tt.text {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.text)
		}
	}
	for _, r := range []rune{0x202A, 0x202E, 0x2066, 0x2069, 0x200B, 0x200F, 0xFEFF, 0x2060, 0x2064, 0x180E, 0xAD, 0xE0001, 0xE007F} {
		if q := Quote(string(r)); len(q) < 8 {
			t.Errorf("Quote(%U) = %s: not escaped", r, q)
		}
		if !IsInvisible(r) || !HasInvisible("x"+string(r)) {
			t.Errorf("%U is not reported invisible", r)
		}
	}
}
