#!/usr/bin/env bash
# Installs the test-only system packages (PostgreSQL server, Chromium) when missing.
set -euo pipefail
need=()
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "error: missing ${need[*]} and not root; install them with apt-get" >&2; exit 1
  fi
fi
echo "Installing ${need[*]} from Debian packages..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts a cluster on install; the tests start their own servers.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for c in $(ls /etc/postgresql/*/ 2>/dev/null); do :; done
  $SUDO service postgresql stop >/dev/null 2>&1 || true
fi
