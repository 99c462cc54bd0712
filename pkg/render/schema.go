package render

import (
	"encoding/json"
	"reflect"
	"slices"

	"github.com/invopop/jsonschema"

	"github.com/psync-dev/psync/pkg/plan"
)

// SchemaBaseURL is where the JSON Schemas of psync's output live; each
// one's $id is this followed by its file name.
const SchemaBaseURL = "https://github.com/psync-dev/psync/schema/"

// The schemas of psync's JSON documents, by file name under schema/.
const (
	PlanSchemaFile     = "plan.schema.json"
	ApplySchemaFile    = "apply.schema.json"
	ValidateSchemaFile = "validate.schema.json"
)

// Schemas returns the JSON Schemas (draft 2020-12) of psync's JSON output,
// reflected from the document types, by file name: plan.schema.json (psync
// plan and psync show --output json: a plan, or the errors of a failure),
// apply.schema.json (psync apply --output json: a report, or errors) and
// validate.schema.json. Each is indented and ends in a newline; a test
// keeps schema/ equal to them. Every field of the documents is required,
// so the schemas also check that nothing is ever omitted.
func Schemas() (map[string][]byte, error) {
	docs := []struct {
		file, title, description string
		types                    []any
	}{
		{PlanSchemaFile, "psync plan", "What psync plan --output json (and psync show --output json) prints: a plan, or the errors that prevented one.", []any{JSONPlan{}, JSONErrors{}}},
		{ApplySchemaFile, "psync apply report", "What psync apply --output json prints: the report of an apply (or of a dry run), or the errors that prevented one.", []any{JSONReport{}, JSONErrors{}}},
		{ValidateSchemaFile, "psync validate", "What psync validate --output json prints.", []any{JSONValidation{}}},
	}
	out := map[string][]byte{}
	for _, d := range docs {
		b, err := schemaOf(SchemaBaseURL+d.file, d.title, d.description, d.types)
		if err != nil {
			return nil, err
		}
		out[d.file] = b
	}
	return out, nil
}

// schemaOf is one schema whose root is one of types.
func schemaOf(id, title, description string, types []any) ([]byte, error) {
	r := &jsonschema.Reflector{
		// Strings of a fixed set are enums, from the plan's own tables.
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			switch t {
			case reflect.TypeFor[plan.Action]():
				return enum(plan.Create, plan.Adopt, plan.Update, plan.Replace, plan.Delete, plan.Assign, plan.Unassign, plan.Forget)
			case reflect.TypeFor[plan.Kind]():
				return enum(plan.KindScript, plan.KindTemplate, plan.KindAssignment)
			case reflect.TypeFor[plan.Resolution]():
				return enum(plan.ResolutionRevert, plan.ResolutionKeep, plan.ResolutionDelete, plan.ResolutionForget)
			}
			return nil
		},
	}
	root := &jsonschema.Schema{
		Version:     jsonschema.Version,
		ID:          jsonschema.ID(id),
		Title:       title,
		Description: description,
		Definitions: jsonschema.Definitions{},
	}
	for _, v := range types {
		s := r.Reflect(v)
		for name, def := range s.Definitions {
			root.Definitions[name] = def
		}
		// A change's before and after are an object or null.
		if change, ok := s.Definitions["JSONChange"]; ok {
			for _, side := range []string{"before", "after"} {
				if p, ok := change.Properties.Get(side); ok {
					change.Properties.Set(side, &jsonschema.Schema{
						Description: p.Description,
						OneOf:       []*jsonschema.Schema{{Ref: p.Ref}, {Type: "null"}},
					})
				}
			}
		}
		root.OneOf = append(root.OneOf, &jsonschema.Schema{Ref: s.Ref})
	}
	if len(root.OneOf) == 1 {
		root.Ref, root.OneOf = root.OneOf[0].Ref, nil
	}
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func enum[T interface{ ~string | ~int }](vs ...T) *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "string"}
	for _, v := range vs {
		var text string
		switch x := any(v).(type) {
		case plan.Action:
			text = x.String()
		default:
			text = reflect.ValueOf(v).String()
		}
		if !slices.Contains(s.Enum, any(text)) {
			s.Enum = append(s.Enum, text)
		}
	}
	return s
}
