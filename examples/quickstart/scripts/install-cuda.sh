#!/usr/bin/env bash
# Installs the CUDA 12 toolkit once; later boots find it and do nothing.
set -euo pipefail

if command -v nvcc >/dev/null 2>&1; then
  echo "CUDA already installed: $(nvcc --version | tail -n 1)"
  exit 0
fi

apt-get update
apt-get install -y --no-install-recommends cuda-toolkit-12-4
echo 'export PATH=/usr/local/cuda/bin:$PATH' > /etc/profile.d/cuda.sh
