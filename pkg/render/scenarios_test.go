package render

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
)

// The scenarios are literal plans, as the planner would produce them, so
// that these views are tested on their own.

const (
	apiURL = "https://api.paperspace.com/v1"
	team   = "te1a2b3c"
	// secret is in every sensitive body; no output may contain it.
	secret = "s3cr3t-Tok3n-DO-NOT-PRINT"
)

func ptr[T any](v T) *T { return &v }

func script(name, body string, runOnce, enabled bool) *plan.Attributes {
	return &plan.Attributes{Name: name, RunOnce: ptr(runOnce), IsEnabled: ptr(enabled), Body: ptr(body), BodySHA256: sha(body)}
}

func sha(body string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(body))) }

func assign(script, machine string, deps ...string) plan.Change {
	return plan.Change{
		Key: "assignment/" + script + "/" + machine, Kind: plan.KindAssignment, Action: plan.Assign,
		Name: script, Machine: machine, Reasons: []string{"not assigned"}, DependsOn: deps,
	}
}

func unassign(script, id, machine string) plan.Change {
	return plan.Change{
		Key: "assignment/" + script + "/" + machine, Kind: plan.KindAssignment, Action: plan.Unassign,
		Name: script, ID: id, Machine: machine, Reasons: []string{"not in the manifest"},
		Precondition: plan.Precondition{Exists: true},
	}
}

const cudaBody = `#!/bin/bash
set -euo pipefail
apt-get update
apt-get install -y cuda-toolkit-12-4
echo "cuda ready" > /var/log/cuda-ready
`

var setupOld = `#!/bin/bash
set -e
export PATH=/opt/conda/bin:$PATH
conda activate base
pip install -U pip
pip install torch==2.2.0
pip install numpy
pip install pandas
pip install scikit-learn
pip install matplotlib
pip install jupyterlab
jupyter lab --no-browser &
echo done
`

var setupNew = strings.NewReplacer(
	"torch==2.2.0", "torch==2.4.1",
	"echo done\n", "echo done\necho \"ready at $(date)\" >> /var/log/setup.log\n",
).Replace(setupOld)

func emptyPlan() *plan.Plan {
	return &plan.Plan{FormatVersion: plan.FormatVersion, APIURL: apiURL, Team: team, StateLineage: "b6f1", StateSerial: 7}
}

func createsPlan() *plan.Plan {
	p := emptyPlan()
	p.Changes = []plan.Change{
		{Key: "script/install-cuda", Kind: plan.KindScript, Action: plan.Create, Name: "install-cuda",
			Reasons: []string{"not on the remote"}, After: script("install-cuda", cudaBody, true, true)},
		{Key: "template/base-image", Kind: plan.KindTemplate, Action: plan.Create, Name: "base-image",
			Reasons: []string{"not on the remote"}, After: &plan.Attributes{Name: "base-image", MachineID: "psbox001", Note: "CUDA 12.4 image"}},
		assign("install-cuda", "psbox001", "script/install-cuda"),
		assign("install-cuda", "psbox002", "script/install-cuda"),
	}
	return p
}

