#!/usr/bin/env bash
# Installs what the project needs on a Debian machine: system packages through
# apt (only those missing), then a virtualenv with the pinned requirements.
#
#   scripts/bootstrap.sh          runtime (make run)
#   scripts/bootstrap.sh --dev    runtime + test tools and Chromium (make test)
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
dev=0
[ "${1:-}" = "--dev" ] && dev=1

log() { printf '[bootstrap] %s\n' "$*" >&2; }

apt_missing=()
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || apt_missing+=("$1"); }

command -v "$PYTHON" >/dev/null || need_pkg python3
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need_pkg python3-venv
command -v make >/dev/null || need_pkg make
command -v debootstrap >/dev/null || need_pkg debootstrap
# openssl makes the development sign-in provider's signing key (scripts/env_secrets.py).
command -v openssl >/dev/null || need_pkg openssl
# npm fetches the console's browser libraries (scripts/vendor_assets.sh).
command -v npm >/dev/null || { need_pkg nodejs; need_pkg npm; }
# WeasyPrint and friends come with later features; Chromium drives browser tests.
if [ "$dev" = 1 ]; then
  command -v chromium >/dev/null || need_pkg chromium
  fc-list 2>/dev/null | grep -qi dejavu || need_pkg fonts-dejavu-core
fi

if [ ${#apt_missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "missing system packages: ${apt_missing[*]} (run as root or install them)"; exit 1; }
  log "installing system packages: ${apt_missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi

scripts/vendor_assets.sh
# The checkout's own random SECRET_KEY and AE_SECRET_KEKS in .env (kept once written).
"$PYTHON" scripts/env_secrets.py

reqs=requirements/base.txt
[ "$dev" = 1 ] && reqs=requirements/dev.txt
hash=$(cat requirements/*.txt | sha256sum | cut -c1-16)
stamp="$VENV/.installed-$hash-$dev"
# A dev install also satisfies a runtime one.
if [ -f "$stamp" ] || [ -f "$VENV/.installed-$hash-1" ]; then exit 0; fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
log "installing $reqs into $VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1
"$VENV/bin/python" -m pip install -q -r "$reqs" 2> >(grep -v "is ignored: it is neither" >&2)
rm -f "$VENV"/.installed-*
touch "$stamp"
