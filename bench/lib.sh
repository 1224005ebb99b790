# Shared helpers for bench/*.sh: tools from Debian, machine facts for the recorded results.
set -euo pipefail
need() { command -v "$1" >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
machine() {
  echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "bun $(bun --version), $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"
}
