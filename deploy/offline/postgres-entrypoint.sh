#!/usr/bin/env bash
# The parts of the official postgres image's entrypoint that docker-compose.yml uses: a fresh
# PGDATA is initialised with POSTGRES_USER/POSTGRES_PASSWORD (scram) and POSTGRES_DB, then
# `postgres` runs as the postgres user, listening on every interface.
set -euo pipefail
if [ "${1:-}" = postgres ]; then
    : "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
    mkdir -p "$PGDATA" /run/postgresql
    chown -R postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        pwfile=$(mktemp)
        printf '%s' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" > "$pwfile"
        chown postgres "$pwfile"
        gosu postgres initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
            --auth-host=scram-sha-256 > /dev/null
        rm -f "$pwfile"
        echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
        if [ "$POSTGRES_DB" != postgres ]; then
            gosu postgres postgres --single -D "$PGDATA" -c listen_addresses='' postgres \
                <<< "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\";" > /dev/null
        fi
    fi
    shift
    exec gosu postgres postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
