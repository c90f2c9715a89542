#!/usr/bin/env bash
# WebSocket figures of one node on PostgreSQL: RSS per idle socket (10,000 sockets held by
# two client processes) and REST-create → socket delivery latency at 1,000 creates/s.
# Starts the node on a fresh database and stops what it started. Usage: bench/ws.sh [sockets] [rate]
# HERALD_BIN runs another herald binary as the node (an A/B of two builds, same load client).
# BENCH_INBOX_ROWS=N gives users 1..N an inbox row first (as a database with N notified users),
# so the node's position check reads real rows for every socket's user; the connections line
# then shows PostgreSQL's CPU while the sockets are idle (idle_postgres_cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
sockets=${1:-10000}
rate=${2:-1000}
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=herald_bench_ws_$$
port=${BENCH_PORT:-18081}
# A secret drawn for this run: one written here would be public (and is refused beyond loopback).
export JWT_SECRET="$(head -c 32 /dev/urandom | base64)"
ulimit -n "$(ulimit -Hn)"
cargo build --release -q --bin herald --bin herald-bench
release=${CARGO_TARGET_DIR:-target}/release
herald=${HERALD_BIN:-$release/herald}
psql "$admin" -qc "CREATE DATABASE $db"
DATABASE_URL="${admin%/*}/$db" HERALD_BIND=127.0.0.1:$port RUST_LOG=warn HERALD_DB_POOL_SIZE=32 \
    HERALD_WS_PING_INTERVAL_SECS=30 HERALD_WS_PING_TIMEOUT_SECS=300 \
    "$herald" serve > /tmp/$db.log 2>&1 &
node=$!
cleanup() { kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; }
trap cleanup EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
if [ -n "${BENCH_INBOX_ROWS:-}" ]; then
    psql "${admin%/*}/$db" -qc "INSERT INTO inbox_state (user_id, unread_count, last_seq) \
        SELECT g, 0, 1 FROM generate_series(1, $BENCH_INBOX_ROWS) g ON CONFLICT DO NOTHING; ANALYZE inbox_state"
fi
"$release/herald-bench" --url "http://127.0.0.1:$port" connections --sockets "$sockets" --pid "$node"
"$release/herald-bench" --url "http://127.0.0.1:$port" latency --rate "$rate" --duration 10s --users 100
