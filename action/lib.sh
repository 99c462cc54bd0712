# shellcheck shell=bash
# lib.sh: helpers shared by the psync action's scripts (sourced, not run).
#
# The scripts take everything from the environment (PSYNC_ACTION_* and the
# variables GitHub sets), never from ${{ }} expressions pasted into a
# script, so that no input, branch name or PR title can become shell code.

# action_die prints a GitHub error annotation and exits 1.
action_die() {
  printf '::error::%s\n' "$(printf '%s' "$*" | tr '\r\n' '  ')"
  exit 1
}

# action_out is the directory where the action's scripts leave files for
# its next steps (the comment, the log, the commit applied): the one
# install.sh made for this use of the action (PSYNC_ACTION_OUT), so that two
# uses in one job do not mix.
action_out() {
  local dir="${PSYNC_ACTION_OUT:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/psync-action}"
  mkdir -p -- "$dir"
  printf '%s\n' "$dir"
}

# action_output sets a step output (a no-op outside GitHub Actions).
action_output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  fi
}

# action_summary appends stdin to the job summary (to stdout outside
# GitHub Actions).
action_summary() {
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat >>"$GITHUB_STEP_SUMMARY"
  else
    cat
  fi
}

# fence prints a Markdown code fence longer than any run of backticks in
# file $1, so that nothing psync printed can close it early and turn the
# rest into Markdown (a forged "plan", links, mentions).
fence() {
  local longest
  # -a and the C locale: a NUL byte or a byte that is not UTF-8 must not
  # make grep take the file for binary and print no match at all.
  longest=$(LC_ALL=C grep -a -o '`*' -- "$1" 2>/dev/null | LC_ALL=C awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')
  local n=$((longest + 1))
  if [ "$n" -lt 3 ]; then n=3; fi
  printf '%*s' "$n" '' | tr ' ' '`'
}

# fenced prints file $1 (its last $2 bytes) inside a fence from fence.
fenced() {
  local file=$1 max=${2:-20000} f tmp
  tmp=$(mktemp)
  if [ "$(wc -c <"$file")" -gt "$max" ]; then
    printf '(the first %s bytes are cut)\n' "$(($(wc -c <"$file") - max))" >"$tmp"
  fi
  tail -c "$max" -- "$file" >>"$tmp"
  f=$(fence "$tmp")
  printf '%s\n' "$f"
  cat -- "$tmp"
  # A last line without a newline would swallow the closing fence.
  if [ -s "$tmp" ] && [ "$(tail -c 1 -- "$tmp" | od -An -c | tr -d ' ')" != '\n' ]; then
    printf '\n'
  fi
  printf '%s\n' "$f"
  rm -f -- "$tmp"
}

# marker is the hidden HTML comment that opens what the action posts, so it
# finds its own comment or issue again: $1 is its kind (plan, drift), and
# the manifest is in it so that several teams of one repository each get
# their own. Only characters that cannot end the HTML comment are kept.
marker() {
  local id=${PSYNC_ACTION_MANIFEST:-psync.yaml}
  if [ -n "${PSYNC_ACTION_WORKDIR:-}" ] && [ "$PSYNC_ACTION_WORKDIR" != . ]; then
    id="$PSYNC_ACTION_WORKDIR/$id"
  fi
  id=$(printf '%s' "$id" | tr -c 'A-Za-z0-9._/+=:,-' '_')
  printf '<!-- psync-action %s %s -->' "$1" "$id"
}

# manifest_args are the global arguments every psync run gets: -f, --state
# when the state input is set (else psync takes PSYNC_STATE, then the
# manifest's settings.state, then the file beside the manifest), no colour.
manifest_args=()
set_manifest_args() {
  manifest_args=(-f "${PSYNC_ACTION_MANIFEST:-psync.yaml}" --no-color)
  if [ -n "${PSYNC_ACTION_STATE:-}" ]; then
    manifest_args+=(--state "$PSYNC_ACTION_STATE")
  fi
}

# extra_args are the args input split on blanks (never evaluated by a shell).
extra_args=()
set_extra_args() {
  extra_args=()
  if [ -n "${PSYNC_ACTION_ARGS:-}" ]; then
    read -r -a extra_args <<<"$PSYNC_ACTION_ARGS"
  fi
}

# uses_sandbox reports whether the args input runs psync against the
# embedded sandbox, which needs no API key.
uses_sandbox() {
  local a
  for a in "${extra_args[@]}"; do
    case "$a" in --sandbox | --sandbox=*) return 0 ;; esac
  done
  return 1
}

# git_state_path prints the state file committed in the repository, or
# nothing when the state is in object storage (s3://): the state input,
# else PSYNC_STATE, else psync.state.json beside the manifest.
git_state_path() {
  local s=${PSYNC_ACTION_STATE:-${PSYNC_STATE:-}}
  case "$s" in
    s3://*) return 0 ;;
    ?*) printf '%s\n' "$s"; return 0 ;;
  esac
  local m=${PSYNC_ACTION_MANIFEST:-psync.yaml}
  local dir=$m
  if [ ! -d "$m" ]; then dir=$(dirname -- "$m"); fi
  dir=${dir%/}
  if [ "$dir" = . ]; then
    printf 'psync.state.json\n'
  else
    printf '%s/psync.state.json\n' "$dir"
  fi
}