func updatesPlan() *plan.Plan {
	p := emptyPlan()
	p.Changes = []plan.Change{
		{Key: "script/setup-env", Kind: plan.KindScript, Action: plan.Update, Name: "setup-env", ID: "scr_1001",
			Reasons:      []string{"body changed", "isEnabled true → false"},
			Before:       script("setup-env", setupOld, false, true),
			After:        script("setup-env", setupNew, false, false),
			Precondition: plan.Precondition{Exists: true, Fingerprint: "fp1"}},
		{Key: "script/motd", Kind: plan.KindScript, Action: plan.Update, Name: "motd", ID: "scr_1002",
			Reasons:      []string{"renamed from banner", "content not verifiable"},
			Before:       &plan.Attributes{Name: "banner", RunOnce: ptr(true), IsEnabled: ptr(true)},
			After:        script("motd", "echo 'Welcome'\necho \"$(hostname)\"\n", true, true),
			Precondition: plan.Precondition{Exists: true, Fingerprint: "fp2"}},
		// A body with an escape sequence, a CRLF line and no final newline:
		// shown inert and exact.
		{Key: "script/colours", Kind: plan.KindScript, Action: plan.Update, Name: "colours", ID: "scr_1003",
			Reasons:      []string{"body changed"},
			Before:       script("colours", "printf '\x1b[31mred\x1b[0m'\r\necho one\necho two", false, true),
			After:        script("colours", "printf '\x1b[32mgreen\x1b[0m'\r\necho one\necho two\n", false, true),
			Precondition: plan.Precondition{Exists: true, Fingerprint: "fp3"}},
		{Key: "template/base-image", Kind: plan.KindTemplate, Action: plan.Update, Name: "base-image", ID: "tpl_77",
			Reasons:      []string{"note changed"},
			Before:       &plan.Attributes{Name: "base-image", MachineID: "psbox001", Note: "CUDA 12.2"},
			After:        &plan.Attributes{Name: "base-image", MachineID: "psbox001", Note: "CUDA 12.4"},
			Precondition: plan.Precondition{Exists: true, Fingerprint: "fp4"}},
	}
	// Disabled in the console: the state records it, the team keeps it.
	p.Refresh = []plan.Refresh{{Kind: plan.KindScript, ID: "scr_1009", Name: "cleanup", RunOnce: true}}
	p.Drift = []plan.Drift{{Key: "script/cleanup", Kind: plan.KindScript, ID: "scr_1009", Name: "cleanup",
		Attribute: "isEnabled", LastApplied: "true", Remote: "false", Resolution: plan.ResolutionKeep}}
	return p
}

// driftPlan is a console change seen three ways: a script renamed,
// disabled and assigned to one more machine in the console (the manifest
// still wants it as it was: reverted), and a template note edited in the
// console that the manifest now agrees with (kept).
func driftPlan() *plan.Plan {
	p := emptyPlan()
	const revert = " (reverts a change made outside psync)"
	p.Changes = []plan.Change{
		{Key: "script/install-nvidia", Kind: plan.KindScript, Action: plan.Update, Name: "install-nvidia", ID: "scr_5001",
			Reasons: []string{"name install-drivers → install-nvidia" + revert, "isEnabled false → true" + revert},
			Before:  &plan.Attributes{Name: "install-drivers", RunOnce: ptr(false), IsEnabled: ptr(false), BodySHA256: sha(cudaBody), Body: ptr(cudaBody)},
			After:   script("install-nvidia", cudaBody, false, true), Precondition: plan.Precondition{Exists: true, Fingerprint: "fp5"}},
		{Key: "assignment/install-nvidia/psbox009", Kind: plan.KindAssignment, Action: plan.Unassign, Name: "install-nvidia", ID: "scr_5001",
			Machine: "psbox009", Reasons: []string{"added outside psync" + revert}, Precondition: plan.Precondition{Exists: true, Fingerprint: "fp5"}},
	}
	p.Drift = []plan.Drift{
		{Key: "script/install-nvidia", Kind: plan.KindScript, ID: "scr_5001", Name: "install-drivers", Attribute: "name",
			LastApplied: "install-nvidia", Remote: "install-drivers", Resolution: plan.ResolutionRevert},
		{Key: "script/install-nvidia", Kind: plan.KindScript, ID: "scr_5001", Name: "install-drivers", Attribute: "isEnabled",
			LastApplied: "true", Remote: "false", Resolution: plan.ResolutionRevert},
		{Key: "script/install-nvidia", Kind: plan.KindScript, ID: "scr_5001", Name: "install-drivers", Attribute: "machines",
			LastApplied: "psbox001", Remote: "psbox001, psbox009", Resolution: plan.ResolutionRevert},
		{Key: "template/base-image", Kind: plan.KindTemplate, ID: "tpl_77", Name: "base-image", Attribute: "note",
			LastApplied: "", Remote: "CUDA 12.4", Resolution: plan.ResolutionKeep},
	}
	p.Refresh = []plan.Refresh{{Kind: plan.KindTemplate, ID: "tpl_77", Name: "base-image", MachineID: "psbox001", Note: "CUDA 12.4", NoteKnown: true}}
	p.BodiesUnreadable = true
	return p
}

func sensitiveBody(v string) string {
	return "#!/bin/sh\nexport API_TOKEN=" + secret + "\n" + "curl -H \"Authorization: $API_TOKEN\" https://example.com/" + v + "\n"
}

