package manifest

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the manifest's JSON Schema.
const SchemaID = "https://github.com/psync-dev/psync/schema/psync.schema.json"

// Schema returns the manifest's JSON Schema (draft 2020-12), reflected from
// the document types, indented and ending in a newline. It is what
// `psync schema` prints and schema/psync.schema.json holds.
func Schema() ([]byte, error) {
	r := &jsonschema.Reflector{
		FieldNameTag:               "yaml",
		RequiredFromJSONSchemaTags: true,
		// The manifest's own properties at the root, where editors look first.
		ExpandedStruct: true,
		// Names in $defs without the Doc prefix: "Script", not "DocScript".
		Namer: func(t reflect.Type) string {
			return strings.TrimPrefix(t.Name(), "Doc")
		},
	}
	s := r.Reflect(&Document{})
	s.ID = SchemaID
	s.Title = "psync manifest"
	s.Description = "A psync manifest (psync.yaml): the startup scripts, custom templates and script assignments of a Paperspace team."
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
