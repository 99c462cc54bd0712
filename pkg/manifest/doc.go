// Package manifest loads psync manifests (psync.yaml): the desired startup
// scripts, custom templates and script assignments of one Paperspace team.
//
// Load reads a file or a directory of YAML files, decodes them strictly
// (unknown fields are errors), applies defaults, resolves script bodies and
// validates everything, reporting every problem at once as a *Errors whose
// entries carry file:line:column. The YAML document types (Document,
// DocScript, ...) are the manifest's schema: Schema generates the JSON
// Schema from them, so editors and the loader never disagree. The resolved
// Manifest (model.go) is what the planner consumes.
//
// Rules beyond the schema, decided here:
//   - Every file (and every YAML document in a file) states "version: 1".
//     A directory merges its *.yaml and *.yml files in name order; hidden
//     files and subdirectories are skipped. settings may be set once.
//   - Top-level keys starting with "x-" are ignored (a home for YAML
//     anchors, as in Docker Compose); anchors, aliases and merge keys work.
//   - Assignment entries naming the same script are merged; a machine
//     listed twice for one script is an error.
//   - A script file must resolve, symlinks included, to a regular UTF-8
//     file of at most MaxBodyBytes inside the manifest's directory tree and
//     outside any .git directory (CI keeps tokens in .git/config).
//   - Machine ids match ^[a-z0-9][a-z0-9-]{1,63}$ (psbox001, ps1a2b3c4).
//   - Names are 1 to 255 characters, without control characters or
//     surrounding spaces; previousNames must not collide with any other
//     name or previous name of the same kind; no managed name or previous
//     name may match an ignore pattern (path.Match syntax).
//   - A script's env (DocEnv, in the order written) becomes export lines
//     after the shebang of the body psync pushes; a {fromEnv: VAR} value is
//     a secret. The package never reads the environment by itself:
//     ResolveEnv takes a lookup function (os.LookupEnv in the CLI, a map in
//     tests). DisplayBody shows each secret as "<secret from $VAR>";
//     PushBody holds the values, each shell-quoted so bash reads it back
//     byte for byte.
//
// The package never talks to the network. CheckShell runs `bash -n` on shell
// scripts as an extra, optional check used by `psync validate`.
package manifest
