package state

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzLoad checks that the loader never panics, and that whatever it
// accepts survives a save and a load unchanged (apart from the serial).
// Seeds are in testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"formatVersion": 1, "lineage": "l", "serial": 3, "apiUrl": "https://x", "scripts": [], "templates": []}`))
	f.Add([]byte(`{"formatVersion": 2, "serial": 1, "scripts": [], "templates": [], "deleted": [{"kind": "script", "id": "b"}, {"kind": "template", "id": "a", "name": "t"}, {"kind": "script", "id": "b"}]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parse("fuzz", data)
		if err != nil {
			return
		}
		p := filepath.Join(dir, "s.json")
		if err := s.Save(p); err != nil {
			t.Fatalf("save an accepted state: %v", err)
		}
		back, err := Load(p)
		if err != nil {
			t.Fatalf("reload a saved state: %v\n%s", err, data)
		}
		if diff := cmp.Diff(s, back, ignoreTracking); diff != "" {
			t.Fatalf("round trip (-saved +loaded):\n%s", diff)
		}
	})
}
