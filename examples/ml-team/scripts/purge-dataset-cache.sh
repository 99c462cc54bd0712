#!/bin/sh
# Frees the dataset cache when /scratch is over 90% full. Disabled in the
# manifest while the new cache layout is rolled out.
set -eu

cache=/scratch/datasets-cache
used=$(df --output=pcent /scratch | tail -n 1 | tr -dc '0-9')
if [ "${used:-0}" -gt 90 ] && [ -d "$cache" ]; then
  find "$cache" -type f -atime +7 -delete
fi
