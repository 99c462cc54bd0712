#!/usr/bin/env bash
# Installs and starts the node and GPU metrics exporters.
set -euo pipefail

NODE_EXPORTER_VERSION=1.8.1

if ! command -v node_exporter >/dev/null 2>&1; then
  tarball="node_exporter-${NODE_EXPORTER_VERSION}.linux-amd64.tar.gz"
  curl -fsSL -o "/tmp/${tarball}" \
    "https://github.com/prometheus/node_exporter/releases/download/v${NODE_EXPORTER_VERSION}/${tarball}"
  tar -xzf "/tmp/${tarball}" -C /usr/local/bin --strip-components=1 \
    "node_exporter-${NODE_EXPORTER_VERSION}.linux-amd64/node_exporter"
fi

cat > /etc/systemd/system/node-exporter.service <<'UNIT'
[Unit]
Description=Prometheus node exporter
After=network-online.target

[Service]
ExecStart=/usr/local/bin/node_exporter --collector.textfile.directory=/var/lib/node-exporter
Restart=always

[Install]
WantedBy=multi-user.target
UNIT

mkdir -p /var/lib/node-exporter
systemctl daemon-reload
systemctl enable --now node-exporter.service

# GPU metrics through the node exporter's textfile collector, every minute.
if command -v nvidia-smi >/dev/null 2>&1; then
  cat > /etc/cron.d/gpu-metrics <<'CRON'
* * * * * root nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits | awk -F', ' '{printf "gpu_utilization{gpu=\"%s\"} %s\ngpu_memory_used_mib{gpu=\"%s\"} %s\n", $1, $2, $1, $3}' > /var/lib/node-exporter/gpu.prom.tmp && mv /var/lib/node-exporter/gpu.prom.tmp /var/lib/node-exporter/gpu.prom
CRON
fi
