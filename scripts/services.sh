#!/usr/bin/env bash
# Local backing services without Docker: PostgreSQL 17 (TimescaleDB, hll,
# tdigest, pgvector), Redis, and MariaDB (a stand-in for the MySQL/MariaDB
# systems source connections read, docs/sources.md), run from a Debian 13 root
# filesystem that is built once with debootstrap and cached outside the checkout.
#
#   scripts/services.sh up|down|status|env|mirror
#
# DATABASE_URL / REDIS_URL, when set, name servers of your own: the matching
# local service is then neither built nor started.
set -euo pipefail

CACHE_DIR=${AE_CACHE_DIR:-/var/cache/analytics-engine}
ROOTFS=${AE_ROOTFS:-$CACHE_DIR/trixie-rootfs}
PG_PORT=${AE_PG_PORT:-54329}
REDIS_PORT=${AE_REDIS_PORT:-63799}
# One port per stack, beside its PostgreSQL port (54329 -> 33069), so parallel stacks do not collide.
MARIADB_PORT=${AE_MARIADB_PORT:-$((PG_PORT - 21260))}
# MariaDB's account for source tests and demo sources (it may create databases).
MARIADB_USER=${AE_MARIADB_USER:-ae}
MARIADB_PASSWORD=${AE_MARIADB_PASSWORD:-ae}
PG_USER=${AE_PG_USER:-ae}
PG_PASSWORD=${AE_PG_PASSWORD:-ae}
PG_DB=${AE_PG_DB:-analytics_engine}
# The CQRS read side's role (settings: AE_READONLY_USER / AE_READONLY_PASSWORD).
RO_USER=${AE_READONLY_USER:-ae_readonly}
RO_PASSWORD=${AE_READONLY_PASSWORD:-ae_readonly}
# Extensions only a superuser may create: made here, in the database and in
# template1 (so the test databases the app role creates have them too).
PG_EXTENSIONS="timescaledb hll tdigest vector"
SUITE=trixie
PACKAGES="postgresql-17,postgresql-17-timescaledb,postgresql-17-hll,postgresql-17-tdigest,postgresql-17-pgvector,redis-server,mariadb-server"
PG_BIN=/usr/lib/postgresql/17/bin
# Data folders live inside the root filesystem (the servers run chrooted there),
# one set per port pair so parallel stacks do not collide.
STATE_IN=/srv/analytics-engine/$PG_PORT-$REDIS_PORT
STATE=$ROOTFS$STATE_IN

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

want_pg() { [ -z "${DATABASE_URL:-}" ]; }
want_redis() { [ -z "${REDIS_URL:-}" ]; }
want_mariadb() { [ -z "${AE_MARIADB_URL:-}" ]; }

