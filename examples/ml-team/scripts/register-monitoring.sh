#!/usr/bin/env bash
# Registers this machine with the metrics backend, once.
#
# This body carries the team's enrolment token, which is why the manifest
# marks it sensitive: psync never prints, diffs or stores it, only its hash.
# In a real repository, do not commit this file: write it in CI from a
# secret (see examples/github-actions/README.md) and list it in .gitignore.
set -euo pipefail

ENROLMENT_TOKEN='example-enrolment-token-not-a-real-secret'
BACKEND=https://metrics.example.com/api/v1/agents

install -d -m 0700 /etc/monitoring
umask 077
printf '%s\n' "$ENROLMENT_TOKEN" > /etc/monitoring/enrolment.token

curl -fsS -X POST "$BACKEND" \
  -H "Authorization: Bearer $(cat /etc/monitoring/enrolment.token)" \
  -H 'Content-Type: application/json' \
  --data "{\"hostname\": \"$(hostname)\", \"labels\": {\"team\": \"ml\"}}"