# is_state_blob reports whether the git object $1 (REV:PATH) is what psync
# would read as a state (a JSON object with a formatVersion and what a
# state owns: a lineage, scripts, templates or deleted objects) or as a
# journal (its first line a JSON object with psyncJournal). Keys are
# matched as psync's decoder (Go's encoding/json) matches them: in any
# case, with Unicode's simple folding, by which "ſ" is an "s" and the
# Kelvin sign a "k"; else "FormatVersion" or "formatVerſion" would be a
# state psync reads and this check does not see.
is_state_blob() {
  local size
  size=$(git cat-file -s "$1" 2>/dev/null) || return 1
  is_state_data "$size" git cat-file -p "$1"
}

# is_state_file is is_state_blob for a file of the working tree (a regular
# file, not a link).
is_state_file() {
  [ -f "$1" ] && [ ! -L "$1" ] || return 1
  is_state_data "$(wc -c <"$1")" cat -- "$1"
}

# is_state_data SIZE COMMAND... is is_state_blob for the SIZE bytes that
# COMMAND prints (it runs twice).
is_state_data() {
  local size=$1
  shift
  # The limits of what psync reads (state.MaxStateBytes, MaxJournalBytes):
  # a larger file (an image, a dataset) is not a state.
  [ "$size" -le 268435456 ] || return 1
  local fold='def folded: [keys_unsorted[] | ascii_downcase | gsub("\u017f"; "s") | gsub("\u212a"; "k")];'
  if [ "$size" -le 67108864 ] && "$@" | jq -e -s "$fold"' length == 1 and (.[0] | type == "object" and (folded |
      any(.[]; . == "formatversion") and any(.[]; . == "lineage" or . == "scripts" or . == "templates" or . == "deleted")))' >/dev/null 2>&1; then
    return 0
  fi
  "$@" | head -n 1 | jq -e "$fold"' type == "object" and (folded | any(.[]; . == "psyncjournal"))' >/dev/null 2>&1
}

# has_github_output reports whether this psync has `--output github` (and
# `psync show`, which came with it); an older one, chosen with the version
# input, gets no annotations.
has_github_output() {
  psync show --help >/dev/null 2>&1
}

# annotation_paths rewrites the file= of psync's annotations (stdin to
# stdout), which name files relative to the directory psync ran in, to be
# relative to the repository, as GitHub places them. Lines of psync's text
# are between its own ::stop-commands:: markers, so no line of a script or
# an API answer is taken for an annotation, here or by GitHub.
annotation_paths() {
  local dir=${PSYNC_ACTION_WORKDIR:-.}
  dir=${dir%/}
  case "$dir" in
    . | "" | /*) cat ;;
    *)
      dir=${dir#./}
      # GitHub's property escaping of the prefix: % first, then : and ,.
      dir=$(printf '%s' "$dir" | sed -e 's/%/%25/g' -e 's/:/%3A/g' -e 's/,/%2C/g' -e 's/[\\&#]/\\&/g')
      sed -E "s#^(::(error|warning|notice) ([^:]*,)?file=)#\\1$dir/#"
      ;;
  esac
}

# stop_commands switches GitHub's workflow commands (::error:: and the
# like) off until resume_commands, so that a line psync prints, which may
# quote a script or an API answer, cannot pose as an annotation or set an
# output. The token that switches them on again is random.
commands_token=""
stop_commands() {
  commands_token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  printf '::stop-commands::%s\n' "$commands_token"
}
resume_commands() {
  printf '::%s::\n' "$commands_token"
}

# github_api METHOD PATH [JSONFILE] calls the GitHub REST API with the
# token in PSYNC_ACTION_GITHUB_TOKEN and prints the answer; it fails on an
# HTTP error. The token goes to curl through a file descriptor, never on a
# command line that `ps` shows.
github_api() {
  local method=$1 path=$2 data=${3:-}
  local args=(-sS --fail-with-body --max-time 60 -X "$method"
    -H "Accept: application/vnd.github+json" -H "X-GitHub-Api-Version: 2022-11-28")
  if [ -n "$data" ]; then
    args+=(-H "Content-Type: application/json" --data-binary "@$data")
  fi
  curl "${args[@]}" -H @<(printf 'Authorization: Bearer %s\n' "${PSYNC_ACTION_GITHUB_TOKEN:-}") \
    "${GITHUB_API_URL:-https://api.github.com}$path"
}

# token_login prints the login of the token's owner when the token is a
# person's (GET /user answers only those), else nothing: GITHUB_TOKEN and a
# GitHub App's token write as a bot.
token_login() {
  github_api GET /user 2>/dev/null | jq -r 'if type == "object" then .login // empty else empty end' 2>/dev/null || true
}

# find_marked LISTPATH MARKER FIELD prints FIELD (id, number) of the first
# item of a paginated list (LISTPATH ends in ? or &) that the token's owner
# wrote and whose body starts with MARKER: a person quoting the marker is
# left alone, and pull requests in an issue list are skipped. The owner is
# the token's person (a personal access token), else any bot (GITHUB_TOKEN
# or an App's token, whose login GitHub does not tell).
find_marked() {
  local list=$1 mark=$2 field=$3 page resp found me
  me=$(token_login)
  for ((page = 1; page <= 50; page++)); do
    resp=$(github_api GET "${list}per_page=100&page=$page") || return 1
    found=$(jq -r --arg m "$mark" --arg f "$field" --arg me "$me" \
      '[.[] | select((if $me == "" then .user.type == "Bot" else .user.login == $me end) and .pull_request == null and ((.body // "") | startswith($m)))] | first | .[$f] // empty' <<<"$resp") || return 1
    if [ -n "$found" ]; then
      printf '%s\n' "$found"
      return 0
    fi
    if [ "$(jq length <<<"$resp")" -lt 100 ]; then
      return 0
    fi
  done
}