func sensitivePlan() *plan.Plan {
	p := emptyPlan()
	sens := func(name, body string) *plan.Attributes {
		a := script(name, body, false, true)
		a.Sensitive = true
		return a
	}
	unknown := sens("rotate-keys", "")
	unknown.Body, unknown.BodySHA256 = nil, ""
	becoming := script("was-public", sensitiveBody("old"), false, true)
	p.Changes = []plan.Change{
		{Key: "script/db-password", Kind: plan.KindScript, Action: plan.Create, Name: "db-password",
			Reasons: []string{"not on the remote"}, After: sens("db-password", sensitiveBody("create"))},
		// The planner keeps the body in memory for the applier.
		{Key: "script/api-token", Kind: plan.KindScript, Action: plan.Update, Name: "api-token", ID: "scr_2001",
			Reasons: []string{"body changed"},
			Before:  sens("api-token", sensitiveBody("v1")), After: sens("api-token", sensitiveBody("v2")),
			Precondition: plan.Precondition{Exists: true}},
		{Key: "script/rotate-keys", Kind: plan.KindScript, Action: plan.Update, Name: "rotate-keys", ID: "scr_2002",
			Reasons: []string{"content not verifiable"},
			Before:  unknown, After: sens("rotate-keys", sensitiveBody("rotate")),
			Precondition: plan.Precondition{Exists: true}},
		{Key: "script/was-public", Kind: plan.KindScript, Action: plan.Update, Name: "was-public", ID: "scr_2003",
			Reasons: []string{"body changed", "sensitive false → true"},
			Before:  becoming, After: sens("was-public", sensitiveBody("new")),
			Precondition: plan.Precondition{Exists: true}},
		{Key: "script/api-token-copy", Kind: plan.KindScript, Action: plan.Adopt, Name: "api-token-copy", ID: "scr_2004",
			Reasons:      []string{"exists on the remote: adopted by name", "content not verifiable"},
			Before:       &plan.Attributes{Name: "api-token-copy", RunOnce: ptr(false), IsEnabled: ptr(true)},
			After:        sens("api-token-copy", sensitiveBody("copy")),
			Precondition: plan.Precondition{Exists: true}},
	}
	return p
}

func refusedPlan() *plan.Plan {
	p := emptyPlan()
	p.Changes = []plan.Change{
		{Key: "template/base-image", Kind: plan.KindTemplate, Action: plan.Replace, Name: "base-image", ID: "tpl_77",
			Reasons:      []string{"machineId psbox001 → psbox002"},
			Before:       &plan.Attributes{Name: "base-image", MachineID: "psbox001", Note: "CUDA 12.4"},
			After:        &plan.Attributes{Name: "base-image", MachineID: "psbox002", Note: "CUDA 12.4"},
			Protected:    true,
			Precondition: plan.Precondition{Exists: true, Fingerprint: "fp9"}},
		{Key: "script/cleanup", Kind: plan.KindScript, Action: plan.Delete, Name: "cleanup", ID: "scr_3001",
			Reasons:      []string{"not in the manifest"},
			Before:       script("cleanup", "rm -rf /tmp/*\n", false, true),
			Protected:    false,
			Precondition: plan.Precondition{Exists: true}},
	}
	p.Findings = []plan.Finding{
		{Rule: plan.RulePreventDestroy, Keys: []string{"template/base-image"},
			Message: `template "base-image" has preventDestroy and would be replaced`, Override: "--allow-destroy"},
		{Rule: plan.RuleMaxDeletePercent, Keys: []string{"script/cleanup"},
			Message: "1 of 2 owned objects (50%) would be deleted, more than maxDeletePercent 25", Override: "--allow-mass-delete", Overridden: true},
	}
	return p
}

