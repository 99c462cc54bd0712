#!/usr/bin/env bash
# apply.sh: `psync apply --auto-approve` on the newest commit of the branch
# (PSYNC_ACTION_BRANCH, main by default), not on the commit that triggered
# the run.
#
# A run waits in the workflow's concurrency group while earlier merges are
# applied, and actions/checkout checked out the commit that triggered it:
# by the time it starts, that commit is older than the branch, and lacks
# the state the earlier runs committed. Applying it would re-adopt what they
# made and, for a state kept in git, end in a state commit that conflicts
# and is lost. So the run fetches the branch and applies its newest commit,
# which holds every merge before it and the state they left.
#
# It refuses a run for another ref (workflow_dispatch on a branch), writes
# the job summary also when psync fails, sets the outputs exitcode and
# commit (what it applied), and exits with psync's code.
# Backticks in single quotes are Markdown, not shell.
# shellcheck disable=SC2016
set -uo pipefail
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

branch=${PSYNC_ACTION_BRANCH:-main}
git check-ref-format --branch "$branch" >/dev/null 2>&1 || action_die "branch: \"$branch\" is not a branch name"
shown_branch=$(printf '%s' "$branch" | tr -c 'A-Za-z0-9._/+-' '_')
out=$(action_out)
set_manifest_args
set_extra_args

# summary_failed reports a failure before psync ran, and exits 1.
summary_failed() {
  printf '### psync apply did not run\n\n%s\n' "$1" | action_summary
  action_output exitcode 1
  action_die "$1"
}

if [ -n "${GITHUB_REF:-}" ] && [ "$GITHUB_REF" != "refs/heads/$branch" ]; then
  ref=$(printf '%s' "$GITHUB_REF" | tr -c 'A-Za-z0-9._/+-' '_')
  summary_failed "psync apply applies $shown_branch only, and this run is for $ref. Merge the change into $shown_branch (its plan is in the pull request), or run the workflow on $shown_branch."
fi
if [ -z "${PAPERSPACE_API_KEY:-}" ] && ! uses_sandbox; then
  summary_failed "The api-key input is empty: add the secret PAPERSPACE_API_KEY and pass it to the psync action."
fi

if ! git fetch --no-tags --quiet origin "+refs/heads/$branch:refs/remotes/origin/$branch"; then
  summary_failed "Could not fetch $shown_branch from origin, so the newest commit is unknown; nothing was applied."
fi
# --force: the checkout is the runner's own; untracked files (a sensitive
# script written from a secret) stay.
git checkout --quiet --force -B "$branch" "refs/remotes/origin/$branch" || summary_failed "Could not check out the newest $shown_branch; nothing was applied."
commit=$(git rev-parse HEAD)
action_output commit "$commit"
printf '%s\n' "$commit" >"$out/applied-commit"
if [ -n "${GITHUB_SHA:-}" ] && [ "$GITHUB_SHA" != "$commit" ]; then
  printf '::notice::applying the newest %s, %s (this run was started by %s)\n' "$shown_branch" "${commit:0:12}" "${GITHUB_SHA:0:12}"
fi

log="$out/apply.log"
stop_commands
psync "${manifest_args[@]}" apply --auto-approve "${extra_args[@]}" 2>&1 | tee -- "$log"
code=${PIPESTATUS[0]}
resume_commands

case "$code" in
  0) status="applied" ;;
  3) status="refused for safety (exit 3): nothing was changed; the log names the override" ;;
  130) status="interrupted (exit 130): every change reported done is in the state" ;;
  *) status="failed (exit $code): the changes reported done are in the state; the log says what failed" ;;
esac
{
  printf '### psync apply: %s\n\n' "$status"
  printf 'Commit %s of `%s`.\n\n' "${commit:0:12}" "$shown_branch"
  fenced "$log" 60000
} | action_summary
action_output exitcode "$code"
if [ "$code" -ne 0 ]; then
  printf '::error::psync apply %s\n' "$status"
fi
exit "$code"
