package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/psync-dev/psync/internal/textsafe"
	"github.com/psync-dev/psync/pkg/api"
)

// Error is every error the client returns for an operation: what was being
// done to which object, and what the API (or the network) said.
type Error struct {
	// Op is the operation: list, get, create, update, delete, assign,
	// unassign, session, poll.
	Op string
	// Kind is the object kind ("script", "template", "OS template",
	// "scripts" for a list); Name and ID identify the object when known.
	Kind, Name, ID string
	// Target is what the operation relates the object to, e.g. "machine
	// psbox001" for assign and unassign.
	Target string
	// Status is the HTTP status, 0 when no response was received.
	Status int
	// Code, Message, Details and Issues are the API's error body.
	Code    string
	Message string
	Details map[string]any
	Issues  []api.Issue
	// Attempts is how many HTTP attempts were made (0 or 1 when the
	// error was not retried).
	Attempts int
	// Err is the underlying cause (network, timeout, decoding), if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Kind != "" {
		b.WriteString(" " + e.Kind)
	}
	switch {
	case e.Name != "" && e.ID != "":
		fmt.Fprintf(&b, " %q (%s)", e.Name, e.ID)
	case e.Name != "":
		fmt.Fprintf(&b, " %q", e.Name)
	case e.ID != "":
		b.WriteString(" " + e.ID)
	}
	if e.Target != "" {
		prep := " to "
		if e.Op == "unassign" {
			prep = " from "
		}
		b.WriteString(prep + e.Target)
	}
	b.WriteString(": ")
	var parts []string
	if e.Status != 0 {
		parts = append(parts, fmt.Sprint(e.Status))
	}
	if e.Code != "" {
		parts = append(parts, e.Code)
	}
	head := strings.Join(parts, " ")
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if msg == "" && e.Status != 0 {
		msg = http.StatusText(e.Status)
	}
	switch {
	case head != "" && msg != "":
		b.WriteString(head + ": " + msg)
	default:
		b.WriteString(head + msg)
	}
	if e.Message != "" && e.Err != nil {
		b.WriteString(" (" + e.Err.Error() + ")")
	}
	var extra []string
	for _, is := range e.Issues {
		if len(is.Path) > 0 {
			extra = append(extra, strings.Join(is.Path, ".")+": "+is.Message)
		} else {
			extra = append(extra, is.Message)
		}
	}
	if len(e.Details) > 0 {
		keys := make([]string, 0, len(e.Details))
		for k := range e.Details {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, err := json.Marshal(e.Details[k])
			if err != nil {
				v = []byte(fmt.Sprint(e.Details[k]))
			}
			extra = append(extra, k+"="+string(v))
		}
	}
	if len(extra) > 0 {
		b.WriteString(" (" + strings.Join(extra, "; ") + ")")
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " [after %d attempts]", e.Attempts)
	}
	// The API's words, names and ids are the server's: one line, with
	// nothing that could move the cursor or forge a line of output.
	return textsafe.Line(b.String())
}

func (e *Error) Unwrap() error { return e.Err }

// IsNotFound reports whether err says the object does not exist (HTTP 404
// or the API's NOT_FOUND code).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Code == api.CodeNotFound)
}

// op names the operation and object of a request, for errors and for the
// debug log.
type op struct {
	Op, Kind, Name, ID, Target string
}

func (o op) err(status int, cause error) *Error {
	return &Error{Op: o.Op, Kind: o.Kind, Name: o.Name, ID: o.ID, Target: o.Target, Status: status, Err: cause}
}

// redactError makes sure no part of e carries the key.
func (c *Client) redactError(e *Error) *Error {
	e.Message = c.redact(e.Message)
	e.Code = c.redact(e.Code)
	e.Name = c.redact(e.Name)
	e.ID = c.redact(e.ID)
	e.Target = c.redact(e.Target)
	if e.Details != nil {
		e.Details = c.redactAny(e.Details).(map[string]any)
	}
	for i := range e.Issues {
		e.Issues[i].Message = c.redact(e.Issues[i].Message)
		for j := range e.Issues[i].Path {
			e.Issues[i].Path[j] = c.redact(e.Issues[i].Path[j])
		}
	}
	if e.Err != nil && c.redactor.Contains(e.Err.Error()) {
		e.Err = redactedError{msg: c.redact(e.Err.Error()), err: e.Err}
	}
	return e
}

// redactedError replaces the message of an error that quoted the key. It
// unwraps only to the context errors, so errors.Is(err, context.Canceled)
// still works but nothing can reach the original text.
type redactedError struct {
	msg string
	err error
}

func (r redactedError) Error() string { return r.msg }
func (r redactedError) Unwrap() error {
	for _, sentinel := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(r.err, sentinel) {
			return sentinel
		}
	}
	return nil
}
