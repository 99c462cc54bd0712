#!/usr/bin/env bash
# plan.sh: `psync plan --detailed-exitcode` for a pull request
# (PSYNC_ACTION_COMMAND=plan) or for the drift check
# (PSYNC_ACTION_COMMAND=drift). The plan prints its text and GitHub
# annotations (--output github) and is saved; `psync show` turns the saved
# plan into the Markdown of the comment.
#
# It writes the Markdown to post ($out/comment.md, where $out is
# action_out) and to the job summary in every case, also when psync fails,
# and sets the outputs exitcode (psync's) and comment (the file). It exits 0
# when the check passes: for plan, psync exited 0 (no changes) or 2
# (changes) and the pull request leaves the state file alone; for drift,
# psync could plan at all (0, 2, or 3 for a plan it refuses).
# Backticks in single quotes are Markdown, not shell.
# shellcheck disable=SC2016
set -uo pipefail
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

command=${PSYNC_ACTION_COMMAND:-plan}
out=$(action_out)
comment="$out/comment.md"
set_manifest_args
set_extra_args
action_output comment "$comment"

marker=$(marker "$command")
if [ "$command" = drift ]; then
  title="psync drift check"
else
  title="psync plan"
fi

# finish writes the comment to the summary, sets the outputs and exits.
finish() {
  local code=$1 pass=$2
  action_summary <"$comment"
  action_output exitcode "$code"
  action_output passed "$pass"
  if [ "$pass" = true ]; then exit 0; fi
  exit 1
}

# The drift check is of the branch the team is applied from: another
# branch's manifest (workflow_dispatch on it) would open or close the
# issue about that branch with a verdict about another.
drift_branch=${PSYNC_ACTION_BRANCH:-main}
if [ "$command" = drift ] && [ -n "${GITHUB_REF:-}" ] && [ "$GITHUB_REF" != "refs/heads/$drift_branch" ]; then
  shown_branch=$(printf '%s' "$drift_branch" | tr -c 'A-Za-z0-9._/+-' '_')
  ref=$(printf '%s' "$GITHUB_REF" | tr -c 'A-Za-z0-9._/+-' '_')
  {
    printf '%s\n### %s did not run\n\n' "$marker" "$title"
    printf 'The drift check checks %s only, and this run is for %s. Run the workflow on %s (the schedule does).\n' "$shown_branch" "$ref" "$shown_branch"
  } >"$comment"
  printf '::error::the drift check checks %s only, and this run is for %s\n' "$shown_branch" "$ref"
  finish 1 false
fi

# Without the key, say why instead of letting psync fail with a bare
# "PAPERSPACE_API_KEY is not set".
if [ -z "${PAPERSPACE_API_KEY:-}" ] && ! uses_sandbox; then
  head_repo=${PSYNC_ACTION_HEAD_REPO:-}
  if [ -n "$head_repo" ] && [ "$head_repo" != "${GITHUB_REPOSITORY:-}" ]; then
    head_repo=$(printf '%s' "$head_repo" | tr -c 'A-Za-z0-9._/-' '_')
    validate="$out/validate.txt"
    psync "${manifest_args[@]}" validate "${extra_args[@]}" >"$validate" 2>&1
    vcode=$?
    if [ "$vcode" -ne 0 ] && has_github_output; then
      psync "${manifest_args[@]}" validate --output github "${extra_args[@]}" 2>/dev/null | annotation_paths
    fi
    {
      printf '%s\n### %s: no secrets for forks\n\n' "$marker" "$title"
      printf 'This pull request comes from a fork (%s). GitHub gives such pull requests neither the repository'"'"'s secrets nor a token that may comment, so psync could not read the team and show a plan.\n\n' "$head_repo"
      printf -- '- A maintainer who has reviewed the change can push the branch to this repository and open the pull request from there: that one gets a plan.\n'
      printf -- '- Do **not** switch the workflow to `pull_request_target` to get around this: it would run the fork'"'"'s manifest and scripts with the team'"'"'s API key.\n\n'
      if [ "$vcode" -eq 0 ]; then
        printf '`psync validate` (which needs no key) found the manifest valid.\n'
      else
        printf '`psync validate` (which needs no key) found problems (exit %s):\n\n' "$vcode"
        fenced "$validate"
      fi
    } >"$comment"
    printf '::error::no secrets for forks: this pull request comes from %s, which gets no PAPERSPACE_API_KEY, so psync could not plan; see the job summary\n' "$head_repo"
    finish 1 false
  fi
  {
    printf '%s\n### %s failed\n\n' "$marker" "$title"
    printf 'The `api-key` input is empty. Add the repository secret `PAPERSPACE_API_KEY` (Settings → Secrets and variables → Actions) and pass it: `api-key: ${{ secrets.PAPERSPACE_API_KEY }}`.\n\n'
    printf 'A pull request opened by Dependabot gets only Dependabot'"'"'s secrets (Settings → Secrets and variables → Dependabot).\n'
  } >"$comment"
  printf '::error::the api-key input is empty: add the secret PAPERSPACE_API_KEY and pass it to the psync action\n'
  finish 1 false
