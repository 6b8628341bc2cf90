#!/bin/bash
# First start: a cluster in $PGDATA whose superuser is $POSTGRES_USER (default sandbox) with the password in
# $POSTGRES_PASSWORD or the file $POSTGRES_PASSWORD_FILE (a Swarm secret), a database $POSTGRES_DB (default sandbox),
# password logins over TCP only (scram-sha-256). Then PostgreSQL in the foreground, listening on every address.
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
user="${POSTGRES_USER:-sandbox}"
db="${POSTGRES_DB:-sandbox}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"; fi
  [ -n "${POSTGRES_PASSWORD:-}" ] || { echo "sandbox-postgres: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE" >&2; exit 2; }
  pw="$(mktemp)"; printf '%s\n' "$POSTGRES_PASSWORD" > "$pw"
  "$bin/initdb" -D "$PGDATA" -U "$user" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
  rm -f "$pw"
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  if [ "$db" != "postgres" ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\";" | "$bin/postgres" --single -D "$PGDATA" -j postgres >/dev/null
  fi
fi
exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*' -c max_connections="${POSTGRES_MAX_CONNECTIONS:-200}" -c fsync="${POSTGRES_FSYNC:-on}"
