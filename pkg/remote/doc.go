// Package remote is psync's view of the Paperspace API: the model every
// other package works with (Snapshot, Script, Template, the Reader and
// Writer interfaces, in model.go) and Client, the HTTP implementation of
// both interfaces.
//
// The client speaks the wire types of pkg/api in both dialects (the spec's
// and the live Paperspace v1 API's), detected from responses. It owns
// everything that makes talking to a public API safe: bearer auth in a
// RoundTripper that never leaves the API's host, per-request timeouts,
// retries with exponential backoff and full jitter that honour Retry-After,
// one adaptive token bucket shared by every goroutine, tolerant decoding of
// lists (bare arrays or paged envelopes), one error type, and creates that
// never make a duplicate.
//
// It treats the API as possibly hostile. The key is redacted from every
// log line and error, in any encoding (Redactor; callers register more
// secrets with Client.Redactor().AddSecret), and a 2xx answer holding it
// is refused; redirects stay within the API's origin; list walks stop on
// a repeated cursor, a page with nothing new, or past MaxListPages and
// MaxListItems; an object missing what psync needs is an error naming it;
// and errors print as one line with control and invisible characters
// escaped.
package remote
