#!/usr/bin/env bash
# Local PostgreSQL from Debian's packages: its own cluster in .local/postgres, on its own port.
# Usage: deploy/local/postgres.sh up|down|status|createdb NAME   (all idempotent)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# As root the server runs as the postgres user, which may not be able to enter the work tree
# (a clone under a 0700 folder, say): then the cluster lives under /var/tmp instead.
choose_pgdir() {
  mkdir -p "$STATE"
  PGDIR="$STATE/postgres"
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$STATE" 2>/dev/null; then
    # One cluster per state dir: the default state dir keeps the path it always had, another
    # (FENGQIAO_STATE_DIR, e.g. the fault tests' second stack) gets its own instead of sharing it.
    local owner="$ROOT"
    [ "$STATE" != "$ROOT/.local" ] && owner="$STATE"
    PGDIR="/var/tmp/fengqiao-$(echo "$owner" | sha1sum | cut -c1-12)/postgres"
  fi
  DATA="$PGDIR/data"
}

find_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1
}

install_server() {
  [ -n "$(find_bindir)" ] && return 0
  [ "$(id -u)" = 0 ] || die "PostgreSQL server binaries are missing: run 'sudo apt-get install -y postgresql' once"
  say "installing PostgreSQL from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
    >"$STATE/postgres-install.log" 2>&1 \
    || die "apt-get install postgresql failed (see $STATE/postgres-install.log): check the Debian mirror"
}

# initdb and the server refuse to run as root, so as root they run as the packages' postgres user.
as_owner() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

running() { [ -d "$DATA" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

psql_admin() {
  PGPASSWORD="$PG_PASSWORD" psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"
}

up() {
  mkdir -p "$STATE"
  install_server
  choose_pgdir
  BIN="$(find_bindir)"
  mkdir -p "$PGDIR"
  [ "$(id -u)" = 0 ] && chown postgres "$PGDIR" && chmod 700 "$PGDIR"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    local pwfile="$PGDIR/.pw"
    echo "$PG_PASSWORD" >"$pwfile"; [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    as_owner "$BIN/initdb" -D "$DATA" -U "$PG_USER" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$PGDIR/initdb.log" 2>&1 \
      || die "initdb failed (see $PGDIR/initdb.log)"
    rm -f "$pwfile"
  fi
  if ! running; then
    port_taken "$PG_PORT" && die "port $PG_PORT is taken by another process: stop it or set FENGQIAO_PG_PORT"
    # Tuned for a disposable 2-core dev box; fsync stays on so durability claims stay honest.
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$PGDIR/server.log" -w -t 60 start -o \
      "-p $PG_PORT -k $PGDIR -c listen_addresses=$PG_HOST -c max_connections=300 -c shared_buffers=256MB -c synchronous_commit=on" \
      >/dev/null || die "PostgreSQL did not start (see $PGDIR/server.log)"
  fi
  say "postgres up on $PG_HOST:$PG_PORT (user $PG_USER, logs: $PGDIR/server.log)"
}

down() {
  choose_pgdir
  BIN="$(find_bindir)"
  if [ -n "$BIN" ] && running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; say "postgres stopped"
  else
    say "postgres not running"
  fi
}

status() {
  choose_pgdir
  BIN="$(find_bindir)"
  if [ -n "$BIN" ] && running; then echo "postgres: up on $PG_HOST:$PG_PORT"
  else echo "postgres: down"; return 1; fi
}

createdb() {
  local name="${1:?database name}"
  [[ "$name" =~ ^[a-z_][a-z0-9_]*$ ]] || die "database name '$name' must be lower-case letters, digits and _"
  if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'")" != 1 ]; then
    psql_admin -c "CREATE DATABASE $name" || die "could not create database $name"
  fi
}

case "${1:-}" in
  up) up ;; down) down ;; status) status ;; createdb) createdb "${2:-}" ;;
  *) die "usage: $0 up|down|status|createdb NAME" ;;
esac
