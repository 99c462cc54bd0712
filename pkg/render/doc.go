// Package render shows plans and apply reports: text for people, JSON for
// programs and Markdown for pull-request comments. It only presents what a
// [plan.Plan] or an [apply.Report] says and decides nothing: whether a plan
// is refused, what an unmanaged object becomes, which changes depend on
// which, all come from the planner and the applier.
//
// Each format is one implementation of one internal interface; [Symbol] is
// the only place an action becomes a symbol; colour is added by the text
// view alone and only when [Options].Color is set (decide it with
// [UseColor]). Nothing here ever prints the body of a sensitive script, in
// any format, even when the plan holds it in memory: a script that is
// sensitive on either side of a change is treated as sensitive.
//
// # Text
//
// Terraform-like: one header per change with its symbol ("+" create, "<="
// adopt, "~" update, "-/+" replace, "-" delete, "+"/"-" assign/unassign),
// its reasons as "#" lines, the attributes that change
// ("~ isEnabled: true → false"), and for a script body a unified diff (3
// lines of context, "@@ -a,b +c,d @@" hunks) when the old body is known and
// not sensitive. Assignments are grouped by script. Then the unmanaged
// objects, what each selector matched, warnings and notes, the one-line
// summary and the safety findings. Text read from the
// remote or the manifest has its control characters escaped.
//
// # JSON plan (psync plan --output json)
//
// One object, [JSONPlan], indented, with a trailing newline. Its
// formatVersion is [PlanFormatVersion]; a change of a field's meaning
// increases it, new fields may be added without one. Every field below is
// always present: every array (possibly empty, never null), every count in
// summary (0 included), every string ("" when there is none), and before
// and after (null when there is no such side). schema/plan.schema.json is
// this contract as a JSON Schema (draft 2020-12), generated from the types.
//
//	formatVersion    int     version of this format (2; 1 listed a template's
//	                         source machine in affectedMachines)
//	apiUrl           string  API the plan was computed against
//	team             string  team id, when the API told it ("" if unknown)
//	stateLineage     string  lineage of the state file planned against ("" if none)
//	stateSerial      int     serial of that state file (0 if none)
//	empty            bool    true when there are no changes
//	refused          bool    true when a safety finding is not overridden:
//	                         psync apply will refuse the plan (exit 3)
//	leftOut          int     changes --target left out of the plan (0 without
//	                         --target): an empty targeted plan is not a team
//	                         that matches the manifest
//	summary          object  counts by action: create, adopt, update, replace,
//	                         delete, assign, unassign, forget, and their total
//	changes          array   every change, in dependency order:
//	  key              string  unique in the plan: "script/NAME", "template/NAME",
//	                           "assignment/SCRIPT/MACHINE"
//	  kind             string  "script", "template" or "assignment"
//	  action           string  "create", "adopt", "update", "replace", "delete",
//	                           "assign", "unassign" or "forget" (an owned object
//	                           deleted outside psync, or now ignored, leaves the
//	                           state; no API call)
//	  name             string  object name after the change (current name for a
//	                           delete; the script's name for an assignment)
//	  id               string  remote id acted on ("" for a create, and for an
//	                           assignment of a script created by the same plan)
//	  machine          string  machine of an assign or unassign ("" otherwise)
//	  reasons          array   why, in words ("body changed", "isEnabled true → false",
//	                           "new in manifest", "added outside psync (reverts a
//	                           change made outside psync)")
//	  before, after    object  the object as it is and as it will be (null for
//	                           a create and a delete respectively, and for
//	                           assignments): name, runOnce, isEnabled, sensitive,
//	                           body, bodySha256, preventDestroy for scripts; name,
//	                           machineId, note, preventDestroy for templates
//	                           (false and "" are omitted inside them). body is
//	                           omitted when unknown and always for a script
//	                           sensitive on either side; with fromEnv variables
//	                           it shows "export NAME=<secret from $VAR>" for
//	                           each secret. A body holding a secret has,
//	                           instead of bodySha256, bodyHmac (its keyed
//	                           fingerprint), fingerprintKey (the key's id) and
//	                           secrets (the keyed fingerprints of its values,
//	                           by variable).
//	  protected        bool    the object has preventDestroy
//	  affectedMachines array   machines a script delete stops configuring, where
//	                           known (never a template's: deleting or replacing a
//	                           template touches no machine)
//	  dependsOn        array   keys of the changes that must be done first
//	unmanaged        array   remote objects psync neither owns nor is asked for:
//	  kind, name, id   string
//	  ignored          bool    matched by the manifest's ignore
//	  fate             string  "kept", "ignored" or "deleted by prune" (a delete of
//	                           it is in changes)
//	drift            array   every attribute of an owned object changed outside
//	                         psync since the last apply, whatever the plan does:
//	  key              string  the key of the object's change (or KIND/NAME of its
//	                           name now, when the plan has no change for it)
//	  kind, id, name   string  the object, by its name now
//	  attribute        string  "name", "runOnce", "isEnabled", "machines" (where
//	                           the API exposes assignments), "machineId" or "note"
//	  lastApplied      string  what psync last applied (the state): a name, "true"
//	                           or "false", or machine ids joined by ", "
//	  remote           string  what the API shows now, likewise
//	  resolution       string  what apply does: "revert" (the manifest wants
//	                           another value), "keep" (the manifest agrees; only
//	                           the state learns it), "delete" (the object left the
//	                           manifest) or "forget" (it is now ignored)
//	bodiesUnreadable bool    the API returns no script bodies, so a body edited
//	                         outside psync is not detected (apply --replace
//	                         script/NAME pushes one again)
//	refresh          array   owned objects changed outside psync that no change
//	                         covers, whose new state apply records (only in the
//	                         state):
//	  kind, id, name   string
//	  runOnce, isEnabled bool  a script's flags as the API shows them
//	  assignments      array   its machines, when assignmentsKnown
//	  assignmentsKnown bool
//	  machineId, note  string  a template's (note when noteKnown)
//	  noteKnown        bool
//	findings         array   safety rules the plan breaks:
//	  rule             string  "prevent-destroy", "max-delete-percent",
//	                           "all-owned-gone" or "selector-matches-none"
//	  keys             array   the changes that break it
//	  message          string  what is wrong, in words
//	  override         string  the flag that allows it ("--allow-destroy",
//	                           "--allow-mass-delete")
//	  overridden       bool    that flag was given
//	selections       array   what the assignments' selectors matched, by script:
//	  script           string  the script's name
//	  scriptId         string  its id (omitted when the plan creates it)
//	  selectors        array   in manifest order:
//	    selector         string  canonical text, e.g. "machineType=A100,region=ny2"
//	    machines         array   the machines it matched: id, name
//	warnings         array   about the manifest against the team, in words (a
//	                         machine in a state where an assignment makes no sense)
//	notes            array   what the plan could not check, in words (machine ids,
//	                         on an API that cannot list machines)
//
// The rule "selector-matches-none" of findings is a selector that matched
// machines at the last apply and matches none now.
//
// # JSON errors (plan, apply and show with --output json, on failure)
//
// When the command fails before it has a plan or a report to show, it
// still prints one JSON object, [JSONErrors], and exits with the same code
// as in text (1, or 3 when refused):
//
//	formatVersion  int     the version of the document it replaces
//	errors         array   one per problem:
//	  message        string  always
//	  file, line, column     a manifest problem (line and column from 1)
//	  operation, object, status  an API failure (status 0: no response)
//
// Fields that do not apply are omitted from an error.
//
// # JSON validation (psync validate --output json)
//
// [JSONValidation]: {"formatVersion": 1, "valid": bool, "errors": [...]}
// with errors as above (file, line, column, message); valid is false
// exactly when errors is not empty, and the exit code is then 1.
//
// This is a view for programs. A saved plan (psync plan --out FILE) is a
// different document: the plan itself, preconditions included.
//
// # JSON apply report (psync apply --output json)
//
// One object, [JSONReport], with formatVersion [ReportFormatVersion]. As
// in the plan, every field is always present ("" and 0 when they do not
// apply):
//
//	formatVersion  int     version of this format (1)
//	dryRun         bool    nothing was written; results are the schedule
//	interrupted    bool    the apply was stopped (Ctrl-C) before the end
//	ok             bool    every change is done
//	parallelism    int     the most changes run at once
//	elapsedMs      int     wall time of the apply, in milliseconds
//	totals         object  done, failed, skipped, pending and total counts
//	results        array   one per change, in plan order:
//	  key, kind, action, name, id, machine   as in the plan's changes
//	  status         string  "done", "failed", "skipped" or "pending" (never
//	                         started: the apply was interrupted)
//	  error          string  for "failed": operation, object, HTTP status and
//	                         the API's message ("" otherwise)
//	  skippedBecause string  for "skipped": key of the failed change it needed
//	  step           int     the order it started in, from 1 (0 if it never
//	                         ran); in a dry run, the schedule
//	  startedMs      int     start, in milliseconds from the start of the apply
//	  durationMs     int     how long it took, in milliseconds
//
// # Markdown
//
// A pull-request comment that starts with the hidden marker
// [MarkdownPlanMarker] (or [MarkdownReportMarker]) so that a CI workflow
// can find and update its own comment. The summary comes first (with a
// ⚠️ line when the plan is refused), then the findings, a table of changes
// and the body diffs, each in a collapsible <details> block with a diff
// fence, then the unmanaged objects. A "Changed outside psync" table (at
// most 20 rows) and the note that bodies cannot be read back come before
// the table of changes. Names and reasons are escaped so that no Markdown
// or HTML in them takes effect, nor a URL in them becomes a link (a test
// renders every scenario with goldmark's GFM extensions and checks the
// structure). The comment is kept under [Options].MaxMarkdownBytes
// (default [DefaultMaxMarkdownBytes]): body diffs are left out first, then
// unmanaged objects, then table rows, and a note says how much is missing
// and to run psync plan locally.
//
// # GitHub annotations (--output github)
//
// [Annotation] is one GitHub Actions workflow command (::error,
// ::warning) placed at a file, line and column; [DiagnosticAnnotations],
// [FindingAnnotations] and [ReportAnnotations] make them for manifest
// problems, safety findings (at the manifest line of the object, through a
// [Locator]) and failed changes. Messages and properties are escaped as
// GitHub's toolkit escapes them, so no text can end a command or start
// another.
//
// # Schemas
//
// [Schemas] reflects the JSON documents' types into the JSON Schemas kept
// in schema/ (plan.schema.json, apply.schema.json, validate.schema.json).
package render
