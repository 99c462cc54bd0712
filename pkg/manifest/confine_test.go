package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLoadHostileManifestFiles: what a pull request can put where a
// manifest is read (-f FILE, or a *.yaml of -f DIR) gives an error naming
// the file, in bounded time and memory, that never quotes a secret's
// content at length.
func TestLoadHostileManifestFiles(t *testing.T) {
	const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDSpsMWpj2Efy3fI2cm4ElKWPCp2JyV9PjVBtOthqFLsAAAAJB9NBO7fTQT\n-----END OPENSSH PRIVATE KEY-----\n"
	const passwd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
	secrets := t.TempDir()
	keyFile := filepath.Join(secrets, "id_ed25519")
	must(t, os.WriteFile(keyFile, []byte(key), 0o600))
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) string // returns the -f argument
		wantErr string
	}{
		{"FIFO as -f FILE", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "psync.yaml")
			must(t, syscall.Mkfifo(p, 0o644))
			return p
		}, "is a FIFO, not a regular file"},
		{"FIFO in -f DIR", func(t *testing.T, dir string) string {
			must(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("version: 1\n"), 0o644))
			must(t, syscall.Mkfifo(filepath.Join(dir, "b.yaml"), 0o644))
			return dir
		}, "b.yaml is a FIFO"},
		{"/dev/zero by symlink", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "psync.yaml")
			must(t, os.Symlink("/dev/zero", p))
			return p
		}, "leads through a symlink outside"},
		{"/dev/zero directly", func(t *testing.T, dir string) string { return "/dev/zero" },
			"is a device, not a regular file"},
		{"huge file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "psync.yaml")
			f, err := os.Create(p)
			must(t, err)
			must(t, f.Truncate(MaxFileBytes+1))
			must(t, f.Close())
			return p
		}, "over the manifest file limit of 16 MiB"},
		{"symlink to a private key", func(t *testing.T, dir string) string {
			must(t, os.Symlink(keyFile, filepath.Join(dir, "keys.yaml")))
			return dir
		}, "leads through a symlink outside"},
		{"a private key as the manifest", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "psync.yaml")
			must(t, os.WriteFile(p, []byte(key), 0o644))
			return p
		}, "must be a mapping, not a single value"},
		{"/etc/passwd as the manifest", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "psync.yaml")
			must(t, os.WriteFile(p, []byte(passwd), 0o644))
			return p
		}, "must be a mapping, not a single value"},
		{"a token as the manifest", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "psync.yaml")
			must(t, os.WriteFile(p, []byte("ghp_AAAAMwAAAAtzc2gtZWQyNTUxOQAAACDSpsMW\n"), 0o644))
			return p
		}, "not a single value of 40 characters"},
		{"a private key as a value", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "psync.yaml")
			must(t, os.WriteFile(p, []byte("version: 1\nscripts:\n  - name: a\n    script: x\n    runOnce: |\n"+indent(key)), 0o644))
			return p
		}, "must be true or false"},
		{"a private key as a field name", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "psync.yaml")
			must(t, os.WriteFile(p, []byte("version: 1\n\"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\": 1\n"), 0o644))
			return p
		}, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			arg := tt.setup(t, dir)
			_, err := Load(arg)
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q", tt.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantErr) {
				t.Errorf("error %q does not contain %q", msg, tt.wantErr)
			}
			// A short excerpt is fine; the secret's body is not.
			secrets := []string{"AAAAMwAAAAtzc2gtZW", "daemon:x", "/usr/sbin/nologin", keyFile}
			if strings.Contains(tt.wantErr, "single value") {
				// A whole file that is not a manifest: not even its start.
				secrets = append(secrets, "root:x:0", "PRIVATE KEY", "ghp_")
			}
			for _, secret := range secrets {
				if strings.Contains(msg, secret) {
					t.Errorf("error quotes %q: %q", secret, msg)
				}
			}
			if len(msg) > 400 {
				t.Errorf("error is %d bytes long: %q", len(msg), msg)
			}
		})
	}
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString("      " + l)
		}
	}
	return b.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
