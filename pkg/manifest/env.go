package manifest

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/invopop/jsonschema"
	"gopkg.in/yaml.v3"
)

// A script's env: variables psync writes as export lines at the top of the
// body it pushes, after the shebang, so the script reads them as plain
// shell variables (no template syntax to collide with bash's ${...}). A
// plain value is part of the reviewed body; a {fromEnv: VAR} value is a
// secret taken from psync's own environment (a CI secret) when it plans or
// applies, and is never printed, diffed or stored: diffs, the state and
// saved plans show "export NAME=<secret from $VAR>" in its place.

// DocEnv is a script's env block, in the order written (the export lines
// keep it).
type DocEnv []DocEnvVar

// DocEnvVar is one variable: a plain value, or a secret from the
// environment.
type DocEnvVar struct {
	located

	Name string
	// Value is the plain value; nil for a secret.
	Value *string
	// Secret is set for a {fromEnv: VAR} value.
	Secret *DocEnvSecret
}

// DocEnvSecret is a variable's value taken from psync's environment.
type DocEnvSecret struct {
	located `yaml:"-"`

	FromEnv    string `yaml:"fromEnv" jsonschema:"required" jsonschema_description:"The variable of psync's environment (e.g. a CI secret) that holds the value. The value is a secret: never printed, diffed or stored."`
	AllowEmpty bool   `yaml:"allowEmpty,omitempty" jsonschema:"default=false" jsonschema_description:"Push an empty value instead of refusing it."`
}

// envNamePattern is what a shell variable's name looks like.
const envNamePattern = `^[A-Za-z_][A-Za-z0-9_]*$`

var envNameRe = regexp.MustCompile(envNamePattern)

// ownCredentials are the variables psync itself reads secrets from: a
// manifest (a pull request) must not be able to push them to machines,
// where anyone who can read the team's startup scripts has them.
var ownCredentials = []string{"PAPERSPACE_API_KEY", "PSYNC_FINGERPRINT_KEY"}

// s3Credentials are the secrets of the AWS SDK's environment, which psync
// reads for an S3 state: in CI they are the state bucket's (or a deploy
// role's) credentials. Machines that need AWS credentials of their own get
// them under another name.
var s3Credentials = []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

// JSONSchema describes env: a mapping of shell variable names to a plain
// scalar or {fromEnv, allowEmpty}.
func (DocEnv) JSONSchema() *jsonschema.Schema {
	secret := &jsonschema.Schema{
		Type:                 "object",
		Properties:           jsonschema.NewProperties(),
		Required:             []string{"fromEnv"},
		AdditionalProperties: jsonschema.FalseSchema,
		Description:          "A secret taken from psync's environment when it plans or applies: never printed, diffed or stored.",
	}
	secret.Properties.Set("fromEnv", &jsonschema.Schema{Type: "string", Pattern: envNamePattern,
		Description: "The variable of psync's environment (e.g. a CI secret) that holds the value."})
	secret.Properties.Set("allowEmpty", &jsonschema.Schema{Type: "boolean", Default: false,
		Description: "Push an empty value instead of refusing it."})
	return &jsonschema.Schema{
		Type:          "object",
		Description:   "Variables written as export lines at the top of the pushed body, after the shebang: a plain value (shown in diffs) or {fromEnv: VAR}, a secret from psync's environment.",
		PropertyNames: &jsonschema.Schema{Pattern: envNamePattern},
		AdditionalProperties: &jsonschema.Schema{OneOf: []*jsonschema.Schema{
			{Type: "string"}, {Type: "number"}, {Type: "boolean"}, secret,
		}},
	}
}

// MarshalYAML writes env back as a mapping, in order.
func (e DocEnv) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, v := range e {
		var val yaml.Node
		var err error
		if v.Secret != nil {
			err = val.Encode(v.Secret)
		} else {
			err = val.Encode(v.Value)
		}
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: v.Name}, &val)
	}
	return n, nil
}