# The first Debian mirror named in the host's apt sources (one-line or deb822
# format), skipping security and third-party repositories.
host_mirror() {
  if [ -n "${AE_DEBIAN_MIRROR:-}" ]; then echo "$AE_DEBIAN_MIRROR"; return; fi
  local apt_dir=${AE_APT_DIR:-/etc/apt} files=()
  [ -f "$apt_dir/sources.list" ] && files+=("$apt_dir/sources.list")
  for f in "$apt_dir"/sources.list.d/*.list "$apt_dir"/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || die "no apt sources found; set AE_DEBIAN_MIRROR"
  awk '
    function emit(uri, suites) {
      if (uri ~ /\/debian\/?$/ && suites !~ /-security/) { print uri; found = 1; exit }
    }
    # mawk (Debian'\''s awk) has no ENDFILE: flush a paragraph at the next file and at END.
    FNR == 1 { if (uris != "") emit(uris, suites); uris = ""; suites = "" }
    /^deb[ \t]/ && $0 !~ /^deb-src/ {
      line = $0; sub(/\[[^]]*\]/, "", line); split(line, f, /[ \t]+/); emit(f[2], f[3]); next
    }
    /^URIs:/   { uris = $2 }
    /^Suites:/ { suites = $0 }
    /^[ \t]*$/ { if (uris != "") emit(uris, suites); uris = ""; suites = "" }
    END        { if (!found && uris != "") emit(uris, suites) }
  ' "${files[@]}" | head -n 1
}

ensure_host_tools() {
  command -v debootstrap >/dev/null && return
  log "installing debootstrap"
  apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
}

build_rootfs() {
  local marker=$ROOTFS/.analytics-engine-packages
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$PACKAGES" ]; then return; fi
  mkdir -p "$CACHE_DIR"
  exec 9>"$CACHE_DIR/.build.lock"
  log "waiting for the build lock"
  flock -w 900 9 || die "another build of the root filesystem has held the lock for 15 minutes"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$PACKAGES" ]; then flock -u 9; return; fi
  if [ -f "$marker" ]; then add_packages "$marker"; flock -u 9; return; fi
  ensure_host_tools
  local mirror
  mirror=$(host_mirror)
  [ -n "$mirror" ] || die "no Debian mirror in the host's apt sources; set AE_DEBIAN_MIRROR"
  local tmp=$ROOTFS.building
  rm -rf "$tmp"
  log "building the $SUITE root filesystem from $mirror (once, about a minute)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp" "$mirror" \
    >"$CACHE_DIR/debootstrap.log" 2>&1 || die "debootstrap failed, see $CACHE_DIR/debootstrap.log"
  echo "$PACKAGES" >"$tmp/.analytics-engine-packages"
  rm -rf "$ROOTFS"
  mv "$tmp" "$ROOTFS"
  flock -u 9
}

# A root filesystem built for an older package list gets the missing packages
# installed in place: its data folders (and servers running from them) stay.
add_packages() {
  local marker=$1 missing
  missing=$(comm -13 <(tr ',' '\n' <"$marker" | sort) <(tr ',' '\n' <<<"$PACKAGES" | sort) | tr '\n' ' ')
  if [ -n "${missing// /}" ]; then
    log "adding packages to the root filesystem: $missing"
    # No daemon may start inside the chroot while packages install.
    printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
    chmod +x "$ROOTFS/usr/sbin/policy-rc.d"
    # shellcheck disable=SC2086
    { in_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
      && in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; } \
      >"$CACHE_DIR/add-packages.log" 2>&1 || die "installing $missing failed, see $CACHE_DIR/add-packages.log"
  fi
  echo "$PACKAGES" >"$marker"
}

in_root() { chroot "$ROOTFS" "$@"; }
as_postgres() { chroot --userspec=postgres:postgres "$ROOTFS" env HOME=/var/lib/postgresql "$@"; }

pg_running() {
  [ -f "$STATE/pg/postmaster.pid" ] || return 1
  local pid
  pid=$(head -n 1 "$STATE/pg/postmaster.pid")
  kill -0 "$pid" 2>/dev/null
}

redis_running() {
  [ -f "$STATE/redis/redis.pid" ] && kill -0 "$(cat "$STATE/redis/redis.pid")" 2>/dev/null
}

mariadb_running() {
  [ -f "$STATE/mariadb/mariadb.pid" ] && kill -0 "$(cat "$STATE/mariadb/mariadb.pid")" 2>/dev/null
}

mariadb_local() {
  in_root mariadb --protocol=socket --socket="$STATE_IN/mariadb/mariadb.sock" -u root "$@"
}

psql_local() {
  as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$STATE_IN/run" -p "$PG_PORT" -U postgres "$@"
}

pg_init() {
  [ -f "$STATE/pg/PG_VERSION" ] && return
  log "initialising PostgreSQL data in $STATE/pg"
  mkdir -p "$STATE/pg" "$STATE/run"
  in_root chown -R postgres:postgres "$STATE_IN/pg" "$STATE_IN/run"
  chmod 700 "$STATE/pg"
  as_postgres "$PG_BIN/initdb" -D "$STATE_IN/pg" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$STATE/initdb.log" 2>&1 \
    || die "initdb failed, see $STATE/initdb.log"
  cat >>"$STATE/pg/postgresql.conf" <<EOF

# analytics-engine local services
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$STATE_IN/run'
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_connections = 300
shared_buffers = 512MB
work_mem = 32MB
maintenance_work_mem = 256MB
dynamic_shared_memory_type = mmap
EOF
}

pg_start() {
  if pg_running; then log "PostgreSQL already running on 127.0.0.1:$PG_PORT"; pg_roles_converge; return; fi
  pg_init
  mkdir -p "$STATE/run" "$STATE/log"
  in_root chown postgres:postgres "$STATE_IN/run" "$STATE_IN/log"
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  # The servers must not inherit the lock descriptors (8, 9): a daemon holding
  # them would make every later `up` wait forever.
  # -o: settings raised since a data folder was initialised apply to it too
  # (100 concurrent API requests hold up to two connections each: bench/concurrency.py).
  as_postgres "$PG_BIN/pg_ctl" -D "$STATE_IN/pg" -l "$STATE_IN/log/postgresql.log" -o "-c max_connections=300" \
    -w -t 60 start >/dev/null 8>&- 9>&- \
    || die "PostgreSQL did not start, see $STATE/log/postgresql.log"
  pg_roles_converge
}

# Least privilege, converged on every `up` (older data folders made the
# application's role a superuser): the application's role owns its database
# and schemas and nothing more (CREATEDB only so the test suite can create
# its database); the read-only role may log in and, per the migrations'
# grants, SELECT from analytics_data. A production DBA does the same once
# (docs/operations.md, "Database roles").
pg_roles_converge() {
  psql_local -d postgres -v app="$PG_USER" -v app_pw="$PG_PASSWORD" -v ro="$RO_USER" -v ro_pw="$RO_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'app') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec
ALTER ROLE :"app" LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'app_pw';
SELECT format('CREATE ROLE %I LOGIN', :'ro') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'ro') \gexec
ALTER ROLE :"ro" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'ro_pw';
ALTER ROLE :"ro" SET default_transaction_read_only = on;
SQL
  if [ "$(psql_local -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != "1" ]; then
    psql_local -d postgres -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\""
  fi
  local db ext statements="SET client_min_messages = warning;"
  for ext in $PG_EXTENSIONS; do statements+=" CREATE EXTENSION IF NOT EXISTS \"$ext\";"; done
  for db in template1 "$PG_DB"; do psql_local -d "$db" -c "$statements"; done
}

redis_start() {
  if redis_running; then log "Redis already running on 127.0.0.1:$REDIS_PORT"; return; fi
  mkdir -p "$STATE/redis"
  cat >"$STATE/redis/redis.conf" <<EOF
bind 127.0.0.1
port $REDIS_PORT
daemonize yes
pidfile $STATE_IN/redis/redis.pid
logfile $STATE_IN/redis/redis.log
dir $STATE_IN/redis
appendonly yes
appendfsync everysec
EOF
  in_root chown -R redis:redis "$STATE_IN/redis"
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  chroot --userspec=redis:redis "$ROOTFS" redis-server "$STATE_IN/redis/redis.conf" 8>&- 9>&-
  local i
  for i in $(seq 1 100); do
    if in_root redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then return; fi
    sleep 0.1
  done
  die "Redis did not answer on 127.0.0.1:$REDIS_PORT, see $STATE/redis/redis.log"
}

mariadb_start() {
  if mariadb_running; then log "MariaDB already running on 127.0.0.1:$MARIADB_PORT"; mariadb_account; return; fi
  mkdir -p "$STATE/mariadb/data"
  in_root chown -R mysql:mysql "$STATE_IN/mariadb"
  if [ ! -d "$STATE/mariadb/data/mysql" ]; then
    log "initialising MariaDB data in $STATE/mariadb/data"
    in_root mariadb-install-db --user=mysql --datadir="$STATE_IN/mariadb/data" --skip-test-db \
      --auth-root-authentication-method=socket >"$STATE/mariadb/install.log" 2>&1 \
      || die "mariadb-install-db failed, see $STATE/mariadb/install.log"
  fi
  log "starting MariaDB on 127.0.0.1:$MARIADB_PORT"
  # Small buffers: it holds test and demo sources, not the platform's data.
  setsid chroot "$ROOTFS" mariadbd --user=mysql --datadir="$STATE_IN/mariadb/data" \
    --port="$MARIADB_PORT" --bind-address=127.0.0.1 --socket="$STATE_IN/mariadb/mariadb.sock" \
    --pid-file="$STATE_IN/mariadb/mariadb.pid" --log-error="$STATE_IN/mariadb/mariadb.log" \
    --skip-name-resolve --innodb-buffer-pool-size=64M --max-connections=200 \
    </dev/null >/dev/null 2>&1 8>&- 9>&- &
  local i
  for i in $(seq 1 300); do
    if mariadb_local -e "SELECT 1" >/dev/null 2>&1; then mariadb_account; return; fi
    sleep 0.1
  done
  die "MariaDB did not answer on 127.0.0.1:$MARIADB_PORT, see $STATE/mariadb/mariadb.log"
}

mariadb_account() {
  mariadb_local <<SQL
CREATE USER IF NOT EXISTS '$MARIADB_USER'@'127.0.0.1' IDENTIFIED BY '$MARIADB_PASSWORD';
ALTER USER '$MARIADB_USER'@'127.0.0.1' IDENTIFIED BY '$MARIADB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$MARIADB_USER'@'127.0.0.1';
SQL
}

stop_pid() { # name pidfile [signal]
  local name=$1 pidfile=$2 signal=${3:-INT} pid i
  [ -f "$pidfile" ] || { log "$name not running"; return; }
  pid=$(head -n 1 "$pidfile")
  if ! kill -0 "$pid" 2>/dev/null; then log "$name not running"; return; fi
  log "stopping $name (pid $pid)"
  kill "-$signal" "$pid" 2>/dev/null || kill -TERM "$pid"
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "$name (pid $pid) did not stop within 30 s"
}

cmd_up() {
  if want_pg || want_redis || want_mariadb; then build_rootfs; fi
  # One starter at a time per stack: a second `up` waits, then finds it running.
  mkdir -p "$CACHE_DIR"
  exec 8>"$CACHE_DIR/.up-$PG_PORT-$REDIS_PORT.lock"
  flock -w 300 8 || die "another 'services.sh up' has held the lock for 5 minutes; is it stuck?"
  if want_pg; then pg_start; else log "DATABASE_URL set: using that server"; fi
  if want_redis; then redis_start; else log "REDIS_URL set: using that server"; fi
  if want_mariadb; then mariadb_start; else log "AE_MARIADB_URL set: using that server"; fi
}

cmd_down() {
  if want_pg; then stop_pid PostgreSQL "$STATE/pg/postmaster.pid"; fi
  # Redis takes SIGTERM as "save and exit"; SIGINT would do the same.
  if want_redis; then stop_pid Redis "$STATE/redis/redis.pid"; fi
  if want_mariadb; then stop_pid MariaDB "$STATE/mariadb/mariadb.pid" TERM; fi
}

cmd_status() {
  local rc=0
  if want_pg; then
    if pg_running; then echo "postgresql: running on 127.0.0.1:$PG_PORT (pid $(head -n 1 "$STATE/pg/postmaster.pid"))"
    else echo "postgresql: stopped"; rc=1; fi
  else echo "postgresql: external ($DATABASE_URL)"; fi
  if want_redis; then
    if redis_running; then echo "redis: running on 127.0.0.1:$REDIS_PORT (pid $(cat "$STATE/redis/redis.pid"))"
    else echo "redis: stopped"; rc=1; fi
  else echo "redis: external"; fi
  if want_mariadb; then
    if mariadb_running; then echo "mariadb: running on 127.0.0.1:$MARIADB_PORT (pid $(cat "$STATE/mariadb/mariadb.pid"))"
    else echo "mariadb: stopped"; rc=1; fi
  else echo "mariadb: external ($AE_MARIADB_URL)"; fi
  return $rc
}

cmd_env() {
  echo "DATABASE_URL=${DATABASE_URL:-postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB}"
  echo "REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}"
  echo "AE_MARIADB_URL=${AE_MARIADB_URL:-mysql://$MARIADB_USER:$MARIADB_PASSWORD@127.0.0.1:$MARIADB_PORT/}"
}

need_root() {
  if [ "$(id -u)" != 0 ] && { want_pg || want_redis || want_mariadb; }; then
    die "local services run in a chroot and need root; or set DATABASE_URL and REDIS_URL"
  fi
}

case "${1:-}" in
  up) need_root; cmd_up ;;
  down) need_root; cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  mirror) host_mirror ;;
  *) echo "usage: $0 up|down|status|env|mirror" >&2; exit 2 ;;
esac
