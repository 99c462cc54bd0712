package plan

import (
	"fmt"

	"github.com/psync-dev/psync/pkg/api"
	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
)

// checkScriptSizes holds script bodies to api.MaxScriptBytes (16 KiB), a
// limit only the spec and Paperspace's legacy API documentation give:
// against the spec's API a larger body is an error naming where it was
// written; against the live API, which documents none, it is a warning
// (should the API refuse the body, the apply shows its message).
func (p *planner) checkScriptSizes() {
	live := p.snap.Dialect == remote.DialectPaperspaceV1
	for _, s := range p.m.Scripts {
		body, ok := s.PushBody()
		if !ok {
			body = s.Body
		}
		if len(body) <= api.MaxScriptBytes {
			continue
		}
		at := s.Pos // where the script's file is named
		if s.File == "" && s.BodyPos.File != "" {
			at = s.BodyPos // the inline body
		}
		// With a secret in the body, its size tells the secret's length.
		size := fmt.Sprintf("is %d bytes", len(body))
		if s.HasSecrets() {
			size = "is over 16 KiB with its env variables"
		}
		if live {
			p.warnings = append(p.warnings, fmt.Sprintf("%s: script %q %s, above the 16 KiB Paperspace's legacy API accepted; the live API documents no limit, but may refuse it", at, s.Name, size))
			continue
		}
		p.errs = append(p.errs, &manifest.Errors{Diagnostics: []manifest.Diagnostic{{Pos: at,
			Message: fmt.Sprintf("script %q %s; the API accepts at most %d (16 KiB)", s.Name, size, api.MaxScriptBytes)}}})
	}
}
