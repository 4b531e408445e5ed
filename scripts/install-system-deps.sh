#!/usr/bin/env bash
# Installs the system services Cordon's tests and demo run on: Mosquitto, PostgreSQL with
# TimescaleDB (built from Debian's own source package: bookworm does not ship it), and Chromium for
# the browser tests. Idempotent: each step is skipped when what it installs is already there.
#   usage: scripts/install-system-deps.sh [--with-browser]
set -euo pipefail

with_browser=0
[[ "${1:-}" == "--with-browser" ]] && with_browser=1

log() { printf '[deps] %s\n' "$*"; }

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive

apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then
    log "apt-get update"
    "${sudo_cmd[@]}" apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- Mosquitto -------------------------------------------------------------------------------
if ! command -v mosquitto >/dev/null 2>&1 && [[ ! -x /usr/sbin/mosquitto ]]; then
  apt_install mosquitto mosquitto-clients
else
  log "mosquitto present"
fi

# --- PostgreSQL ------------------------------------------------------------------------------
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt_install postgresql postgresql-client
else
  log "postgresql present"
fi
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pg_major=$(basename "$(dirname "$pg_bin")")
pg_config="$pg_bin/pg_config"
[[ -x "$pg_config" ]] || pg_config=$(command -v pg_config)

# --- TimescaleDB (Apache-licensed part, from Debian trixie's source package) -------------------
pkglibdir=$("$pg_config" --pkglibdir 2>/dev/null || echo "/usr/lib/postgresql/$pg_major/lib")
if ls "$pkglibdir"/timescaledb*.so >/dev/null 2>&1; then
  log "timescaledb present in $pkglibdir"
else
  log "building TimescaleDB for PostgreSQL $pg_major (about a minute)"
  src_list=/etc/apt/sources.list.d/cordon-trixie-src.sources
  if [[ ! -f $src_list ]]; then
    "${sudo_cmd[@]}" tee "$src_list" >/dev/null <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt_updated=0
  fi
  apt_install "postgresql-server-dev-$pg_major" libssl-dev cmake dpkg-dev build-essential
  work=$(mktemp -d)
  (cd "$work" && apt-get source -qq timescaledb >/dev/null 2>&1)
  src=$(find "$work" -maxdepth 1 -type d -name 'timescaledb-*' | head -n 1)
  [[ -n "$src" ]] || { echo "[deps] could not fetch the timescaledb source package" >&2; exit 1; }
  cmake -S "$src" -B "$work/build" -DPG_CONFIG="$pg_bin/pg_config" -DAPACHE_ONLY=1 \
    -DUSE_TELEMETRY=OFF -DSEND_TELEMETRY_DEFAULT=OFF -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
    -DWARNINGS_AS_ERRORS=OFF >"$work/cmake.log" 2>&1 || { tail -n 30 "$work/cmake.log"; exit 1; }
  "${sudo_cmd[@]}" make -C "$work/build" -j"$(nproc)" install >"$work/make.log" 2>&1 \
    || { tail -n 30 "$work/make.log"; exit 1; }
  rm -rf "$work"
  log "timescaledb installed"
  # postgresql-server-dev may have upgraded the server packages: restart a running cluster.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
      if [[ "$status" == online* ]]; then
        "${sudo_cmd[@]}" pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" restart || true
      fi
    done
  fi
fi

# --- Chromium for the browser tests ----------------------------------------------------------
if [[ $with_browser -eq 1 ]]; then
  if [[ ! -x /usr/bin/chromium ]]; then
    apt_install chromium fonts-dejavu-core
  else
    log "chromium present"
  fi
fi
log "system dependencies ready"
