#!/usr/bin/env bash
# Registers this machine with the metrics backend, once.
#
# psync puts two lines above this comment when it pushes the script:
#   export ENROLMENT_TOKEN=...   (the CI secret MONITORING_ENROLMENT_TOKEN)
#   export BACKEND=https://metrics.example.com/api/v1/agents
# (see env: in psync.yaml). The token is never in this repository, a plan,
# the state file or psync's output.
set -euo pipefail

install -d -m 0700 /etc/monitoring
umask 077
printf '%s\n' "$ENROLMENT_TOKEN" > /etc/monitoring/enrolment.token
unset ENROLMENT_TOKEN

curl -fsS -X POST "$BACKEND" \
  -H "Authorization: Bearer $(cat /etc/monitoring/enrolment.token)" \
  -H 'Content-Type: application/json' \
  --data "{\"hostname\": \"$(hostname)\", \"labels\": {\"team\": \"ml\"}}"
