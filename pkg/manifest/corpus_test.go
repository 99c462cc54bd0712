package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite golden files (testdata/*/*.txtar want sections, schema/psync.schema.json)")

// corpusCase is one txtar file of testdata/invalid, testdata/valid or
// testdata/shell: the manifest and its script files, and a "want" file
// with the expected output. The archive's comment may say "load: PATH"
// to load something other than psync.yaml (e.g. a directory).
type corpusCase struct {
	path string
	ar   *txtar.Archive
	load string
}

func readCorpus(t *testing.T, dir string) []corpusCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no test cases in testdata/%s", dir)
	}
	var out []corpusCase
	for _, f := range files {
		out = append(out, readCorpusFile(t, f))
	}
	return out
}

func readCorpusFile(t *testing.T, path string) corpusCase {
	t.Helper()
	ar, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := corpusCase{path: path, ar: ar, load: "psync.yaml"}
	for _, line := range strings.Split(string(ar.Comment), "\n") {
		if v, ok := strings.CutPrefix(line, "load: "); ok {
			c.load = strings.TrimSpace(v)
		}
	}
	return c
}

// extract writes the case's files (all but "want") into a fresh
// directory and makes it the working directory, so positions in messages
// are relative and stable.
func (c corpusCase) extract(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range c.ar.Files {
		if f.Name == "want" {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
}

// check compares got with the case's want file, or rewrites it.
func (c corpusCase) check(t *testing.T, got string) {
	t.Helper()
	for i, f := range c.ar.Files {
		if f.Name != "want" {
			continue
		}
		if *update {
			c.ar.Files[i].Data = []byte(got)
			if err := os.WriteFile(c.path, txtar.Format(c.ar), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		if diff := cmp.Diff(string(f.Data), got); diff != "" {
			t.Errorf("%s: output differs (-want +got):\n%s", c.path, diff)
		}
		return
	}
	if *update {
		c.ar.Files = append(c.ar.Files, txtar.File{Name: "want", Data: []byte(got)})
		if err := os.WriteFile(c.path, txtar.Format(c.ar), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s has no want file; run go test -update", c.path)
}

// absCases makes the cases' paths absolute: each case runs in its own
// working directory, and -update must still find the file.
func absCases(t *testing.T, cases []corpusCase) {
	t.Helper()
	for i := range cases {
		p, err := filepath.Abs(cases[i].path)
		if err != nil {
			t.Fatal(err)
		}
		cases[i].path = p
	}
}

// TestInvalidCorpus loads every manifest of testdata/invalid and expects
// exactly the messages in its want file, all of them at once.
func TestInvalidCorpus(t *testing.T) {
	cases := readCorpus(t, "invalid")
	absCases(t, cases)
	if len(cases) < 30 {
		t.Errorf("testdata/invalid has %d cases; keep at least 30", len(cases))
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(c.path), ".txtar"), func(t *testing.T) {
			c.extract(t)
			m, err := Load(c.load)
			if err == nil {
				t.Fatalf("Load succeeded, want errors; got %+v", m)
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load error is %T (%v), want *Errors", err, err)
			}
			if m != nil {
				t.Errorf("Load returned a manifest along with errors")
			}
			c.check(t, err.Error()+"\n")
		})
	}
}

// TestValidCorpus loads every manifest of testdata/valid and compares the
// resolved Manifest, as JSON, with its want file.
func TestValidCorpus(t *testing.T) {
	cases := readCorpus(t, "valid")
	absCases(t, cases)
	for _, c := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(c.path), ".txtar"), func(t *testing.T) {
			c.extract(t)
			m, err := Load(c.load)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, string(got)+"\n")
		})
	}
}

// TestShellCorpus runs CheckShell on every manifest of testdata/shell.
func TestShellCorpus(t *testing.T) {
	requireBash(t)
	cases := readCorpus(t, "shell")
	absCases(t, cases)
	for _, c := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(c.path), ".txtar"), func(t *testing.T) {
			c.extract(t)
			m, err := Load(c.load)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			diags, err := CheckShell(context.Background(), m)
			if err != nil {
				t.Fatalf("CheckShell: %v", err)
			}
			var b strings.Builder
			for _, d := range diags {
				b.WriteString(d.String() + "\n")
			}
			c.check(t, b.String())
		})
	}
}
