package remote

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"unicode/utf16"
)

// Redacted is what a secret is replaced with.
const Redacted = "[REDACTED]"

// Redactor finds secrets in text and replaces them with Redacted, in the
// encodings a server, a proxy or psync itself may put them in:
//
//   - as is, and quoted (Go %q, shell-style backslashes);
//   - JSON-escaped, any character as \uXXXX (\u004b for K) or \/ , at any
//     depth of escaping (\\u004b, \\/);
//   - URL-encoded (%4B, + for a space) and URL-encoded twice (%254B);
//   - as HTML character references (&#75; &#x4b;);
//   - upper- or lower-cased whole (a hex key upper-cased is the key);
//   - byte escapes (\x4b, as C, Python and Go write bytes);
//   - hex, lower or upper case, at either alignment of a longer string;
//   - UTF-16, either byte order;
//   - base64 (standard and URL alphabets, padded or not) at any alignment,
//     so the secret is found inside a longer encoded string too, such as
//     base64("Bearer " + key), and across the line breaks MIME and PEM
//     put every 64 or 76 characters (\n, \r\n, or those JSON-escaped);
//
// and any mix of these, character by character. It is safe for concurrent
// use, and the zero value holds no secret.
//
// The API key is registered by New. Other secrets (secret script
// variables, a sensitive body a server may echo) are registered with
// AddSecret on the Client's Redactor, or on a Redactor passed in
// Config.Redactor: from then on they are redacted from the client's
// errors and its debug log like the key. A secret's non-ASCII characters
// are only found literally (the escaped forms are per byte); secrets
// shorter than minSecretLen are only found in their plain and escaped
// forms, not in base64, where so short a pattern matches too much.
type Redactor struct {
	mu    sync.RWMutex
	forms []form // what to look for: secrets and their encoded forms, longest first
	first [256]bool
}

// form is one string the Redactor looks for. A wrapped form (base64) may
// be broken by line breaks between any two of its characters.
type form struct {
	s       string
	wrapped bool
}

// NewRedactor returns a Redactor holding secrets.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		r.AddSecret(s)
	}
	return r
}

// minSecretLen is the shortest secret whose base64 forms are looked for,
// and the shortest base64 form kept.
const minSecretLen = 6

