package manifest

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/psync-dev/psync/internal/textsafe"
)

// located is embedded in every YAML document type: the decoder fills it
// with where the object and each of its fields were written, so
// validation can point at the exact value at fault.
type located struct {
	pos positions
}

type positions struct {
	at     Position // the mapping itself
	fields []fieldPos
	// unknown is set when the mapping had keys the type does not declare
	// (already reported).
	unknown bool
}

// fieldPos is where one key and its value were written. A struct has a
// handful of fields, so a slice searched linearly beats maps, which
// dominated allocations when loading thousands of scripts.
type fieldPos struct {
	name       string
	key, value Position
	items      []Position // where each sequence item is
	style      yaml.Style // how a scalar value was written
	bad        bool       // the value could not be decoded
}

func (p *positions) field(key string) *fieldPos {
	for i := range p.fields {
		if p.fields[i].name == key {
			return &p.fields[i]
		}
	}
	return nil
}

func (l *located) setPositions(p positions) { l.pos = p }

// Pos is where the object starts.
func (l *located) Pos() Position { return l.pos.at }

// has reports whether key was written (even as null).
func (l *located) has(key string) bool { return l.pos.field(key) != nil }

// value is where key's value was written, or the object when absent.
func (l *located) value(key string) Position {
	if f := l.pos.field(key); f != nil && f.value.File != "" {
		return f.value
	}
	return l.pos.at
}

// style is how key's scalar value was written.
func (l *located) style(key string) yaml.Style {
	if f := l.pos.field(key); f != nil {
		return f.style
	}
	return 0
}

// bad reports whether key's value was already reported as mistyped, so
// validation does not pile a second message onto it.
func (l *located) bad(key string) bool {
	f := l.pos.field(key)
	return f != nil && f.bad
}

// item is where item i of key's sequence was written.
func (l *located) item(key string, i int) Position {
	if f := l.pos.field(key); f != nil && i < len(f.items) {
		return f.items[i]
	}
	return l.value(key)
}

type positioned interface{ setPositions(positions) }

// decoder decodes a yaml.Node tree into the document types strictly:
// unknown or repeated keys and mistyped values are diagnostics (all of
// them, not just the first), each with its position.
type decoder struct {
	file  string
	diags *diagnostics
	// budget bounds the nodes visited, so aliases that expand
	// exponentially ("billion laughs") cannot exhaust memory or time.
	budget int
	broke  bool
}

func (d *decoder) pos(n *yaml.Node) Position {
	return Position{File: d.file, Line: n.Line, Column: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.diags.add(d.pos(n), format, args...)
}

// resolve follows an alias to its anchored node and spends budget.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	d.budget--
	if d.budget < 0 {
		if !d.broke {
			d.errorf(n, "the document is too large once its aliases are expanded")
			d.broke = true
		}
		return nil
	}
	return n
}

// shortQuoteRunes is the most of a value an error quotes.
const shortQuoteRunes = 32

// shortQuote quotes s for an error message: only its start when it is
// long or spans lines (a "manifest" that is really a private key or
// /etc/passwd must not be printed whole), with control, bidirectional and
// zero-width characters escaped.
func shortQuote(s string) string {
	cut := s
	if i := strings.IndexAny(cut, "\r\n"); i >= 0 {
		cut = cut[:i]
	}
	if utf8.RuneCountInString(cut) > shortQuoteRunes {
		cut = string([]rune(cut)[:shortQuoteRunes])
	}
	q := textsafe.Quote(cut)
	if cut != s {
		q += fmt.Sprintf("… (%d characters)", utf8.RuneCountInString(s))
	}
	return q
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			return "the string " + shortQuote(n.Value)
		}
		return shortQuote(n.Value)
	}
	return "something else"
}

// decode decodes n into v (addressable). what names the value in messages,
// e.g. `"runOnce"`.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, what string) {
	n = d.resolve(n)
	if n == nil {
		return
	}
	if v.Kind() == reflect.Struct {
		// Even an empty or mistyped object ("- ", "- 00") has a position
		// for messages; decodeStruct adds its fields'.
		if pp, ok := v.Addr().Interface().(positioned); ok {
			pp.setPositions(positions{at: d.pos(n)})
		}
	}
	if isNull(n) {
		return // absent: keep the zero value (a nil pointer means "default")
	}
	if v.Type() == reflect.TypeFor[DocEnv]() {
		d.decodeEnv(n, v) // a mapping whose keys are data, in order
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		before := len(d.diags.list)
		d.decode(n, e.Elem(), what)
		if len(d.diags.list) == before {
			v.Set(e) // a mistyped value stays absent
		}
	case reflect.Struct:
		d.decodeStruct(n, v, what)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s must be a list, not %s", what, kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), what+" item")
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s must be a string, not %s", what, kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			d.errorf(n, "%s must be true or false, not %s", what, kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.Tag == "!!float" || n.Decode(&i) != nil {
			d.errorf(n, "%s must be a whole number, not %s", what, kindName(n))
			return
		}
		v.SetInt(int64(i))
	default:
		panic(fmt.Sprintf("manifest: cannot decode into %s", v.Type()))
	}
}

type pair struct{ key, value *yaml.Node }

