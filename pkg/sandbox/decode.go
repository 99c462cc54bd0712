package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"

	"github.com/psync-dev/psync/pkg/api"
)

// maxRequestBytes bounds a request body; beyond it the answer is 413. It is
// far above the largest valid body (a 16 KiB script, JSON-escaped).
const maxRequestBytes = 1 << 20

// field describes one property of a request body.
type field struct {
	name     string
	required bool
	// into receives the value: a *string or a *bool (set when present and
	// not null), or a **string or **bool (left nil when absent or null).
	into any
}

// decodeBody reads a JSON object into fields, strictly: unknown properties,
// wrong types and missing required properties are a 400 that names each.
func decodeBody(w http.ResponseWriter, r *http.Request, fields ...field) *reply {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errReply(http.StatusBadRequest, api.CodeBadRequest, "Content-Type must be application/json, not %q", ct)
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errReply(http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, "request body is larger than %d bytes", maxRequestBytes)
		}
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "read request body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "a JSON request body is required")
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&obj); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return errReply(http.StatusBadRequest, api.CodeBadRequest, "the request body must be a JSON object, not %s", typeErr.Value)
		}
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "the request body is not valid JSON: %v", err)
	}
	if obj == nil {
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "the request body must be a JSON object, not null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errReply(http.StatusBadRequest, api.CodeBadRequest, "the request body has data after its JSON object")
	}

	var issues []api.Issue
	known := map[string]bool{}
	for _, f := range fields {
		known[f.name] = true
		raw, ok := obj[f.name]
		if !ok || string(raw) == "null" {
			if f.required {
				issues = append(issues, api.Issue{Message: fmt.Sprintf("%s is required", f.name), Path: []string{f.name}})
			}
			continue
		}
		var err error
		var want string
		switch p := f.into.(type) {
		case *string:
			want, err = "a string", json.Unmarshal(raw, p)
		case *bool:
			want, err = "a boolean", json.Unmarshal(raw, p)
		case **bool:
			var b bool
			want, err = "a boolean", json.Unmarshal(raw, &b)
			*p = &b
		case **string:
			var s string
			want, err = "a string", json.Unmarshal(raw, &s)
			*p = &s
		default:
			panic(fmt.Sprintf("sandbox: field %s: unsupported target %T", f.name, f.into))
		}
		if err != nil {
			issues = append(issues, api.Issue{Message: fmt.Sprintf("%s must be %s, not %s", f.name, want, jsonKind(raw)), Path: []string{f.name}})
		}
	}
	var unknown []string
	for name := range obj {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		issues = append(issues, api.Issue{Message: fmt.Sprintf("unknown field %q", name), Path: []string{name}})
	}
	if len(issues) == 0 {
		return nil
	}
	msgs := make([]string, len(issues))
	for i, is := range issues {
		msgs[i] = is.Message
	}
	rep := errReply(http.StatusBadRequest, api.CodeBadRequest, "invalid request body: %s", strings.Join(msgs, "; "))
	rep.body.(*api.Error).Issues = issues
	return rep
}

// jsonKind names the JSON type of raw, for error messages.
func jsonKind(raw json.RawMessage) string {
	switch b := bytes.TrimSpace(raw); {
	case len(b) == 0:
		return "nothing"
	case b[0] == '"':
		return "a string"
	case b[0] == '{':
		return "an object"
	case b[0] == '[':
		return "an array"
	case b[0] == 't' || b[0] == 'f':
		return "a boolean"
	case b[0] == 'n':
		return "null"
	default:
		return "a number"
	}
}
