#!/bin/sh
# Mounts the team's shared datasets volume at /datasets on first boot.
set -eu

mkdir -p /datasets
if ! grep -qs ' /datasets ' /proc/mounts; then
  mount -t nfs -o ro,nolock datasets.internal:/export /datasets
fi