func prunePlan() *plan.Plan {
	p := emptyPlan()
	p.Changes = []plan.Change{
		unassign("old-script", "scr_4001", "psbox003"),
		unassign("old-script", "scr_4001", "psbox004"),
		{Key: "script/old-script", Kind: plan.KindScript, Action: plan.Delete, Name: "old-script", ID: "scr_4001",
			Reasons: []string{"not in the manifest"}, Before: script("old-script", "echo old\n", false, true),
			AffectedMachines: []string{"psbox003", "psbox004"},
			DependsOn:        []string{"assignment/old-script/psbox003", "assignment/old-script/psbox004"},
			Precondition:     plan.Precondition{Exists: true}},
		{Key: "script/legacy-tool", Kind: plan.KindScript, Action: plan.Delete, Name: "legacy-tool", ID: "scr_4002",
			Reasons:      []string{"unmanaged, pruned"},
			Before:       &plan.Attributes{Name: "legacy-tool", RunOnce: ptr(false), IsEnabled: ptr(false)},
			Precondition: plan.Precondition{Exists: true}},
		{Key: "template/stale", Kind: plan.KindTemplate, Action: plan.Delete, Name: "stale", ID: "tpl_88",
			Reasons: []string{"not in the manifest"}, Before: &plan.Attributes{Name: "stale", MachineID: "psbox005"},
			Precondition: plan.Precondition{Exists: true}},
	}
	p.Unmanaged = []plan.Unmanaged{
		{Kind: plan.KindScript, Name: "legacy-tool", ID: "scr_4002"},
		{Kind: plan.KindScript, Name: "manual-debug", ID: "scr_4003", Ignored: true},
		{Kind: plan.KindTemplate, Name: "someone-elses", ID: "tpl_89"},
	}
	return p
}

func assignPlan() *plan.Plan {
	p := emptyPlan()
	p.Changes = []plan.Change{
		unassign("install-cuda", "scr_5001", "psbox009"),
		assign("install-cuda", "psbox001"),
		assign("setup-env", "psbox002"),
		assign("install-cuda", "psbox002"),
		assign("install-cuda", "psbox003"),
		unassign("setup-env", "scr_5002", "psbox007"),
	}
	for i := range p.Changes {
		if p.Changes[i].Action == plan.Assign {
			p.Changes[i].ID = map[string]string{"install-cuda": "scr_5001", "setup-env": "scr_5002"}[p.Changes[i].Name]
		}
	}
	return p
}

func adoptPlan() *plan.Plan {
	p := emptyPlan()
	p.Changes = []plan.Change{
		{Key: "script/existing", Kind: plan.KindScript, Action: plan.Adopt, Name: "existing", ID: "scr_6001",
			Reasons:      []string{"exists on the remote: adopted by name", "content not verifiable", "runOnce true → false"},
			Before:       &plan.Attributes{Name: "existing", RunOnce: ptr(true), IsEnabled: ptr(true)},
			After:        script("existing", "echo hello\necho world\n", false, true),
			Precondition: plan.Precondition{Exists: true, Fingerprint: "fp6"}},
		{Key: "template/golden", Kind: plan.KindTemplate, Action: plan.Adopt, Name: "golden", ID: "tpl_90",
			Reasons:      []string{"exists on the remote: adopted by name"},
			Before:       &plan.Attributes{Name: "golden", MachineID: "psbox001"},
			After:        &plan.Attributes{Name: "golden", MachineID: "psbox001"},
			Precondition: plan.Precondition{Exists: true, Fingerprint: "fp7"}},
	}
	p.Unmanaged = []plan.Unmanaged{{Kind: plan.KindScript, Name: "scratch", ID: "scr_6002"}}
	return p
}

// selectPlan assigns by selector: machines that started and stopped
// matching, a selector that matches nothing any more (refused), a
// warning about a machine's state and a note.
func selectPlan() *plan.Plan {
	p := emptyPlan()
	a := assign("install-cuda", "psbox011")
	a.ID, a.Reasons = "scr_5001", []string{"matched by select name=train-*"}
	u := unassign("install-cuda", "scr_5001", "psbox002")
	u.Reasons = []string{"no longer matched by select name=train-*"}
	v := unassign("metrics", "scr_5003", "psbox007")
	v.Reasons = []string{"no longer matched by select region=ams1"}
	p.Changes = []plan.Change{a, u, v}
	p.Selections = []plan.ScriptSelection{
		{Script: "install-cuda", ScriptID: "scr_5001", Selectors: []plan.SelectorMatch{
			{Selector: "name=train-*", Machines: []plan.SelectedMachine{{ID: "psbox001", Name: "train-a100-1"}, {ID: "psbox011", Name: "train-a100-7"}}},
			{Selector: "machineType=A4000,region=ams1", Machines: []plan.SelectedMachine{{ID: "psbox008", Name: "infer-\x1b[31m2"}}},
		}},
		{Script: "metrics", ScriptID: "scr_5003", Selectors: []plan.SelectorMatch{{Selector: "region=ams1", Machines: []plan.SelectedMachine{}}}},
		{Script: "old", ScriptID: "scr_5004", Selectors: []plan.SelectorMatch{}, Record: true},
	}
	p.Warnings = []string{`psync.yaml:12:9: machine psbox011 (train-a100-7), which select name=train-* of script "install-cuda" matches, is in state "failed": assigning it may make no sense`}
	p.Notes = []string{"a note"}
	p.Findings = []plan.Finding{{Rule: plan.RuleSelectorMatchesNone, Keys: []string{"assignment/metrics/psbox007"},
		Message:  `psync.yaml:20:9: select region=ams1 of script "metrics" matched 1 machine at the last apply (psbox007) and matches none now: a typo, or a renamed fleet? Fix the selector, or allow it`,
		Override: "--allow-mass-delete"}}
	return p
}

