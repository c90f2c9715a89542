#!/usr/bin/env bash
# Stops a loaded node N times (issue 25, point 13: a crash at exit, "double free or corruption",
# once seen when a loaded node on PostgreSQL over TLS was stopped): each round starts a release
# node on a fresh database over `sslmode=require`, loads it with `herald-bench create` (32
# clients) and sends SIGTERM while the load runs; prints each non-zero exit with its stderr's
# last lines, then the count. Usage: bench/exit_stops.sh [rounds, default 50]
# HERALD_BIN runs another herald binary (an A/B of two builds). Stops what it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-50}
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=herald_bench_exit_$$
JWT_SECRET=$(openssl rand -hex 32)
export JWT_SECRET
cargo build --release -q --bin herald --bin herald-bench
release=${CARGO_TARGET_DIR:-target}/release
herald=${HERALD_BIN:-$release/herald}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
[ "$(psql "$admin" -Atc 'SHOW ssl')" = on ] || { echo "needs ssl = on in PostgreSQL" >&2; exit 1; }
psql "$admin" -qc "CREATE DATABASE $db"
node_pid=""; load_pid=""
cleanup() {
    for pid in $node_pid $load_pid; do kill "$pid" 2>/dev/null || true; done
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
    rm -f "/tmp/$db.log"
}
trap cleanup EXIT
failed=0
for round in $(seq 1 "$rounds"); do
    port=$(free_port)
    DATABASE_URL="${admin%/*}/$db?sslmode=require" HERALD_BIND=127.0.0.1:$port HERALD_WORKERS=2 \
        HERALD_DB_POOL_SIZE=6 HERALD_SHUTDOWN_TIMEOUT_SECS=2 RUST_LOG=warn "$herald" serve > "/tmp/$db.log" 2>&1 &
    node_pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    "$release/herald-bench" --url "http://127.0.0.1:$port" create --clients 32 --duration 5s > /dev/null 2>&1 &
    load_pid=$!
    # Stopped while loaded: between 0.5 and 1.5 s into the load.
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.5 + r / 32768 }')"
    kill -TERM "$node_pid"
    status=0; wait "$node_pid" || status=$?
    node_pid=""
    kill "$load_pid" 2>/dev/null || true; wait "$load_pid" 2>/dev/null || true; load_pid=""
    if [ "$status" -ne 0 ]; then
        failed=$((failed + 1))
        echo "round $round: exit status $status"; tail -n 5 "/tmp/$db.log"
    fi
done
echo "exit_stops: binary=$herald rounds=$rounds nonzero_exits=$failed"
