#!/usr/bin/env bash
# commit-state.sh: commits the state file (and the journal an apply killed
# part-way leaves beside it) that apply.sh left, and pushes it to the branch.
#
# It runs after every apply, also one that failed or was cancelled: psync
# records each change as it is made, so the state is what was really done,
# and without it the next run would adopt those objects again. When the
# branch moved while psync ran, the commit is rebased onto it; that cannot
# conflict, since only this script writes the state file (the plan check
# fails a pull request that edits it) and the workflow's concurrency group
# runs one apply at a time. Should it conflict anyway (someone pushed the
# state by hand), nothing is overwritten: the run fails, and the next apply
# adopts by name what this one made, pushes their bodies once and deletes
# nothing.
set -uo pipefail
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

branch=${PSYNC_ACTION_BRANCH:-main}
out=$(action_out)

if [ ! -s "$out/applied-commit" ]; then
  echo "psync did not run: no state to commit"
  exit 0
fi
applied=$(cat -- "$out/applied-commit")
state=$(git_state_path)
if [ -z "$state" ]; then
  echo "the state is in object storage: nothing to commit"
  exit 0
fi

files=()
for f in "$state" "$state.journal"; do
  # A file psync deleted (the journal, once folded) is committed as deleted.
  if [ -e "$f" ] || git ls-files --error-unmatch -- "$f" >/dev/null 2>&1; then
    files+=("$f")
  fi
done
# Without the state input (or PSYNC_STATE), psync took the manifest's
# settings.state, which this script cannot read: commit also every file
# psync may have written there, a changed or new file that is a state or a
# journal by its content, or a journal it folded and deleted.
if [ -z "${PSYNC_ACTION_STATE:-}${PSYNC_STATE:-}" ]; then
  top=$(git rev-parse --show-toplevel) || action_die "not in a git repository"
  while IFS= read -r -d '' entry; do
    path=${entry:3}
    if is_state_file "$top/$path" || { [ ! -e "$top/$path" ] && is_state_blob "HEAD:$path"; }; then
      files+=("$top/$path")
    fi
  done < <(git -C "$top" status --porcelain -z --untracked-files=all)
fi
if [ "${#files[@]}" -eq 0 ]; then
  echo "no state file: nothing was applied"
  exit 0
fi
git add -A -- "${files[@]}" || action_die "git add $state failed"
if git diff --cached --quiet; then
  echo "the state is unchanged"
  exit 0
fi

identity=()
if [ -z "$(git config user.email || true)" ]; then
  identity=(-c "user.name=github-actions[bot]" -c "user.email=41898282+github-actions[bot]@users.noreply.github.com")
fi
git "${identity[@]}" commit --quiet -m "psync: state after applying ${applied:0:12} [skip ci]" || action_die "git commit of $state failed"

for attempt in 1 2 3 4 5; do
  if push_out=$(git push --quiet origin "HEAD:refs/heads/$branch" 2>&1); then
    echo "pushed $state to $branch"
    exit 0
  fi
  printf '%s\n' "$push_out" >&2
  case "$push_out" in
    *GH006* | *"Protected branch"* | *GH013* | *"rule violations"* | *"Permission to"* | *"returned error: 403"*)
      action_die "$branch is protected and this token may not push to it: give actions/checkout a token allowed to bypass the rule (examples/github-actions/README.md, \"Protected main\"). The next apply adopts by name what this one made and deletes nothing."
      ;;
  esac
  echo "push attempt $attempt failed: $branch moved while psync ran; rebasing the state commit onto it"
  git fetch --no-tags --quiet origin "+refs/heads/$branch:refs/remotes/origin/$branch" || true
  if ! git "${identity[@]}" rebase --quiet "refs/remotes/origin/$branch"; then
    git rebase --abort || true
    action_die "$branch changed $state while psync applied, so it was not overwritten; only psync apply should write it. The next apply adopts by name what this one made and deletes nothing."
  fi
  sleep $((attempt * 2))
done
action_die "could not push $state to $branch after 5 attempts; the next apply adopts by name what this one made and deletes nothing"