// hugePlan has more body diffs and rows than fit in a comment.
func hugePlan(scripts, lines int) *plan.Plan {
	p := emptyPlan()
	for i := range scripts {
		name := fmt.Sprintf("job-%04d", i)
		var old, new strings.Builder
		for l := range lines {
			fmt.Fprintf(&old, "echo step %d of %s\n", l, name)
			if l%7 == 3 {
				fmt.Fprintf(&new, "echo step %d of %s (changed)\n", l, name)
			} else {
				fmt.Fprintf(&new, "echo step %d of %s\n", l, name)
			}
		}
		p.Changes = append(p.Changes, plan.Change{
			Key: "script/" + name, Kind: plan.KindScript, Action: plan.Update, Name: name, ID: fmt.Sprintf("scr_%d", 9000+i),
			Reasons: []string{"body changed"},
			Before:  script(name, old.String(), false, true), After: script(name, new.String(), false, true),
			Precondition: plan.Precondition{Exists: true},
		})
	}
	for i := range scripts {
		name := fmt.Sprintf("job-%04d", i)
		for m := range 3 {
			c := assign(name, fmt.Sprintf("psbox%03d", (i+m)%50+1))
			c.ID = fmt.Sprintf("scr_%d", 9000+i)
			p.Changes = append(p.Changes, c)
		}
	}
	for i := range scripts / 2 {
		p.Unmanaged = append(p.Unmanaged, plan.Unmanaged{Kind: plan.KindScript, Name: fmt.Sprintf("stray-%04d", i), ID: fmt.Sprintf("scr_%d", 20000+i)})
	}
	return p
}

// envPlan has scripts with env variables, as the planner makes them: the
// body shown (and saved) has "<secret from $VAR>" for each secret and the
// plain values in full; Push, the body pushed, holds the secret, and no
// view may show it.
func envPlan() *plan.Plan {
	p := emptyPlan()
	const join = "#!/bin/bash\nexport TS_AUTHKEY=<secret from $TAILSCALE_AUTHKEY>\nexport TS_HOSTNAME_PREFIX=train\nset -eu\ntailscale up --authkey \"$TS_AUTHKEY\" --hostname \"$TS_HOSTNAME_PREFIX-$(hostname)\"\n"
	keyed := func(name, display, hmac string, secrets map[string]string) *plan.Attributes {
		a := script(name, display, false, true)
		a.BodySHA256, a.BodyHMAC, a.FingerprintKey, a.Secrets = "", hmac, "5f1d2c3b4a596877", secrets
		a.Push = ptr(strings.ReplaceAll(display, "<secret from $TAILSCALE_AUTHKEY>", "'"+secret+"'"))
		return a
	}
	registry := func(region string) string {
		return "#!/bin/sh\nexport REGISTRY_PASSWORD=<secret from $REGISTRY_PASSWORD>\nexport REGION=" + region + "\ndocker login -u ml -p \"$REGISTRY_PASSWORD\" registry.$REGION.example.com\n"
	}
	p.Changes = []plan.Change{
		{Key: "script/join-tailnet", Kind: plan.KindScript, Action: plan.Create, Name: "join-tailnet",
			After: keyed("join-tailnet", join, "9a1f0c", map[string]string{"TS_AUTHKEY": "77e2"})},
		// The CI secret was rotated: the shown body is the same.
		{Key: "script/join-tailnet-eu", Kind: plan.KindScript, Action: plan.Update, Name: "join-tailnet-eu", ID: "scr_31",
			Reasons:      []string{"secret TS_AUTHKEY changed"},
			Before:       keyed("join-tailnet-eu", join, "0b7e11", map[string]string{"TS_AUTHKEY": "c3a9"}),
			After:        keyed("join-tailnet-eu", join, "4d2c90", map[string]string{"TS_AUTHKEY": "e81f"}),
			Precondition: plan.Precondition{Exists: true, Fingerprint: "fp31"}},
		// A plain variable changed: the diff shows it.
		{Key: "script/registry-login", Kind: plan.KindScript, Action: plan.Update, Name: "registry-login", ID: "scr_32",
			Reasons:      []string{"body changed"},
			Before:       keyed("registry-login", registry("eu"), "a1", map[string]string{"REGISTRY_PASSWORD": "b2"}),
			After:        keyed("registry-login", registry("us"), "c3", map[string]string{"REGISTRY_PASSWORD": "b2"}),
			Precondition: plan.Precondition{Exists: true, Fingerprint: "fp32"}},
	}
	for _, c := range p.Changes {
		if c.Before != nil {
			c.Before.Push = nil // a state never holds the pushed body
		}
	}
	return p
}

