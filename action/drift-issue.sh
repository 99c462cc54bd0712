#!/usr/bin/env bash
# drift-issue.sh: keeps ONE open issue about drift, after plan.sh ran the
# drift check (PSYNC_ACTION_EXITCODE is psync's exit code): it opens the
# issue, or updates the one it opened before (found by its hidden marker),
# when the plan has changes (2) or is refused (3), and comments and closes
# it when the team matches the manifest again (0). A plan that failed (1)
# leaves the issue alone: the job fails instead.
set -uo pipefail
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

out=$(action_out)
file="$out/comment.md"
code=${PSYNC_ACTION_EXITCODE:-}
repo=${GITHUB_REPOSITORY:?GITHUB_REPOSITORY is not set}
mark=$(marker drift)

case "$code" in
  0 | 2 | 3) ;;
  *)
    echo "psync could not plan (exit ${code:-none}): the drift issue is left as it is"
    exit 0
    ;;
esac

number=$(find_marked "/repos/$repo/issues?state=open&" "$mark" number) || action_die "cannot list the open issues of $repo (the job needs issues: write)"
req="$out/issue.json"
if [ "$code" = 0 ]; then
  if [ -z "$number" ]; then
    echo "the team matches the manifest; no drift issue is open"
    exit 0
  fi
  sha=${GITHUB_SHA:-}
  jq -n --arg b "The team matches the manifest again${sha:+ (commit ${sha:0:12})}: closing." '{body: $b}' >"$req"
  github_api POST "/repos/$repo/issues/$number/comments" "$req" >/dev/null || action_die "cannot comment on issue #$number"
  jq -n '{state: "closed", state_reason: "completed"}' >"$req"
  github_api PATCH "/repos/$repo/issues/$number" "$req" >/dev/null || action_die "cannot close issue #$number"
  echo "closed drift issue #$number"
  action_output issue "$number"
  exit 0
fi

if [ -n "$number" ]; then
  jq -n --rawfile b "$file" '{body: $b}' >"$req"
  github_api PATCH "/repos/$repo/issues/$number" "$req" >/dev/null || action_die "cannot update issue #$number"
  echo "updated drift issue #$number"
else
  manifest=$(printf '%s' "${PSYNC_ACTION_MANIFEST:-psync.yaml}" | tr -c 'A-Za-z0-9._/+-' '_')
  jq -n --rawfile b "$file" --arg t "psync: the team has drifted from the manifest ($manifest)" '{title: $t, body: $b}' >"$req"
  number=$(github_api POST "/repos/$repo/issues" "$req" | jq -r .number) || action_die "cannot open an issue in $repo (the job needs issues: write)"
  echo "opened drift issue #$number"
fi
action_output issue "$number"
