#!/usr/bin/env bash
# Cluster figures: 2 release nodes (separate processes) on one fresh PostgreSQL database and a
# private redis-server on a free port, load from herald-bench (another process):
#   1. cross-node latency at 1,000 creates/s (REST on node A, sockets on node B)
#   2. the highest rate with 0 lost and p99 <= 20 ms (steps up)
#   3. broadcast to 10,000 online users spread over both nodes: POST -> last push
#   4. storm: 10,000 sockets drop at once and resume with `since` (time until all back, lost)
#   5. pushes lost across a Redis kill + restart under 1,000 creates/s
#   6. node loss: 2,000 sockets on node B (opened without `since`), B SIGKILLed, one notification
#      each meanwhile, all resume on A from their greeting's `last_id`: rows replayed = missed
#      (B stays dead: run it last)
# Stops everything it started (by PID). Usage: bench/cluster.sh [steps, default "1 2 3 4 5 6"]
# BENCH_DB_PARAMS is appended to the nodes' DATABASE_URL, e.g. "?sslmode=disable" (libpq
# otherwise negotiates TLS, on loopback too). HERALD_BIN runs another herald binary as the nodes
# (an A/B of two builds with the same load client).
set -euo pipefail
cd "$(dirname "$0")/.."
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=herald_bench_cluster_$$
# A secret drawn for this run: one written here would be public (and is refused beyond loopback).
export JWT_SECRET="$(head -c 32 /dev/urandom | base64)"
ulimit -n "$(ulimit -Hn)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port); port_a=$(free_port); port_b=$(free_port)
cargo build --release -q --bin herald --bin herald-bench
release=${CARGO_TARGET_DIR:-target}/release
herald=${HERALD_BIN:-$release/herald}
psql "$admin" -qc "CREATE DATABASE $db"
pids=()
start_redis() { redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no > /dev/null 2>&1 & redis_pid=$!; for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done; }
start_node() {
    DATABASE_URL="${admin%/*}/$db${BENCH_DB_PARAMS:-}" REDIS_URL="redis://127.0.0.1:$redis_port/" HERALD_BIND=127.0.0.1:$1 RUST_LOG=warn \
        HERALD_DB_POOL_SIZE=24 HERALD_WS_PING_TIMEOUT_SECS=300 "$herald" serve > "/tmp/$db.$1.log" 2>&1 &
    pids+=($!)
}
cleanup() {
    for pid in "${pids[@]}" ${redis_pid:-} $(cat "/tmp/$db.redis2.pid" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    rm -f "/tmp/$db.redis2.pid"
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}
trap cleanup EXIT
start_redis
start_node "$port_a"; sleep 1; start_node "$port_b"
for port in "$port_a" "$port_b"; do
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done
A=http://127.0.0.1:$port_a; B=http://127.0.0.1:$port_b
bench() { "$release/herald-bench" --url "$A" --ws-url "$B" "$@"; }
# CPU ticks (user + system, 1/100 s) of a pid, from /proc; 0 when it is gone.
ticks() { [ -r "/proc/$1/stat" ] && awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Runs a step and prints the CPU it cost the herald nodes and PostgreSQL (every postgres
# process alive at the end, minus what each had used before the step).
with_cpu() {
    declare -A before
    local pid
    for pid in "${pids[@]}" $(pgrep -x postgres || true); do before[$pid]=$(ticks "$pid"); done
    "$@"
    local nodes=0 pg=0
    for pid in "${pids[@]}"; do nodes=$((nodes + $(ticks "$pid") - ${before[$pid]:-0})); done
    for pid in $(pgrep -x postgres || true); do pg=$((pg + $(ticks "$pid") - ${before[$pid]:-0})); done
    echo "cpu: herald_nodes=$((nodes * 10))ms postgres=$((pg * 10))ms"
}
steps=" ${1:-1 2 3 4 5 6} "
step() { [[ "$steps" == *" $1 "* ]]; }

if step 1; then
echo "# 1. cross-node latency at 1000/s"
with_cpu bench latency --rate 1000 --duration 10s --users 100
fi

if step 2; then
echo "# 2. highest rate with 0 lost and p99 <= 20 ms"
bench max-rate --start 1000 --step 1000 --max 20000 --duration 5s --users 200
fi

if step 3; then
echo "# 3. broadcast to 10000 online users over 2 nodes"
"$release/herald-bench" --url "$A" --ws-url "$A,$B" broadcast --users 10000
fi

if step 4; then
echo "# 4. storm: 10000 sockets over 2 nodes drop at once and resume with since"
with_cpu "$release/herald-bench" --url "$A" --ws-url "$A,$B" storm --sockets 10000
fi

if step 5; then
echo "# 5. Redis killed and restarted under 1000/s"
(
    sleep 3; kill -9 "$redis_pid"; sleep 1
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no > /dev/null 2>&1 &
    echo $! > "/tmp/$db.redis2.pid"; echo "redis killed at 3 s, restarted at 4 s" >&2
) &
outage=$!
bench latency --rate 1000 --duration 10s --users 100
wait "$outage"
fi

if step 6; then
echo "# 6. node loss: 2000 sockets on B, B SIGKILLed, all resume on A from the greeting's last_id"
"$release/herald-bench" --url "$A" --ws-url "$B" node-loss --sockets 2000 --kill "${pids[1]}" --resume-url "$A"
fi
