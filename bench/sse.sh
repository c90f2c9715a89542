#!/usr/bin/env bash
# SSE next to WebSocket on one node on PostgreSQL, in one run:
#   - RSS per idle connection: N WebSockets, then N SSE streams (one user each, held by two client
#     processes; `herald-bench connections --transport ws|sse`), each count on a freshly started
#     node (same binary, database and settings) so neither reuses memory the other freed;
#   - REST-create → delivery latency p50/p99 at the same rate and duration for 100 users' WebSockets,
#     then their SSE streams, on one node (`herald-bench latency --transport ws|sse`).
# Starts the node on a fresh database and stops what it started.
# Usage: bench/sse.sh [connections] [rate] [duration]   (defaults: 5000 1000 10s)
# HERALD_BIN runs another herald binary as the node.
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-5000}
rate=${2:-1000}
duration=${3:-10s}
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=herald_bench_sse_$$
port=${BENCH_PORT:-18082}
# A secret drawn for this run: one written here would be public (and is refused beyond loopback).
export JWT_SECRET="$(head -c 32 /dev/urandom | base64)"
ulimit -n "$(ulimit -Hn)"
cargo build --release -q --bin herald --bin herald-bench
release=${CARGO_TARGET_DIR:-target}/release
herald=${HERALD_BIN:-$release/herald}
bench=("$release/herald-bench" --url "http://127.0.0.1:$port")
psql "$admin" -qc "CREATE DATABASE $db"
node=
start_node() {
    DATABASE_URL="${admin%/*}/$db" HERALD_BIND=127.0.0.1:$port RUST_LOG=warn HERALD_DB_POOL_SIZE=32 \
        HERALD_WS_PING_INTERVAL_SECS=30 HERALD_WS_PING_TIMEOUT_SECS=300 \
        "$herald" serve >> /tmp/$db.log 2>&1 &
    node=$!
    for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.2; done
    echo "the node did not get ready: see /tmp/$db.log" >&2
    exit 1
}
stop_node() {
    kill "$node" 2>/dev/null || true
    wait "$node" 2>/dev/null || true
    node=
}
cleanup() {
    [ -n "$node" ] && stop_node
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}
trap cleanup EXIT
echo "== $(nproc) cores; node, PostgreSQL and the load clients share them; $connections idle connections per transport, latency at $rate/s for $duration"
for transport in ws sse; do
    start_node
    "${bench[@]}" connections --transport "$transport" --sockets "$connections" --pid "$node"
    stop_node
done
start_node
for transport in ws sse; do
    "${bench[@]}" latency --transport "$transport" --rate "$rate" --duration "$duration" --users 100
done
