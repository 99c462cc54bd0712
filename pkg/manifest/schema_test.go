package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// compiledSchema compiles Schema() with an independent validator.
func compiledSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatalf("the generated schema does not compile: %v", err)
	}
	return s
}

// asJSON turns YAML into the JSON value a schema validator sees, the way
// yaml-language-server does.
func asJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSchemaAgreesWithLoader checks that editors using the schema accept
// the manifests psync accepts, and flag the structural mistakes it
// rejects. (Checks that need the file system or several objects, such as
// duplicates or missing files, are beyond a schema.)
func TestSchemaAgreesWithLoader(t *testing.T) {
	s := compiledSchema(t)
	// The loader reads "key:" with no value as the default; the schema,
	// like most editors, wants the declared type.
	lenient := map[string]bool{"nulls-and-empties": true}
	for _, c := range readCorpus(t, "valid") {
		name := strings.TrimSuffix(filepath.Base(c.path), ".txtar")
		if lenient[name] {
			continue
		}
		for _, f := range c.ar.Files {
			if ext := filepath.Ext(f.Name); ext != ".yaml" && ext != ".yml" || strings.Contains(f.Name, "/.") || strings.Contains(f.Name, "scripts/") {
				continue
			}
			// Every document of a multi-document file.
			for i, doc := range bytes.Split(f.Data, []byte("\n---\n")) {
				if err := s.Validate(asJSON(t, doc)); err != nil {
					t.Errorf("valid/%s %s (document %d): schema rejects it: %v", name, f.Name, i, err)
				}
			}
		}
	}
	quickstart, err := os.ReadFile(filepath.Join("..", "..", "examples", "quickstart", "psync.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(asJSON(t, quickstart)); err != nil {
		t.Errorf("examples/quickstart: schema rejects it: %v", err)
	}
	structural := []string{
		"unknown-top-field", "unknown-script-field", "unknown-nested-fields",
		"file-and-script", "no-body", "unsupported-version", "missing-version",
		"machine-id-malformed", "wrong-types", "max-delete-percent", "name-missing-or-empty",
		"template-no-machine", "assignment-incomplete", "not-a-mapping", "bad-glob",
		"duplicate-machine", "env-structure",
	}
	for _, name := range structural {
		c := readCorpusFile(t, filepath.Join("testdata", "invalid", name+".txtar"))
		var manifest []byte
		for _, f := range c.ar.Files {
			if f.Name == "psync.yaml" {
				manifest = f.Data
			}
		}
		if err := s.Validate(asJSON(t, manifest)); err == nil {
			t.Errorf("invalid/%s: the schema accepts it", name)
		}
	}
}
