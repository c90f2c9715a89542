#!/usr/bin/env bash
# Memory of a node whose sockets replay a large history to clients that never read: one user
# with 1,000 notifications of ~21 KB each, 20 sockets resuming with since=0 that read nothing.
# Prints the node's peak RSS growth per stuck socket. Give several herald binaries to compare
# builds in one run (A/B), e.g. bench/slow_replay.sh /tmp/herald-old target/release/herald.
# Starts each node on a fresh database and stops what it started.
# Usage: bench/slow_replay.sh [herald binary ...]
set -euo pipefail
cd "$(dirname "$0")/.."
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
port=${BENCH_PORT:-18083}
rows=${BENCH_ROWS:-1000}
sockets=${BENCH_SOCKETS:-20}
# A secret drawn for this run: one written here would be public (and is refused beyond loopback).
export JWT_SECRET="$(head -c 32 /dev/urandom | base64)"
cargo build --release -q --bin herald --bin herald-bench
release=${CARGO_TARGET_DIR:-target}/release
binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=("$release/herald")
node=
db=
cleanup() {
    if [ -n "$node" ]; then kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; fi
    if [ -n "$db" ]; then psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; fi
    node= db=
}
trap cleanup EXIT
for binary in "${binaries[@]}"; do
    db=herald_bench_replay_$$
    psql "$admin" -qc "CREATE DATABASE $db"
    DATABASE_URL="${admin%/*}/$db" HERALD_BIND=127.0.0.1:$port RUST_LOG=warn HERALD_WORKERS=2 \
        HERALD_MAX_SOCKETS_PER_USER=1000 HERALD_WS_PING_TIMEOUT_SECS=300 \
        "$binary" serve > "/tmp/$db.log" 2>&1 &
    node=$!
    for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
    echo "== $binary"
    "$release/herald-bench" --url "http://127.0.0.1:$port" slow-replay --rows "$rows" --sockets "$sockets" --pid "$node"
    cleanup
done
