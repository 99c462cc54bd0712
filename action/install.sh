#!/usr/bin/env bash
# install.sh: puts psync on the PATH of the job's later steps.
#
# PSYNC_ACTION_VERSION is a release tag, a commit or "latest" for
# `go install github.com/psync-dev/psync/cmd/psync@VERSION`; empty or
# "local" builds the checkout the action itself runs from, so that
# `uses: psync-dev/psync@v1.2.3` runs psync v1.2.3 with this action's
# scripts. The binary goes to a directory of its own under RUNNER_TEMP.
set -euo pipefail
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

version=${PSYNC_ACTION_VERSION:-}
bin="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/psync-bin"
mkdir -p "$bin"

case "$version" in
  "" | local)
    echo "Building psync from the action's checkout ($here/..)"
    (cd "$here/.." && go build -o "$bin/psync" ./cmd/psync)
    ;;
  *)
    # A module version, never an option or a path: it is pasted after @.
    if ! [[ "$version" =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]]; then
      action_die "version: \"$version\" is not a release tag, a commit or \"latest\""
    fi
    echo "Installing github.com/psync-dev/psync/cmd/psync@$version"
    GOBIN="$bin" go install "github.com/psync-dev/psync/cmd/psync@$version"
    ;;
esac

# The directory the next steps of this use of the action share.
action_output out "$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/psync-action-XXXXXX")"

if [ -n "${GITHUB_PATH:-}" ]; then
  printf '%s\n' "$bin" >>"$GITHUB_PATH"
fi
"$bin/psync" version
