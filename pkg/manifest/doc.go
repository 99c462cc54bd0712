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
// The package never talks to the network. CheckShell runs `bash -n` on shell
// scripts as an extra, optional check used by `psync validate`.
package manifest
