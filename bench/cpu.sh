#!/usr/bin/env bash
# CPU per notification, an A/B of herald binaries in one run (issue 15): for each binary, two
# release nodes (separate processes) on one fresh PostgreSQL database (emptied between binaries)
# and a private redis-server; 1,000 users with their sockets on node B, creates POSTed to node A
# (each recipient's socket on the other node). Prints for each binary:
#   - p50/p99 at 100 creates/s and at 1,000 creates/s (10 s each);
#   - at 1,000/s, CPU per create of both nodes, of PostgreSQL (every postgres process) and of
#     Redis, and CPU per delivered push (node B: subscriber decode, hub fan-out, socket write),
#     from /proc, and how many creates each group-commit statement stored (node A's metric);
#   - the highest rate held with p99 <= 50 ms and 0 lost (steps of 1,000/s, 5 s each).
# Machines differ a lot: compare binaries within one run, never across machines.
# Usage: bench/cpu.sh OLD_BIN NEW_BIN [more binaries...]
# BENCH_DB_PARAMS is appended to the nodes' DATABASE_URL (e.g. "?sslmode=disable"; libpq
# otherwise negotiates TLS, on loopback too). Stops everything it started (by PID).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -ge 1 ] || { echo "usage: bench/cpu.sh OLD_BIN NEW_BIN [more...]" >&2; exit 2; }
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=herald_bench_cpu_$$
# A secret drawn for this run: one written here would be public (and is refused beyond loopback).
export JWT_SECRET="$(head -c 32 /dev/urandom | base64)"
ulimit -n "$(ulimit -Hn)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cargo build --release -q --bin herald-bench
release=${CARGO_TARGET_DIR:-target}/release
psql "$admin" -qc "CREATE DATABASE $db"
pids=()
redis_pid=
stop_all() {
    for pid in "${pids[@]}" $redis_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}" $redis_pid; do wait "$pid" 2>/dev/null || true; done
    pids=(); redis_pid=
}
cleanup() { stop_all; psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; }
trap cleanup EXIT
# CPU ticks (user + system, 1/100 s) of a pid, from /proc; 0 when it is gone.
ticks() { [ -r "/proc/$1/stat" ] && awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# PostgreSQL's CPU since `postgres_mark`: every postgres process alive now, minus what each had
# used at the mark (backends the pool opened meanwhile count whole).
declare -A postgres_before
postgres_mark() { postgres_before=(); local pid; for pid in $(pgrep -x postgres || true); do postgres_before[$pid]=$(ticks "$pid"); done; }
postgres_since() { local total=0 pid; for pid in $(pgrep -x postgres || true); do total=$((total + $(ticks "$pid") - ${postgres_before[$pid]:-0})); done; echo "$total"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
# Node A's group-commit histogram, "sum count" (0 0 for a build without it).
batches() {
    curl -sf "http://127.0.0.1:$port_a/metrics" | awk '/^herald_group_commit_batch_size_sum/ { s = $NF } /^herald_group_commit_batch_size_count/ { c = $NF } END { print s + 0, c + 0 }'
}
# ticks (1/100 s) per item, as microseconds
per() { awk -v t="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.0f", t * 10000 / n; else print "n/a" }'; }

for herald in "$@"; do
    echo "== $herald"
    redis_port=$(free_port); port_a=$(free_port); port_b=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no > /dev/null 2>&1 &
    redis_pid=$!
    for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    for port in "$port_a" "$port_b"; do
        DATABASE_URL="${admin%/*}/$db${BENCH_DB_PARAMS:-}" REDIS_URL="redis://127.0.0.1:$redis_port/" \
            HERALD_BIND=127.0.0.1:$port RUST_LOG=warn HERALD_DB_POOL_SIZE=24 HERALD_WS_PING_TIMEOUT_SECS=300 \
            "$herald" serve > "/tmp/$db.$port.log" 2>&1 &
        pids+=($!)
        for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    done
    node_a=${pids[0]}; node_b=${pids[1]}
    bench() { "$release/herald-bench" --url "http://127.0.0.1:$port_a" --ws-url "http://127.0.0.1:$port_b" "$@"; }

    slow=$(bench latency --rate 100 --duration 10s --users 1000)
    echo "100/s:   $slow"

    batches0=$(batches)
    a0=$(ticks "$node_a"); b0=$(ticks "$node_b"); r0=$(ticks "$redis_pid"); postgres_mark
    fast=$(bench latency --rate 1000 --duration 10s --users 1000)
    a=$(($(ticks "$node_a") - a0)); b=$(($(ticks "$node_b") - b0)); r=$(($(ticks "$redis_pid") - r0))
    p=$(postgres_since)
    echo "1000/s:  $fast"
    created=$(field created "$fast"); delivered=$(field delivered "$fast")
    echo "cpu per create at 1000/s: nodes=$(per $((a + b)) "$created")us postgres=$(per "$p" "$created")us redis=$(per "$r" "$created")us (node A $(per "$a" "$created")us, node B $(per "$b" "$created")us)"
    echo "cpu per delivered push at 1000/s (node B): $(per "$b" "$delivered")us"
    echo "group commit at 1000/s (node A): $(awk -v a="$batches0" -v b="$(batches)" 'BEGIN { split(a, x); split(b, y); n = y[2] - x[2]; if (n > 0) printf "%.2f creates per statement, %d statements", (y[1] - x[1]) / n, n; else print "n/a (no herald_group_commit_batch_size metric)" }')"

    echo "highest rate with p99 <= 50 ms and 0 lost:"
    bench max-rate --start 1000 --step 1000 --max 30000 --duration 5s --users 1000 --max-p99-ms 50 | sed 's/^/  /'

    stop_all
    psql "${admin%/*}/$db" -qc "TRUNCATE notifications, inbox_state, notification_preferences, idempotency_keys"
done
