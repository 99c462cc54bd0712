package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/psync-dev/psync/internal/safefile"
)

// Load reads the manifest at path: a file, or a directory whose *.yaml and
// *.yml files (not hidden ones, not in subdirectories) are merged in name
// order. It decodes strictly, applies defaults (runOnce false, isEnabled
// true, maxDeletePercent 25), reads every script body and validates the
// whole. When the manifest is invalid the error is a *Errors listing every
// problem found, sorted by position; an error of another type means the
// manifest could not be read at all (e.g. path does not exist).
func Load(path string) (*Manifest, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load manifest: %w", err)
	}
	var files []string
	dir := filepath.Dir(path)
	if info.IsDir() {
		dir = path
		files, err = manifestFiles(path)
		if err != nil {
			return nil, err
		}
	} else {
		files = []string{path}
	}
	var srcs []source
	for _, f := range files {
		// A manifest under review may be a symlink to a secret, a FIFO
		// that never ends or /dev/zero: the file: rules apply to it too.
		data, err := safefile.ReadFile(f, safefile.Options{Root: dir, Limit: MaxFileBytes, What: "manifest file"})
		if err != nil {
			return nil, fmt.Errorf("load manifest: %w", err)
		}
		srcs = append(srcs, source{name: f, data: data})
	}
	return load(filepath.Clean(dir), srcs)
}

// MaxFileBytes caps one manifest file: a thousand scripts with 16 KiB
// bodies inline fit.
const MaxFileBytes = 16 << 20

// MaxBodyBytes caps one script body: what psync reads of a file and
// accepts inline. The 16 KiB of api.MaxScriptBytes is the spec's limit (and
// the legacy API's documented one); the live API documents none, so the
// plan checks that limit against the dialect (an error against the spec's
// API, a warning against the live one), and this cap only keeps a hostile
// manifest from making psync read and push without bound.
const MaxBodyBytes = 256 << 10

// manifestFiles lists the manifest files of a directory, sorted by name.
func manifestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load manifest: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
			continue // hidden files are editor droppings, not manifests
		}
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err != nil || info.IsDir() {
			continue
		}
		files = append(files, p)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("load manifest: no *.yaml or *.yml files in directory %s", dir)
	}
	slices.Sort(files)
	return files, nil
}

// source is one manifest file's name and content.
type source struct {
	name string
	data []byte
}

// parsed is one decoded YAML document and the file it came from.
type parsed struct {
	file string
	doc  *Document
}

// load decodes and validates sources; dir is the manifest's directory.
func load(dir string, srcs []source) (*Manifest, error) {
	diags := &diagnostics{}
	var docs []parsed
	for _, src := range srcs {
		docs = append(docs, parse(src, diags)...)
	}
	m := build(dir, docs, diags)
	for _, s := range srcs {
		m.Files = append(m.Files, s.name)
	}
	if err := diags.err(); err != nil {
		return nil, err
	}
	return m, nil
}

// parse decodes every YAML document of one file.
func parse(src source, diags *diagnostics) []parsed {
	var out []parsed
	docs := 0
	dec := yaml.NewDecoder(bytes.NewReader(src.data))
	d := &decoder{file: src.name, diags: diags, budget: 8*len(src.data) + 10000}
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			diags.list = append(diags.list, syntaxError(src.name, src.data, err))
			return out
		}
		docs++
		root := &n
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			root = root.Content[0]
		}
		doc := &Document{}
		if isNull(root) || root.Kind == yaml.DocumentNode {
			// An empty document (e.g. only comments) still needs a version.
			doc.pos.at = Position{File: src.name, Line: max(root.Line, 1), Column: max(root.Column, 1)}
		}
		if root.Kind != yaml.DocumentNode {
			d.decode(root, reflect.ValueOf(doc).Elem(), "the manifest")
		}
		if !isNull(root) && root.Kind != yaml.MappingNode && root.Kind != yaml.DocumentNode {
			continue // reported as "must be a mapping"; nothing more to check
		}
		if doc.pos.at.File == "" {
			doc.pos.at = d.pos(root)
		}
		out = append(out, parsed{file: src.name, doc: doc})
		if d.broke {
			return out
		}
	}
	if docs == 0 {
		diags.add(Position{File: src.name, Line: 1, Column: 1}, "the file is empty: a manifest starts with \"version: 1\"")
	}
	return out
}
