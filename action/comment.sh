#!/usr/bin/env bash
# comment.sh: posts the plan (the comment plan.sh wrote) as ONE comment on
# the pull request PSYNC_ACTION_PR, updating the comment it posted before
# (found by its hidden marker) on every push instead of adding another.
#
# A token that may not comment (a fork's) gets a warning, not a failure:
# the plan is in the job summary, and the plan step decides the check.
set -uo pipefail
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

out=$(action_out)
file="$out/comment.md"
pr=${PSYNC_ACTION_PR:-}
if [ -z "$pr" ]; then
  echo "not a pull request: the plan is in the job summary only"
  exit 0
fi
[[ "$pr" =~ ^[0-9]+$ ]] || action_die "not a pull request number: $pr"
if [ ! -s "$file" ]; then
  echo "no plan to post"
  exit 0
fi
repo=${GITHUB_REPOSITORY:?GITHUB_REPOSITORY is not set}
mark=$(marker plan)
body="$out/comment.json"
jq -n --rawfile b "$file" '{body: $b}' >"$body" || action_die "cannot encode $file"

warn() {
  printf '::warning::could not comment on the pull request (%s); the plan is in the job summary\n' "$1"
  exit 0
}
id=$(find_marked "/repos/$repo/issues/$pr/comments?" "$mark" id) || warn "listing its comments failed"
if [ -n "$id" ]; then
  github_api PATCH "/repos/$repo/issues/comments/$id" "$body" >/dev/null || warn "updating comment $id failed"
  echo "updated the plan comment $id"
else
  github_api POST "/repos/$repo/issues/$pr/comments" "$body" >/dev/null || warn "posting failed; a fork's token may not comment"
  echo "posted the plan comment"
fi
