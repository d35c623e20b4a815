#!/usr/bin/env bash
# Installs the test-only system packages the suite uses, when missing: the PostgreSQL
# server binaries (the tests start their own servers from them in temporary folders), and
# Node.js with npm (the OpenID Connect tests install the npm package oidc-provider into
# ~/.cache and run it on loopback), and Chromium (the console's browser tests drive it headless
# with Playwright, pointed at this binary: no browser is downloaded).
set -euo pipefail
need=()
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
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
# Debian's postgresql package starts a cluster of its own on install. This script just
# installed it (there was no PostgreSQL before), so it stops what the install started and
# nothing else: the tests never use that cluster.
if [[ " ${need[*]} " == *" postgresql "* ]] && command -v pg_ctlcluster >/dev/null 2>&1; then
  $SUDO service postgresql stop >/dev/null 2>&1 || true
fi