// decodeEnv decodes an env mapping into v (a DocEnv).
func (d *decoder) decodeEnv(n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "env must be a mapping of variable names to values, not %s", kindName(n))
		return
	}
	var out DocEnv
	seen := map[string]int{}
	for _, kv := range d.pairs(n, 0) {
		k := d.resolve(kv.key)
		if k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "env keys must be variable names, not %s", kindName(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.errorf(k, "variable %s is set twice in env (first at line %d)", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		val := d.resolve(kv.value)
		if val == nil {
			return
		}
		ev := DocEnvVar{Name: k.Value}
		ev.pos = positions{at: d.pos(k), fields: []fieldPos{{name: "value", key: d.pos(k), value: d.pos(val)}}}
		switch {
		case isNull(val):
			d.errorf(val, "variable %s needs a value: a string, or {fromEnv: VAR} for a secret from psync's environment", k.Value)
			continue
		case val.Kind == yaml.ScalarNode:
			s := val.Value
			ev.Value = &s
		case val.Kind == yaml.MappingNode:
			sec := &DocEnvSecret{}
			before := len(d.diags.list)
			d.decode(val, reflect.ValueOf(sec).Elem(), "an env secret")
			if len(d.diags.list) != before {
				continue
			}
			ev.Secret = sec
		default:
			d.errorf(val, "variable %s must be a string or {fromEnv: VAR}, not %s", k.Value, kindName(val))
			continue
		}
		out = append(out, ev)
	}
	v.Set(reflect.ValueOf(out))
}

// EnvVar is one variable of a script's env, as the loader checked it.
type EnvVar struct {
	Name string
	// Value is a plain variable's value.
	Value string
	// FromEnv names the variable of psync's environment a secret comes
	// from; empty for a plain variable.
	FromEnv    string
	AllowEmpty bool
	// Pos is where the variable is declared.
	Pos Position

	// Set by ResolveEnv for a secret: its value, or why there is none.
	// The value is behind a pointer: where fmt prints an EnvVar by
	// reflection (reached through a caller's unexported field, where
	// neither Format nor Secret's String is called), it shows an address.
	secret  *Secret
	missing string
}

// IsSecret reports whether the value comes from the environment.
func (v EnvVar) IsSecret() bool { return v.FromEnv != "" }

// value is the secret's value ("" while unresolved).
func (v EnvVar) value() Secret {
	if v.secret == nil {
		return ""
	}
	return *v.secret
}

// Format prints the variable with its secret hidden. fmt prints an
// unexported field by reflection, without calling its methods, so the
// Secret's own placeholder would not apply where the value is kept: a
// %v of a variable, a Script or a Manifest would show it.
func (v EnvVar) Format(f fmt.State, verb rune) {
	type envVar struct {
		Name, Value, FromEnv string
		AllowEmpty           bool
		Pos                  Position
		Secret               Secret
		Missing              string
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), envVar{v.Name, v.Value, v.FromEnv, v.AllowEmpty, v.Pos, v.value(), v.missing})
}

// Secret is a secret value. It prints as a placeholder, so a value that
// reaches a format verb, a log or a JSON encoder by mistake does not leak.
type Secret string

// String hides the value.
func (Secret) String() string { return "[secret]" }

// GoString hides the value.
func (Secret) GoString() string { return "[secret]" }

// MarshalText hides the value.
func (Secret) MarshalText() ([]byte, error) { return []byte("[secret]"), nil }

// Reveal is the value, for the body psync pushes and for fingerprints.
func (s Secret) Reveal() string { return string(s) }

// env checks a script's decoded env block and returns its variables.
func (b *builder) env(s *DocScript) []EnvVar {
	var out []EnvVar
	for _, v := range s.Env {
		at := v.Pos()
		switch {
		case !envNameRe.MatchString(v.Name):
			b.errorf(at, "%q is not a shell variable name (letters, digits and _, not starting with a digit)", v.Name)
			continue
		case v.Secret != nil:
			sec := v.Secret
			from := sec.value("fromEnv")
			switch {
			case !sec.has("fromEnv") || sec.FromEnv == "":
				b.errorf(sec.Pos(), "variable %s: fromEnv needs the name of a variable of psync's environment", v.Name)
				continue
			case !envNameRe.MatchString(sec.FromEnv):
				b.errorf(from, "variable %s: fromEnv %q is not an environment variable name", v.Name, sec.FromEnv)
				continue
			}
			for _, own := range ownCredentials {
				if strings.EqualFold(sec.FromEnv, own) {
					b.errorf(from, "variable %s: $%s is psync's own credential; it is never pushed to machines", v.Name, sec.FromEnv)
				}
			}
			for _, own := range s3Credentials {
				if strings.EqualFold(sec.FromEnv, own) {
					b.errorf(from, "variable %s: $%s is psync's own credential (the S3 state's); it is never pushed to machines: pass the value under another name if machines are to have it", v.Name, sec.FromEnv)
				}
			}
			out = append(out, EnvVar{Name: v.Name, FromEnv: sec.FromEnv, AllowEmpty: sec.AllowEmpty, Pos: at})
		default:
			if strings.ContainsRune(*v.Value, 0) {
				b.errorf(v.value("value"), "variable %s: a shell variable cannot hold a NUL byte", v.Name)
				continue
			}
			out = append(out, EnvVar{Name: v.Name, Value: *v.Value, Pos: at})
		}
	}
	return out
}

// LookupEnv reads psync's environment: os.LookupEnv in the CLI, a map in
// tests. The manifest never reads the environment by itself.
type LookupEnv func(name string) (string, bool)

