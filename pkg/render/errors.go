package render

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
)

// ValidationFormatVersion is the version of psync validate's JSON document.
const ValidationFormatVersion = 1

// JSONErrors is what plan, apply and show print with --output json when
// they fail before having a plan or a report to show (see doc.go).
type JSONErrors struct {
	FormatVersion int         `json:"formatVersion"`
	Errors        []JSONError `json:"errors"`
}

// JSONError is one problem: a manifest problem (file, line, column), an
// API failure (operation, object, status) or anything else (message only).
type JSONError struct {
	Message   string `json:"message"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty" jsonschema:"minimum=1"`
	Column    int    `json:"column,omitempty" jsonschema:"minimum=1"`
	Operation string `json:"operation,omitempty"`
	Object    string `json:"object,omitempty"`
	// Status is the HTTP status; 0 when no response was received.
	Status *int `json:"status,omitempty"`
}

// JSONValidation is what psync validate --output json prints.
type JSONValidation struct {
	FormatVersion int         `json:"formatVersion"`
	Valid         bool        `json:"valid"`
	Errors        []JSONError `json:"errors"`
}

// NewJSONErrors is the JSON view of err, for a document of version
// formatVersion: one entry per manifest problem, per API failure, and per
// error that errors.Join put together.
func NewJSONErrors(formatVersion int, err error) JSONErrors {
	return JSONErrors{FormatVersion: formatVersion, Errors: jsonErrors(err)}
}

// NewJSONValidation is the JSON view of a validation's problems.
func NewJSONValidation(diags []manifest.Diagnostic) JSONValidation {
	out := JSONValidation{FormatVersion: ValidationFormatVersion, Valid: len(diags) == 0, Errors: make([]JSONError, 0, len(diags))}
	for _, d := range diags {
		out.Errors = append(out.Errors, diagnosticError(d))
	}
	return out
}

// WriteJSON writes v as psync's JSON documents are written: indented, with
// a trailing newline, < > & unescaped.
func WriteJSON(w io.Writer, v any) error { return writeJSON(w, v) }

func jsonErrors(err error) []JSONError {
	out := []JSONError{}
	if err == nil {
		return out
	}
	// Manifest problems are one entry each, and so are errors put
	// together (errors.Join, or one that unwraps to several), wherever
	// they are in the chain of wrappers: whichever comes first, since
	// errors.As would find manifest problems inside a join and lose the
	// join's other errors.
	for e := err; e != nil; e = errors.Unwrap(e) {
		if diags, ok := e.(*manifest.Errors); ok {
			for _, d := range diags.Diagnostics {
				out = append(out, diagnosticError(d))
			}
			return out
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				out = append(out, jsonErrors(e)...)
			}
			return out
		}
	}
	var re *remote.Error
	if errors.As(err, &re) {
		status := re.Status
		e := JSONError{Message: sanitize(err.Error()), Operation: re.Op, Object: apiObject(re), Status: &status}
		return append(out, e)
	}
	return append(out, JSONError{Message: sanitize(err.Error())})
}

// diagnosticError is a manifest problem; the quoted source line of a
// syntax error is for terminals and is left out.
func diagnosticError(d manifest.Diagnostic) JSONError {
	return JSONError{Message: sanitize(d.Message), File: d.Pos.File, Line: d.Pos.Line, Column: d.Pos.Column}
}

// apiObject names what an API operation was about: `script "a" (s1)`.
func apiObject(e *remote.Error) string {
	var parts []string
	if e.Kind != "" {
		parts = append(parts, e.Kind)
	}
	switch {
	case e.Name != "" && e.ID != "":
		parts = append(parts, fmt.Sprintf("%q (%s)", e.Name, e.ID))
	case e.Name != "":
		parts = append(parts, fmt.Sprintf("%q", e.Name))
	case e.ID != "":
		parts = append(parts, e.ID)
	}
	return sanitize(strings.Join(parts, " "))
}