fi

# A pull request that edits the state file could make its own plan, and
# after the merge the apply, delete what psync's safety rules protect (set
# preventDestroy: false, own an object psync never made). Fail it, and plan
# with the base branch's state so that the comment shows the truth. A state
# is found by its path and by its content, so that one moved elsewhere (or
# a new one that settings.state would point to) counts too. With an s3://
# state there is none in the repository to protect (and a pull request that
# deletes the old file after `psync state migrate` is fine).
edited=""
if [ "$command" = plan ] && [ -n "${PSYNC_ACTION_BASE_SHA:-}" ]; then
  state_path=$(git_state_path)
  if [ -n "$state_path" ]; then
    base=$PSYNC_ACTION_BASE_SHA
    [[ "$base" =~ ^[0-9a-f]{40}([0-9a-f]{24})?$ ]] || action_die "the pull request's base is not a commit id: $base"
    if ! git cat-file -e "$base^{commit}" 2>/dev/null; then
      git fetch --no-tags --quiet origin "$base" || true
    fi
    if ! fork_point=$(git merge-base "$base" HEAD 2>/dev/null); then
      # A shallow checkout: fetch the history the merge base needs.
      git fetch --no-tags --quiet --unshallow origin 2>/dev/null || true
      if ! fork_point=$(git merge-base "$base" HEAD 2>/dev/null); then
        {
          printf '%s
### %s failed

' "$marker" "$title"
          printf 'Could not find where this pull request forks from its base (%s), so whether it edits the state file is unknown. Check out the merge commit with its parents (`actions/checkout` with `fetch-depth: 2`, the default ref), or keep the checkout'"'"'s token (`persist-credentials`) so that the base can be fetched.
' "${base:0:12}"
        } >"$comment"
        printf '::error::cannot find where this pull request forks from %s: check out with fetch-depth: 2
' "${base:0:12}"
        finish 1 false
      fi
    fi
    edited=$(
      git diff --name-only "$fork_point" HEAD -- "$state_path" "$state_path.journal"
      git -C "$(git rev-parse --show-toplevel)" diff --name-only -z --no-renames "$fork_point" HEAD |
        while IFS= read -r -d '' path; do
          if is_state_blob "$fork_point:$path" || is_state_blob "HEAD:$path"; then
            printf '%s\n' "$path"
          fi
        done
    )
    edited=$(printf '%s\n' "$edited" | sed '/^$/d' | sort -u)
    # Without the state input (or PSYNC_STATE) the manifest's
    # settings.state names the state, and a pull request could point it
    # at another one and change no state file: a copy kept in the
    # repository, another bucket. So the state psync reads for the pull
    # request must be the one it reads for the base (`psync state pull`
    # in a worktree of the fork point).
    base_pull=""
    if [ -z "${PSYNC_ACTION_STATE:-}${PSYNC_STATE:-}" ]; then
      base_tree="$out/base-tree"
      git worktree remove --force -- "$base_tree" >/dev/null 2>&1
      rm -rf -- "$base_tree"
      if git worktree add --quiet --detach -- "$base_tree" "$fork_point" >/dev/null 2>&1; then
        prefix=$(git rev-parse --show-prefix)
        manifest=${PSYNC_ACTION_MANIFEST:-psync.yaml}
        # Only a state psync does read counts: a manifest that psync
        # refuses, or a state that is not there, makes the plan fail or
        # adopt by name, never delete.
        head_read=false
        psync -f "$manifest" --no-color state pull >"$out/head-state.pull" 2>/dev/null && head_read=true
        (cd -- "$base_tree/$prefix" && psync -f "$manifest" --no-color state pull) >"$out/base-state.pull" 2>/dev/null && base_pull="$out/base-state.pull"
        git worktree remove --force -- "$base_tree" >/dev/null 2>&1
        if [ "$head_read" = true ] && { [ -z "$base_pull" ] || ! cmp -s -- "$out/head-state.pull" "$base_pull"; }; then
          edited=$(printf '%s\n%s\n' "$edited" "settings.state (the state the manifest names is not the base's)" | sed '/^$/d')
        fi
      else
        edited=$(printf '%s\n%s\n' "$edited" "settings.state (could not check out the base to compare the state it names)" | sed '/^$/d')
      fi
    fi
    if [ -n "$edited" ]; then
      base_state="$out/base-state/$(basename -- "$state_path")"
      mkdir -p "$(dirname -- "$base_state")"
      rm -f -- "$base_state" "$base_state.journal"
      if [ -n "$base_pull" ]; then
        cp -- "$base_pull" "$base_state"
      else
        git show "$fork_point:./$state_path" >"$base_state" 2>/dev/null || rm -f -- "$base_state"
        git show "$fork_point:./$state_path.journal" >"$base_state.journal" 2>/dev/null || rm -f -- "$base_state.journal"
      fi
      manifest_args+=(--state "$base_state")
      printf '::error::this pull request edits the state file (%s); only psync apply may change it\n' "$(printf '%s' "$edited" | tr -c 'A-Za-z0-9._/+-' ' ')"
    fi
  fi
