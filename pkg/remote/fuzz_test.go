package remote

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzResponses feeds arbitrary bodies to everything that reads an answer:
// nothing may panic, and the key may never come out in an error.
func FuzzResponses(f *testing.F) {
	for _, seed := range []string{
		`[]`, `[{"id":"a","name":"b","runOnce":true}]`, `{"items":[],"hasMore":false,"nextPage":null}`,
		`{"items":[{"id":"a"}],"hasMore":true,"nextPage":"c"}`, `{"code":"X","message":"KEY"}`,
		`{"error":{"code":"X","message":"m"}}`, `<html>`, `null`, `"s"`, `{"id":5}`, `[{"id":"a","isEnabled":"x"}]`,
		`{"data":{"id":"t"},"event":{"id":"e","state":"done"}}`, "\xff\xfe", `{"details":{"a":["KEY"]},"code":"c","message":""}`,
	} {
		f.Add(seed, 200)
		f.Add(seed, 400)
	}
	const key = "KEY"
	c := &Client{key: key}
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