// pairs returns a mapping's key/value pairs, with YAML merge keys ("<<")
// expanded: explicit keys come first and win over merged ones.
func (d *decoder) pairs(n *yaml.Node, depth int) []pair {
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" && depth < 10 {
			merged = append(merged, d.mergePairs(v, depth)...)
			continue
		}
		own = append(own, pair{k, v})
	}
	if len(merged) == 0 {
		return own
	}
	explicit := make(map[string]bool, len(own))
	for _, p := range own {
		explicit[p.key.Value] = true
	}
	seen := make(map[string]bool)
	for _, p := range merged {
		if !explicit[p.key.Value] && !seen[p.key.Value] {
			seen[p.key.Value] = true
			own = append(own, p)
		}
	}
	return own
}

func (d *decoder) mergePairs(v *yaml.Node, depth int) []pair {
	v = d.resolve(v)
	if v == nil {
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, depth+1)
	case yaml.SequenceNode:
		var out []pair
		for _, c := range v.Content {
			c = d.resolve(c)
			if c == nil {
				return out
			}
			if c.Kind != yaml.MappingNode {
				d.errorf(c, "a merge key (<<) needs a mapping or a list of mappings, not %s", kindName(c))
				continue
			}
			out = append(out, d.pairs(c, depth+1)...)
		}
		return out
	}
	d.errorf(v, "a merge key (<<) needs a mapping or a list of mappings, not %s", kindName(v))
	return nil
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, what string) {
	if n.Kind != yaml.MappingNode {
		if what == "the manifest" && n.Kind == yaml.ScalarNode {
			// A whole file that is one value is most likely not a
			// manifest at all (a key, a token, /etc/passwd): say what
			// it is, never what it holds.
			d.errorf(n, "%s must be a mapping, not a single value of %d characters: is this file a psync manifest?", what, utf8.RuneCountInString(n.Value))
			return
		}
		d.errorf(n, "%s must be a mapping, not %s", what, kindName(n))
		return
	}
	fields := fieldsOf(v.Type())
	if w, ok := typeNames[v.Type()]; ok {
		what = w
	}
	ps := d.pairs(n, 0)
	p := positions{at: d.pos(n), fields: make([]fieldPos, 0, len(ps))}
	for _, kv := range ps {
		k := d.resolve(kv.key)
		if k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "keys must be plain names, not %s", kindName(k))
			continue
		}
		name := k.Value
		if first := p.field(name); first != nil {
			d.errorf(k, "%q is set twice in %s (first at line %d)", name, what, first.key.Line)
			continue
		}
		f, ok := fields.byName[name]
		if !ok && strings.HasPrefix(name, "x-") && v.Type() == reflect.TypeFor[Document]() {
			// Extension keys, as in Docker Compose: a home for anchors
			// ("x-gpus: &gpus [...]") that psync itself ignores.
			continue
		}
		if !ok {
			msg := fmt.Sprintf("unknown field %s in %s", shortQuote(name), what)
			if s := Suggest(name, fields.names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += " (known fields: " + strings.Join(fields.names, ", ") + ")"
			}
			d.diags.add(d.pos(k), "%s", msg)
			p.unknown = true
			continue
		}
		val := d.resolve(kv.value)
		if val == nil {
			return
		}
		fp := fieldPos{name: name, key: d.pos(k), value: d.pos(val)}
		if val.Kind == yaml.ScalarNode {
			fp.style = val.Style
		}
		if val.Kind == yaml.SequenceNode {
			fp.items = make([]Position, len(val.Content))
			for i, c := range val.Content {
				if r := d.resolveQuiet(c); r != nil {
					fp.items[i] = d.pos(r)
				}
			}
		}
		before := len(d.diags.list)
		d.decode(val, v.Field(f), fields.quoted[name])
		fp.bad = len(d.diags.list) != before
		p.fields = append(p.fields, fp)
	}
	if pp, ok := v.Addr().Interface().(positioned); ok {
		pp.setPositions(p)
	}
}

// resolveQuiet follows an alias without spending budget.
func (d *decoder) resolveQuiet(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// typeNames name the document types in messages.
var typeNames = map[reflect.Type]string{
	reflect.TypeFor[Document]():      "the manifest",
	reflect.TypeFor[DocSettings]():   "settings",
	reflect.TypeFor[DocIgnore]():     "ignore",
	reflect.TypeFor[DocScript]():     "a script",
	reflect.TypeFor[DocTemplate]():   "a template",
	reflect.TypeFor[DocAssignment](): "an assignment",
	reflect.TypeFor[DocSelector]():   "a selector",
	reflect.TypeFor[DocEnvSecret]():  "an env secret",
}

type structFields struct {
	byName map[string]int    // yaml name -> field index
	quoted map[string]string // yaml name -> the name quoted, for messages
	names  []string          // sorted yaml names
}

var fieldCache sync.Map // reflect.Type -> *structFields

// fieldsOf lists the YAML keys a struct type accepts, from its yaml tags.
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{byName: make(map[string]int), quoted: make(map[string]string)}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f.byName[name] = i
		f.quoted[name] = strconv.Quote(name)
		f.names = append(f.names, name)
	}
	sort.Strings(f.names)
	fieldCache.Store(t, f)
	return f
}

// Suggest returns the known name closest to name, if it is close enough
// to be a likely typo (or differs only in case), or "". It is the "did you
// mean" of every message about a mistyped name, the planner's included.
func Suggest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
