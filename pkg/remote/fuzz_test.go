package remote

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// fuzzKey has the characters that encodings treat specially: '/' (\/ in
// JSON, %2F in URLs, and in base64's alphabet), '+' (a space in a query)
// and letters whose case a %XX or \uXXXX escape does not keep.
const fuzzKey = "psk_Q7x/9Tz+Lm2Wv8"

func fuzzClient() *Client {
	return &Client{key: fuzzKey, keyOnly: NewRedactor(fuzzKey), redactor: NewRedactor(fuzzKey), cfg: Config{MaxResponseBytes: 1 << 20}, limiter: newLimiter(0)}
}

// keyEncodings are the forms a hostile server may echo the key in.
var keyEncodings = []func(string) string{
	func(k string) string { return k },
	func(k string) string { return strconv.Quote(k) },
	func(k string) string { b, _ := json.Marshal(k); return string(b) },
	func(k string) string { return strings.ReplaceAll(k, "/", `\/`) },
	func(k string) string { return unicodeEscape(k) },
	func(k string) string { return strings.ReplaceAll(unicodeEscape(k), `\`, `\\`) }, // JSON in JSON
	func(k string) string { return url.QueryEscape(k) },
	func(k string) string { return url.PathEscape(k) },
	func(k string) string { return percentAll(k) },
	func(k string) string { return strings.ReplaceAll(url.QueryEscape(k), "%", "%25") }, // encoded twice
	func(k string) string { return htmlEntities(k) },
	func(k string) string { return html.EscapeString(k) },
	func(k string) string { return base64.StdEncoding.EncodeToString([]byte(k)) },
	func(k string) string { return base64.StdEncoding.EncodeToString([]byte("Bearer " + k)) },
	func(k string) string { return base64.URLEncoding.EncodeToString([]byte("x:" + k)) },
	func(k string) string { return base64.RawURLEncoding.EncodeToString([]byte("ab" + k + "c")) },
	func(k string) string {
		return strings.ReplaceAll(base64.StdEncoding.EncodeToString([]byte("user:"+k)), "/", `\/`)
	},
	// Case-folded: a hex key upper-cased is the key.
	func(k string) string { return strings.ToUpper(k) },
	func(k string) string { return strings.ToLower(k) },
	func(k string) string { return hex.EncodeToString([]byte(k)) },
	func(k string) string { return strings.ToUpper(hex.EncodeToString([]byte("\x01" + k))) },
	func(k string) string { return byteEscape(k) },
	// MIME and PEM wrap base64 at 76 and 64 characters, here inside the key.
	func(k string) string {
		return wrapLines(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 50)+k)), 76, "\r\n")
	},
	func(k string) string {
		return wrapLines(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 44)+k)), 64, "\n")
	},
	func(k string) string {
		return wrapLines(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 44)+k)), 64, `\n`)
	}, // in JSON
	func(k string) string { return utf16Bytes(k, binary.LittleEndian) },
	func(k string) string { return utf16Bytes(k, binary.BigEndian) },
}

// byteEscape writes every byte as \xHH, as C, Python and Go escape bytes.
func byteEscape(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		fmt.Fprintf(&b, `\x%02x`, k[i])
	}
	return b.String()
}

// wrapLines breaks s into lines of n characters, as MIME and PEM do.
func wrapLines(s string, n int, eol string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		if i > 0 {
			b.WriteString(eol)
		}
		b.WriteString(s[i:min(i+n, len(s))])
	}
	return b.String()
}

// utf16Bytes is k in UTF-16, as Windows tools and some JSON libraries
// write text.
func utf16Bytes(k string, order binary.AppendByteOrder) string {
	var b []byte
	for _, u := range utf16.Encode([]rune(k)) {
		b = order.AppendUint16(b, u)
	}
	return string(b)
}

func unicodeEscape(k string) string {
	var b strings.Builder
	for i, r := range k {
		if i%2 == 0 {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			fmt.Fprintf(&b, `\u%04X`, r)
		}
	}
	return b.String()
}

func percentAll(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		fmt.Fprintf(&b, "%%%02x", k[i])
	}
	return b.String()
}

func htmlEntities(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		if i%2 == 0 {
			fmt.Fprintf(&b, "&#%d;", k[i])
		} else {
			fmt.Fprintf(&b, "&#x%x;", k[i])
		}
	}
	return b.String()
}

// leaks reports whether out shows the key: the encoded form that was
// put in, or the key itself in out or in out unescaped once (as JSON, as
// a URL, as Go) — an independent check, not the Redactor's own matcher.
func leaks(out, encoded string) bool {
	if strings.Contains(out, encoded) || strings.Contains(out, fuzzKey) {
		return true
	}
	var views []string
	if u, err := url.QueryUnescape(out); err == nil {
		views = append(views, u)
	}
	if u, err := strconv.Unquote(`"` + strings.ReplaceAll(out, `"`, `\"`) + `"`); err == nil {
		views = append(views, u)
	}
	var j string
	if json.Unmarshal([]byte(`"`+out+`"`), &j) == nil {
		views = append(views, j)
	}
	views = append(views, html.UnescapeString(out))
	for _, v := range views {
		if strings.Contains(v, fuzzKey) {
			return true
		}
	}
	return false
}

// FuzzResponses feeds arbitrary bodies to everything that reads an answer:
// nothing may panic, and the key may never come out in an error.
func FuzzResponses(f *testing.F) {
	for _, seed := range []string{
		`[]`, `[{"id":"a","name":"b","runOnce":true}]`, `{"items":[],"hasMore":false,"nextPage":null}`,
		`{"items":[{"id":"a"}],"hasMore":true,"nextPage":"c"}`, `{"code":"X","message":"KEY"}`,
		`{"error":{"code":"X","message":"m"}}`, `<html>`, `null`, `"s"`, `{"id":5}`, `[{"id":"a","isEnabled":"x"}]`,
		`{"data":{"id":"t"},"event":{"id":"e","state":"done"}}`, "\xff\xfe", `{"details":{"a":["KEY"]},"code":"c","message":""}`,
		`{"items":[{"id":"a","dtDeleted":{}},{"id":"b","dtDeleted":"2024-01-01T00:00:00Z"},{"id":"c","dtDeleted":{"x":1}}],"hasMore":false}`,
		`{"code":"BAD_REQUEST","message":"m","issues":[{"message":"Required","path":["items",0,1.5,"KEY"]}]}`,
	} {
		f.Add(seed, 200)
		f.Add(seed, 400)
	}
	const key = "KEY"
	c := &Client{key: key, keyOnly: NewRedactor(key), redactor: NewRedactor(key)}
	f.Fuzz(func(t *testing.T, body string, status int) {
		if status < 100 || status > 999 {
			status = 500
		}
		resp := &response{status: status, header: http.Header{}, body: []byte(body)}
		o := op{Op: "list", Kind: "scripts"}
		if _, _, _, _, err := decodePage[wireScript](o, resp); err != nil {
			if msg := c.redactError(err).Error(); strings.Contains(msg, key) {
				t.Errorf("key in %q", msg)
			}
		}
		_, _, _, _, _ = decodePage[wireTemplate](o, resp)
		_, _, _, _, _ = decodePage[wireOSTemplate](o, resp)
		var w wireScript
		if err := decodeBody(o, resp, &w); err == nil {
			_ = w.script()
		}
		e := o.err(status, nil)
		describeErrorBody(e, http.Header{}, []byte(body))
		if msg := c.redactError(e).Error(); strings.Contains(msg, key) {
			t.Errorf("key in %q", msg)
		}
		errorBody([]byte(body))
	})
}

// FuzzKeyInResponses feeds arbitrary bodies, with the key spliced in in
// one of its encodings, through the client's reading of an answer: a 2xx
// answer holding the key is refused, and the key never comes out in an
// error, a decoded name, id or cursor, or the debug log.
func FuzzKeyInResponses(f *testing.F) {
	for i, seed := range []string{
		`[]`, `[{"id":"a","name":"b","runOnce":true}]`, `{"items":[],"hasMore":false,"nextPage":null}`,
		`{"items":[{"id":"a"}],"hasMore":true,"nextPage":"c"}`, `{"code":"X","message":"KEY"}`,
		`{"error":{"code":"X","message":"m"}}`, `<html>`, `null`, `"s"`, `{"id":5}`, `[{"id":"a","isEnabled":"x"}]`,
		`{"data":{"id":"t"},"event":{"id":"e","state":"done"}}`, "\xff\xfe", `{"details":{"a":["KEY"]},"code":"c","message":""}`,
		`{"items":[{"id":"a","dtDeleted":{}},{"id":"b","dtDeleted":"2024-01-01T00:00:00Z"},{"id":"c","dtDeleted":{"x":1}}],"hasMore":false}`,
		`{"code":"BAD_REQUEST","message":"m","issues":[{"message":"Required","path":["items",0,1.5,"KEY"]}]}`,
		`{"error":"bad token KEY"}`, `[{"id":"s1","name":"KEY"}]`, `{"issues":[{"path":["KEY"],"message":"KEY"}],"code":"c","message":"m"}`,
	} {
		for _, status := range []int{200, 400, 500} {
			f.Add(seed, status, uint8(i), uint16(strings.Index(seed, "KEY")+1))
		}
	}
	f.Fuzz(func(t *testing.T, body string, status int, enc uint8, at uint16) {
		if status < 100 || status > 999 {
			status = 500
		}
		encoded := keyEncodings[int(enc)%len(keyEncodings)](fuzzKey)
		pos := int(at) % (len(body) + 1)
		body = strings.ReplaceAll(body[:pos], "KEY", encoded) + encoded + body[pos:]

		c := fuzzClient()
		var debug strings.Builder
		c.cfg.Debug = &debug
		o := op{Op: "list", Kind: "scripts"}
		req := &request{op: o, method: http.MethodGet, path: "/startup-scripts"}
		out := c.answer(req, &http.Response{StatusCode: status, Header: http.Header{}}, []byte(body))
		if status >= 200 && status < 300 && out.err == nil {
			t.Fatalf("a %d answer holding the key (%q) was accepted", status, encoded)
		}
		if out.err != nil {
			c.redactError(out.err)
			c.debugf("psync: %v", out.err)
			if msg := out.err.Error(); leaks(msg, encoded) {
				t.Errorf("key in error %q", msg)
			}
		}
		if leaks(debug.String(), encoded) {
			t.Errorf("key in debug log %q", debug.String())
		}
		// The decoders on the redacted body: whatever they decode is
		// printable output.
		resp := &response{status: status, header: http.Header{}, body: c.redactor.RedactBytes([]byte(body))}
		items, next, _, _, derr := decodePage[wireScript](o, resp)
		if derr != nil {
			if msg := c.redactError(derr).Error(); leaks(msg, encoded) {
				t.Errorf("key in %q", msg)
			}
		}
		for _, w := range items {
			if s := w.script(); leaks(s.ID+" "+s.Name, encoded) {
				t.Errorf("key in decoded script %q %q", s.ID, s.Name)
			}
		}
		if leaks(next, encoded) {
			t.Errorf("key in cursor %q", next)
		}
		_, _, _, _, _ = decodePage[wireTemplate](o, resp)
		_, _, _, _, _ = decodePage[wireOSTemplate](o, resp)
		e := o.err(status, nil)
		describeErrorBody(e, http.Header{}, resp.body)
		if msg := c.redactError(e).Error(); leaks(msg, encoded) {
			t.Errorf("key in %q", msg)
		}
		errorBody(resp.body)
	})
}
