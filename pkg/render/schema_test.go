package render

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
)

// TestSchemasUpToDate fails when schema/*.schema.json no longer match the
// document types; go test -update rewrites them.
func TestSchemasUpToDate(t *testing.T) {
	schemas, err := Schemas()
	if err != nil {
		t.Fatal(err)
	}
	for file, got := range schemas {
		path := filepath.Join("..", "..", "schema", file)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./pkg/render -update)", err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s is stale; run go test ./pkg/render -update (-committed +generated):\n%s", path, diff)
		}
	}
}

// compiled compiles one of Schemas() with an independent validator.
func compiled(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	schemas, err := Schemas()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas[file]))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaBaseURL+file, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaBaseURL + file)
	if err != nil {
		t.Fatalf("%s does not compile: %v", file, err)
	}
	return s
}

func validateJSON(t *testing.T, s *jsonschema.Schema, name string, data []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("%s does not match its schema: %v", name, err)
	}
}

// TestGoldenOutputsMatchTheSchemas validates every JSON document of the
// golden corpus, and the failure documents, against the schemas.
func TestGoldenOutputsMatchTheSchemas(t *testing.T) {
	for _, c := range []struct{ glob, schema string }{
		{"testdata/plan/*.json", PlanSchemaFile},
		{"testdata/report/*.json", ApplySchemaFile},
	} {
		s := compiled(t, c.schema)
		files, err := filepath.Glob(c.glob)
		if err != nil || len(files) < 5 {
			t.Fatalf("%s: %d files (%v)", c.glob, len(files), err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			validateJSON(t, s, f, data)
		}
	}
	for _, failure := range errorsDocs(t) {
		validateJSON(t, compiled(t, PlanSchemaFile), "plan errors", failure)
		validateJSON(t, compiled(t, ApplySchemaFile), "apply errors", failure)
	}
	var b bytes.Buffer
	for _, doc := range []JSONValidation{NewJSONValidation(nil), NewJSONValidation(sampleDiagnostics())} {
		b.Reset()
		if err := WriteJSON(&b, doc); err != nil {
			t.Fatal(err)
		}
		validateJSON(t, compiled(t, ValidateSchemaFile), "validation", b.Bytes())
	}
}

// The schemas are strict: a document missing an array, or with null for
// one, does not match.
func TestSchemaRejectsOmissions(t *testing.T) {
	s := compiled(t, PlanSchemaFile)
	data, err := os.ReadFile("testdata/plan/creates.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ from, to string }{
		{`"affectedMachines": [],`, ``},
		{`"dependsOn": []`, `"dependsOn": null`},
		{`"forget": 0,`, ``},
		{`"action": "create"`, `"action": "make"`},
	} {
		doc := strings.Replace(string(data), bad.from, bad.to, 1)
		if doc == string(data) {
			t.Fatalf("creates.json has no %s", bad.from)
		}
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if s.Validate(v) == nil {
			t.Errorf("the schema accepts a plan with %s replaced by %q", bad.from, bad.to)
		}
	}
}

func sampleDiagnostics() []manifest.Diagnostic {
	return []manifest.Diagnostic{{Pos: manifest.Position{File: "psync.yaml", Line: 4, Column: 4}, Message: "invalid YAML: a tab"}}
}

// errorsDocs are failure documents: manifest problems, an API failure.
func errorsDocs(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, e := range []error{
		&manifest.Errors{Diagnostics: sampleDiagnostics()},
		&remote.Error{Op: "list", Kind: "scripts", Status: 503, Message: "unavailable"},
		&remote.Error{Op: "create", Kind: "script", Name: "a"},
	} {
		var b bytes.Buffer
		if err := WriteJSON(&b, NewJSONErrors(PlanFormatVersion, e)); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}