// AddSecret registers secret for redaction from now on. An empty secret
// is ignored; adding one twice is harmless.
func (r *Redactor) AddSecret(secret string) {
	if secret == "" {
		return
	}
	forms := []form{{s: secret}}
	if len(secret) >= minSecretLen {
		h := hex.EncodeToString([]byte(secret))
		forms = append(forms, form{s: strings.ToUpper(secret)}, form{s: strings.ToLower(secret)}, form{s: h}, form{s: strings.ToUpper(h)}, form{s: utf16Form(secret, binary.LittleEndian)}, form{s: utf16Form(secret, binary.BigEndian)})
		for _, b := range base64Forms(secret) {
			forms = append(forms, form{s: b, wrapped: true})
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range forms {
		if !slices.Contains(r.forms, f) {
			r.forms = append(r.forms, f)
			r.first[f.s[0]] = true
		}
	}
	// The longest first: a shorter form inside a longer one must not cut
	// the longer match short.
	slices.SortStableFunc(r.forms, func(a, b form) int { return len(b.s) - len(a.s) })
}

// utf16Form is secret in UTF-16 (its non-ASCII characters as well).
func utf16Form(secret string, order binary.AppendByteOrder) string {
	var b []byte
	for _, u := range utf16.Encode([]rune(secret)) {
		b = order.AppendUint16(b, u)
	}
	return string(b)
}

// base64Forms are the runs of base64 characters that encode secret
// whatever its offset within the encoded bytes: for an offset of k bytes
// (0, 1, 2), the characters that depend on the secret's bytes alone.
func base64Forms(secret string) []string {
	var out []string
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for k := range 3 {
			prefix := strings.Repeat("\x00", k)
			full := enc.EncodeToString([]byte(prefix + secret))
			skip := (8*k + 5) / 6             // characters that mix in the prefix
			keep := 8 * (k + len(secret)) / 6 // characters complete before what follows
			if keep > len(full) {
				keep = len(full)
			}
			if keep-skip < minSecretLen+2 {
				continue
			}
			f := full[skip:keep]
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// Redact returns s with every secret replaced by Redacted.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.forms) == 0 {
		return s
	}
	var b *strings.Builder
	last := 0 // s[last:i] is not yet copied to b
	for i := 0; i < len(s); {
		end := matchAt(r, s, i)
		if end < 0 {
			i++
			continue
		}
		if b == nil {
			b = &strings.Builder{}
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteString(Redacted)
		i, last = end, end
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// RedactBytes is Redact for a byte slice; it returns data itself when it
// holds no secret.
func (r *Redactor) RedactBytes(data []byte) []byte {
	if !r.ContainsBytes(data) {
		return data
	}
	return []byte(r.Redact(string(data)))
}

// Contains reports whether s holds a secret, in any encoding Redact finds.
func (r *Redactor) Contains(s string) bool { return contains(r, s) }

// ContainsBytes is Contains for a byte slice.
func (r *Redactor) ContainsBytes(data []byte) bool { return contains(r, data) }

func contains[T text](r *Redactor, s T) bool {
	if r == nil {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i := 0; i < len(s); i++ {
		if matchAt(r, s, i) >= 0 {
			return true
		}
	}
	return false
}

// text is what the matcher reads: response bodies are searched without
// copying them into a string.
type text interface{ ~string | ~[]byte }

// matchAt returns the end of the first form found at s[i:], or -1. The
// caller holds r.mu.
func matchAt[T text](r *Redactor, s T, i int) int {
	c := s[i]
	if !r.first[c] && c != '\\' && c != '%' && c != '&' && c != '+' {
		return -1
	}
	for _, f := range r.forms {
		if end := matchForm(s, i, f); end >= 0 {
			return end
		}
	}
	return -1
}

// matchForm matches f at s[i:], each byte as itself or escaped, and
// returns where the match ends, or -1.
func matchForm[T text](s T, i int, f form) int {
	for k := 0; k < len(f.s); k++ {
		if f.wrapped && k > 0 {
			i += lineBreak(s, i)
		}
		n := matchByte(s, i, f.s[k])
		if n < 0 {
			return -1
		}
		i += n
	}
	return i
}

// lineBreak returns the length of the line break at s[i:] (\n or \r\n,
// plain or JSON-escaped), or 0.
func lineBreak[T text](s T, i int) int {
	for _, eol := range [...]string{"\n", "\r\n", `\n`, `\r\n`} {
		if i+len(eol) <= len(s) && string(s[i:i+len(eol)]) == eol {
			return len(eol)
		}
	}
	return 0
}

// matchByte returns how many bytes of s at i spell the byte c, or -1.
func matchByte[T text](s T, i int, c byte) int {
	if i >= len(s) {
		return -1
	}
	switch t := s[i]; {
	case t == c:
		return 1
	case t == '+' && c == ' ':
		return 1
	case t == '\\':
		j := i
		for j < len(s) && s[j] == '\\' {
			j++
		}
		// The numeric escapes first: \u0075 is u, not a backslash
		// before the u of the secret followed by 0075.
		switch {
		case j+5 <= len(s) && (s[j] == 'u' || s[j] == 'U') && number(s[j+1:j+5], true) == int(c):
			return j + 5 - i
		case j+3 <= len(s) && s[j] == 'x' && number(s[j+1:j+3], true) == int(c):
			return j + 3 - i
		case j < len(s) && s[j] == c: // \/ \" \\/
			return j + 1 - i
		}
	case t == '%':
		if i+3 <= len(s) && number(s[i+1:i+3], true) == int(c) {
			return 3
		}
		if i+5 <= len(s) && s[i+1] == '2' && s[i+2] == '5' && number(s[i+3:i+5], true) == int(c) {
			return 5
		}
	case t == '&' && i+3 < len(s) && s[i+1] == '#':
		j := i + 2
		hex := s[j] == 'x' || s[j] == 'X'
		if hex {
			j++
		}
		start := j
		for j < len(s) && j-start < 8 && isDigit(s[j], hex) {
			j++
		}
		if j > start && j < len(s) && s[j] == ';' && number(s[start:j], hex) == int(c) {
			return j + 1 - i
		}
	}
	return -1
}

func isDigit(c byte, hex bool) bool {
	switch {
	case c >= '0' && c <= '9':
		return true
	case hex && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
		return true
	}
	return false
}

// number is the value of a run of decimal or hex digits, or -1 when it is
// not one (or is well above any byte).
func number[T text](h T, hex bool) int {
	base := 10
	if hex {
		base = 16
	}
	v := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !isDigit(c, hex) {
			return -1
		}
		d := int(c - '0')
		switch {
		case c >= 'a':
			d = int(c-'a') + 10
		case c >= 'A':
			d = int(c-'A') + 10
		}
		v = v*base + d
		if v > 1<<16 {
			return -1
		}
	}
	return v
}
