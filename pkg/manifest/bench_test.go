package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// generate writes a manifest of n scripts (inline, or each in its own
// file), a template per 100 scripts, and assignments of every script to
// three machines.
func generate(b *testing.B, n int, files bool) string {
	b.Helper()
	dir := b.TempDir()
	var m strings.Builder
	m.WriteString("version: 1\nignore:\n  scripts: [\"legacy-*\"]\nscripts:\n")
	body := "#!/bin/bash\nset -euo pipefail\necho \"setting up $(hostname)\"\napt-get install -y build-essential\n"
	if files {
		if err := os.Mkdir(filepath.Join(dir, "scripts"), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	for i := range n {
		fmt.Fprintf(&m, "  - name: script-%05d\n", i)
		if files {
			name := fmt.Sprintf("scripts/script-%05d.sh", i)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(&m, "    file: %s\n", name)
		} else {
			m.WriteString("    script: |\n")
			for _, line := range strings.SplitAfter(strings.TrimSuffix(body, "\n"), "\n") {
				m.WriteString("      " + line)
			}
			m.WriteString("\n")
		}
		if i%10 == 0 {
			m.WriteString("    runOnce: true\n    previousNames: [old-" + fmt.Sprint(i) + "]\n")
		}
	}
	m.WriteString("templates:\n")
	for i := 0; i < n/100; i++ {
		fmt.Fprintf(&m, "  - name: template-%03d\n    machineId: psbox%03d\n", i, i%10+1)
	}
	m.WriteString("assignments:\n")
	for i := range n {
		fmt.Fprintf(&m, "  - script: script-%05d\n    machines: [psbox001, psbox002, psbox%03d]\n", i, i%8+3)
	}
	path := filepath.Join(dir, "psync.yaml")
	if err := os.WriteFile(path, []byte(m.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkLoad loads a generated manifest of 10,000 scripts.
func BenchmarkLoad(b *testing.B) {
	for _, files := range []bool{false, true} {
		name := "inline-10000"
		if files {
			name = "files-10000"
		}
		b.Run(name, func(b *testing.B) {
			path := generate(b, 10000, files)
			info, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(info.Size())
			b.ReportAllocs()
			for b.Loop() {
				m, err := Load(path)
				if err != nil {
					b.Fatal(err)
				}
				if len(m.Scripts) != 10000 {
					b.Fatalf("%d scripts", len(m.Scripts))
				}
			}
		})
	}
}
