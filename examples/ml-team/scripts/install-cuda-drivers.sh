#!/usr/bin/env bash
# Installs the NVIDIA driver and the CUDA 12.4 toolkit on GPU machines.
# Safe to run on every boot: it does nothing once the versions match.
set -euo pipefail

DRIVER_BRANCH=550
CUDA_PACKAGE=cuda-toolkit-12-4

if ! lspci | grep -qi nvidia; then
  echo "no NVIDIA GPU on $(hostname): nothing to do"
  exit 0
fi

if nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | grep -q "^${DRIVER_BRANCH}\."; then
  echo "driver ${DRIVER_BRANCH} already installed"
else
  # shellcheck source=/dev/null
  distro=$(. /etc/os-release && echo "${ID}${VERSION_ID//./}")
  keyring=/tmp/cuda-keyring.deb
  curl -fsSL -o "$keyring" \
    "https://developer.download.nvidia.com/compute/cuda/repos/${distro}/x86_64/cuda-keyring_1.1-1_all.deb"
  dpkg -i "$keyring"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "nvidia-driver-${DRIVER_BRANCH}" "$CUDA_PACKAGE"
fi

cat > /etc/profile.d/cuda.sh <<'PROFILE'
export PATH=/usr/local/cuda/bin:$PATH
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
PROFILE
