#!/usr/bin/env bash
# Sets up a fresh machine that has only Node.js and npm: Bun and Deno from npm, Debian's jsonnet
# (the real Jsonnet engine used by `render` and the tests), the project's packages, and a running
# PostgreSQL where one is installed (the Postgres store tests use 127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."

BUN_VERSION=1.4.5
DENO_VERSION=2.9.6

if ! command -v bun >/dev/null 2>&1; then
  echo "setup: installing bun@$BUN_VERSION from npm"
  npm install -g --no-fund --no-audit "bun@$BUN_VERSION"
fi
if ! command -v deno >/dev/null 2>&1; then
  echo "setup: installing deno@$DENO_VERSION from npm"
  npm install -g --no-fund --no-audit "deno@$DENO_VERSION" || echo "setup: deno could not be installed; the Deno parity check will fail"
fi
# jsonnet: the real Jsonnet engine for `render` and the body tests; curl: the compiled-binary smoke
# test; systemd: `systemd-analyze verify` of deploy/systemd/kratos-hooks.service; chromium: the real
# browser the admin page is tested in (headless, driven by puppeteer-core).
missing=""
command -v jsonnet >/dev/null 2>&1 || missing="$missing jsonnet"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

bun install --frozen-lockfile

# PostgreSQL: start the local cluster if it is installed and not answering.
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "setup: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
echo "setup: bun $(bun --version), deno $(deno --version 2>/dev/null | head -n1 | cut -d' ' -f2), $(jsonnet --version 2>&1 | head -n1)"