// ResolveEnv reads every secret variable's value through lookup. A
// variable that is not set, or is empty without allowEmpty, stays
// unresolved: Script.Unresolved says why, and planning decides whether
// that is an error (it is when the body would be pushed). The error is for
// what no environment can mend: a body too large for the API once its
// variables are written, or a value holding a NUL byte.
func (m *Manifest) ResolveEnv(lookup LookupEnv) error {
	var errs []error
	for i := range m.Scripts {
		s := &m.Scripts[i]
		for j := range s.Env {
			v := &s.Env[j]
			if !v.IsSecret() {
				continue
			}
			v.secret, v.missing = nil, ""
			val, ok := lookup(v.FromEnv)
			switch {
			case !ok:
				v.missing = fmt.Sprintf("$%s is not set (the secret comes from psync's environment: set it, e.g. from a CI secret)", v.FromEnv)
			case val == "" && !v.AllowEmpty:
				v.missing = fmt.Sprintf("$%s is empty (set allowEmpty: true to push an empty value)", v.FromEnv)
			case strings.ContainsRune(val, 0):
				errs = append(errs, fmt.Errorf("%s: script %q: variable %s: $%s holds a NUL byte, which a shell variable cannot", v.Pos, s.Name, v.Name, v.FromEnv))
			default:
				sec := Secret(val)
				v.secret = &sec
			}
		}
		if body, ok := s.PushBody(); ok && len(body) > MaxBodyBytes {
			// Not the size: with a secret in the body, it tells the
			// secret's length.
			errs = append(errs, fmt.Errorf("%s: script %q is over %d bytes (256 KiB) with its env variables, more than psync takes", s.Pos, s.Name, MaxBodyBytes))
		}
	}
	return errors.Join(errs...)
}

// HasSecrets reports whether the script has a fromEnv variable.
func (s *Script) HasSecrets() bool {
	for _, v := range s.Env {
		if v.IsSecret() {
			return true
		}
	}
	return false
}

// Keyed reports whether the body holds a secret (a fromEnv variable, or
// the whole body when sensitive): its fingerprint must then be keyed, as
// a bare hash of a short secret gives it back.
func (s *Script) Keyed() bool { return s.Sensitive || s.HasSecrets() }

// Unresolved lists the secret variables ResolveEnv found no value for,
// each at its manifest position, naming the script and the variable.
func (s *Script) Unresolved() []Diagnostic {
	var out []Diagnostic
	for _, v := range s.Env {
		if v.missing != "" {
			out = append(out, Diagnostic{Pos: v.Pos, Message: fmt.Sprintf("script %q: variable %s: %s", s.Name, v.Name, v.missing)})
		}
	}
	return out
}

// Secrets returns the resolved secret values by variable name (nil when
// the script has none).
func (s *Script) Secrets() map[string]Secret {
	var out map[string]Secret
	for _, v := range s.Env {
		if v.IsSecret() && v.missing == "" {
			if out == nil {
				out = map[string]Secret{}
			}
			out[v.Name] = v.value()
		}
	}
	return out
}

// DisplayBody is the body as reviewers see it: the export lines with each
// secret shown as "<secret from $VAR>", then the body. It holds no secret
// (for a sensitive script the body itself is one, and is never shown).
// Without env it is Body.
func (s *Script) DisplayBody() string {
	return s.withExports(func(v EnvVar) string { return "<secret from $" + v.FromEnv + ">" })
}

// PushBody is the body psync pushes: the export lines with every value,
// then the body. ok is false while a secret is unresolved.
func (s *Script) PushBody() (body string, ok bool) {
	for _, v := range s.Env {
		if v.IsSecret() && (v.missing != "" || v.value() == "" && !v.AllowEmpty) {
			return "", false
		}
	}
	return s.withExports(func(v EnvVar) string { return ShellQuote(v.value().Reveal()) }), true
}

// withExports writes the export lines after the shebang (or at the top
// when there is none), each secret's value given by secret.
func (s *Script) withExports(secret func(EnvVar) string) string {
	if len(s.Env) == 0 {
		return s.Body
	}
	var b strings.Builder
	rest := s.Body
	if strings.HasPrefix(rest, "#!") {
		line, after, found := strings.Cut(rest, "\n")
		b.WriteString(line)
		b.WriteByte('\n')
		rest = after
		if !found {
			rest = ""
		}
	}
	for _, v := range s.Env {
		b.WriteString("export ")
		b.WriteString(v.Name)
		b.WriteByte('=')
		if v.IsSecret() {
			b.WriteString(secret(v))
		} else {
			b.WriteString(ShellQuote(v.Value))
		}
		b.WriteByte('\n')
	}
	b.WriteString(rest)
	return b.String()
}

// ShellQuote quotes s for a POSIX shell so that it reads back byte for
// byte: bare when it is made only of characters no shell treats
// specially, else in single quotes, with each ' written as '\”.
// Nothing is special inside single quotes ($, \, `, newlines), so this is
// exact for every string without a NUL byte.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:@%+=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