fi

plan="$out/plan.md"
errors="$out/plan.err"
if has_github_output; then
  # One read of the team: the plan prints its text (for the log) and
  # annotations (on the manifest's lines), and is saved; the comment is the
  # saved plan shown as Markdown, with no second call to the API.
  saved="$out/plan.json"
  rm -f -- "$saved" "$plan"
  psync "${manifest_args[@]}" plan --detailed-exitcode --output github --out "$saved" "${extra_args[@]}" 2>"$errors" | annotation_paths
  code=${PIPESTATUS[0]}
  case "$code" in
    0 | 2 | 3)
      if ! psync -f "${PSYNC_ACTION_MANIFEST:-psync.yaml}" --no-color show "$saved" --output markdown >"$plan" 2>>"$errors"; then
        code=1
      fi
      ;;
  esac
else
  psync "${manifest_args[@]}" plan --detailed-exitcode --output markdown "${extra_args[@]}" >"$plan" 2>"$errors"
  code=$?
fi
if [ -s "$errors" ]; then
  stop_commands
  cat -- "$errors"
  resume_commands
fi

{
  printf '%s\n' "$marker"
  if [ -n "$edited" ]; then
    printf '### This pull request edits the state file\n\n'
    printf 'It changes:\n\n'
    printf '%s\n' "$edited" >"$out/edited.txt"
    fenced "$out/edited.txt"
    printf '\nOnly `psync apply` writes the state: it records what psync owns and protects (`preventDestroy`), and a hand edit there can turn a plan into a delete that no safety rule stops. This check fails until the pull request leaves the state file as it is on the base branch (`git checkout origin/BASE -- FILE`). The plan below is made with the base branch'"'"'s state.\n\n'
  fi
  if [ "$command" = drift ]; then
    sha=${GITHUB_SHA:-$(git rev-parse HEAD 2>/dev/null || true)}
    case "$code" in
      0) printf '### %s: the team matches the manifest\n\n`psync plan` against %s found nothing to change.\n\n' "$title" "${sha:0:12}" ;;
      2 | 3) printf '### %s: the team has drifted from the manifest\n\n`psync plan` against %s (the newest `%s`) found changes: someone changed the team outside psync, or an apply did not finish. Run the apply workflow to make the team match again, or change the manifest to keep what was changed. This issue is updated every run and closed once the team matches.\n\n' "$title" "${sha:0:12}" "${PSYNC_ACTION_BRANCH:-main}" ;;
    esac
  fi
  case "$code" in
    0 | 2 | 3)
      cat -- "$plan"
      if [ -s "$errors" ]; then
        # psync keeps its Markdown under 60,000 characters; this keeps the
        # comment under GitHub's 65,536.
        printf '\n<details><summary>psync'"'"'s messages</summary>\n\n'
        fenced "$errors" 3000
        printf '\n</details>\n'
      fi
      ;;
    *)
      printf '### %s failed (exit %s)\n\n' "$title" "$code"
      fenced "$errors"
      ;;
  esac
} >"$comment"

case "$command:$code" in
  plan:0 | plan:2) pass=true ;;
  plan:3) pass=false; printf '::error::psync refused the plan for safety (exit 3); the plan comment names the override\n' ;;
  drift:0 | drift:2 | drift:3) pass=true ;;
  *) pass=false; printf '::error::psync plan failed (exit %s); see the job summary\n' "$code" ;;
esac
if [ -n "$edited" ]; then pass=false; fi
finish "$code" "$pass"
