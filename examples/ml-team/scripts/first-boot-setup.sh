#!/usr/bin/env bash
# Runs once on a machine's first boot: scratch disk, team users, swap.
set -euo pipefail

# The local NVMe disk becomes /scratch for checkpoints and dataset caches.
if [ -b /dev/nvme1n1 ] && ! grep -qs ' /scratch ' /proc/mounts; then
  mkfs.ext4 -q -L scratch /dev/nvme1n1
  mkdir -p /scratch
  echo 'LABEL=scratch /scratch ext4 defaults,noatime,nofail 0 2' >> /etc/fstab
  mount /scratch
  chmod 1777 /scratch
fi

for user in alice bob carol; do
  if ! id "$user" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash --groups sudo "$user"
  fi
done

if [ ! -f /swapfile ]; then
  fallocate -l 16G /swapfile
  chmod 600 /swapfile
  mkswap /swapfile
  swapon /swapfile
  echo '/swapfile none swap sw 0 0' >> /etc/fstab
fi