type planScenario struct {
	name string
	plan func() *plan.Plan
	// huge plans only get a Markdown golden file: the others would be
	// megabytes of the same thing.
	mdOnly bool
}

var planScenarios = []planScenario{
	{name: "empty", plan: emptyPlan},
	{name: "creates", plan: createsPlan},
	{name: "updates", plan: updatesPlan},
	{name: "sensitive", plan: sensitivePlan},
	{name: "env", plan: envPlan},
	{name: "refused", plan: refusedPlan},
	{name: "prune", plan: prunePlan},
	{name: "assign", plan: assignPlan},
	{name: "adopt", plan: adoptPlan},
	{name: "select", plan: selectPlan},
	{name: "drift", plan: driftPlan},
	{name: "huge", plan: func() *plan.Plan { return hugePlan(150, 40) }, mdOnly: true},
}

// Reports, with fixed durations so that golden files are stable.

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func doneReport() *apply.Report {
	p := createsPlan()
	r := &apply.Report{Parallelism: 10, Elapsed: ms(2345)}
	starts := []int{0, 0, 812, 812}
	durs := []int{812, 2301, 40, 2}
	for i, c := range p.Changes {
		r.Results = append(r.Results, apply.Result{Change: c, Status: apply.Done, Started: ms(starts[i]), Duration: ms(durs[i]), Step: i + 1})
	}
	return r
}

func failedReport() *apply.Report {
	r := doneReport()
	r.Elapsed = ms(2310)
	r.Results[0].Status = apply.Failed
	r.Results[0].Err = errors.New(`create script "install-cuda": POST /scripts: 500 Internal Server Error: "database unavailable"`)
	r.Results[0].Error = r.Results[0].Err.Error()
	r.Results[0].Duration = ms(1500)
	for i := 2; i < 4; i++ {
		r.Results[i].Status = apply.Skipped
		r.Results[i].SkippedBecause = "script/install-cuda"
		r.Results[i].Started, r.Results[i].Duration, r.Results[i].Step = 0, 0, 0
	}
	return r
}

func interruptedReport() *apply.Report {
	p := prunePlan()
	r := &apply.Report{Parallelism: 4, Elapsed: ms(95), Interrupted: true}
	for i, c := range p.Changes {
		res := apply.Result{Change: c}
		if i < 2 {
			res.Status, res.Started, res.Duration, res.Step = apply.Done, ms(0), ms(20+i*15), i+1
		}
		r.Results = append(r.Results, res)
	}
	return r
}

func dryRunReport() *apply.Report {
	changes := append(createsPlan().Changes, prunePlan().Changes...)
	r := &apply.Report{Parallelism: 2, Elapsed: ms(80), DryRun: true}
	for i, ch := range changes {
		r.Results = append(r.Results, apply.Result{Change: ch, Status: apply.Done, Started: ms(20 * (i / 2)), Duration: ms(20), Step: i + 1})
	}
	return r
}

type reportScenario struct {
	name   string
	report func() *apply.Report
}

var reportScenarios = []reportScenario{
	{"empty", func() *apply.Report { return &apply.Report{Parallelism: 10} }},
	{"done", doneReport},
	{"failed", failedReport},
	{"interrupted", interruptedReport},
	{"dry-run", dryRunReport},
}
