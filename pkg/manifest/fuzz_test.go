package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// FuzzLoad feeds arbitrary bytes to the loader as psync.yaml: it must
// never panic, and must either return a valid manifest or an *Errors with
// positioned diagnostics. The seeds are every manifest of the test corpora.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "*.txtar"))
	for _, s := range seeds {
		ar, err := txtar.ParseFile(s)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range ar.Files {
			if filepath.Ext(file.Name) == ".yaml" || filepath.Ext(file.Name) == ".yml" {
				f.Add(file.Data)
			}
		}
	}
	f.Add([]byte("version: 1\nscripts:\n  - name: a\n    file: a.sh\n  - name: l\n    file: link.sh\n"))

	// A directory with a script, a subdirectory and a link out, for the
	// file: paths the fuzzer invents.
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.sh"), []byte("echo a\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		f.Fatal(err)
	}
	_ = os.Symlink("/etc/hostname", filepath.Join(dir, "link.sh"))

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := load(dir, []source{{name: filepath.Join(dir, "psync.yaml"), data: data}})
		if err == nil {
			if m == nil || m.Version != SupportedVersion {
				t.Fatalf("no error but manifest %+v", m)
			}
			for _, s := range m.Scripts {
				if len(s.Body) > MaxBodyBytes {
					t.Fatalf("script %q body of %d bytes accepted", s.Name, len(s.Body))
				}
				if s.File != "" && !within(dir, filepath.Join(dir, s.File)) {
					t.Fatalf("script %q file %q outside the directory accepted", s.Name, s.File)
				}
			}
			// Secret variables: the body shown never holds a value.
			const value = "\x01fuzz secret\x02"
			if m.ResolveEnv(func(string) (string, bool) { return value, true }) == nil {
				for _, s := range m.Scripts {
					if strings.Contains(s.DisplayBody(), value) && !strings.Contains(string(data), "fuzz secret") {
						t.Fatalf("script %q: the body shown holds a secret:\n%s", s.Name, s.DisplayBody())
					}
					if _, ok := s.PushBody(); !ok {
						t.Fatalf("script %q: every secret is set, but PushBody is not ready", s.Name)
					}
				}
			}
			return
		}
		var errs *Errors
		if !errors.As(err, &errs) {
			t.Fatalf("error of type %T: %v", err, err)
		}
		if len(errs.Diagnostics) == 0 || errs.Error() == "" {
			t.Fatal("empty *Errors")
		}
		for _, d := range errs.Diagnostics {
			if d.Pos.File == "" || d.Message == "" {
				t.Fatalf("diagnostic without file or message: %+v", d)
			}
		}
	})
}
