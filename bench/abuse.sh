#!/usr/bin/env bash
# One abusive end user against another user's delivery (issue 25, "Done when"): 2 release nodes
# (separate processes) on one fresh PostgreSQL database and a private redis-server, load from
# herald-bench (the victim and the abuser each in its own process):
#   1. the victim (user 1, one socket) gets creates at RATE/s for DURATION: create -> delivery
#      p50/p99 alone;
#   2. the same while the abuser (user 1000000) holds 20 sockets over both nodes sending the
#      largest `send_notification` frames (~40 KB) as fast as the node admits them, plus 4 REST
#      clients creating in a loop (from 1 s before the victim's run to 2 s after): the victim's
#      p50/p99 with the abuser, and what the abuser wrote;
#   3. PostgreSQL's growth: the database size before and after, the abuser's rows and bytes, and
#      the most its budget allows (HERALD_RATE_LIMIT_PER_SECOND/_BURST; a create costs 2 units
#      and 1 more per KiB).
# Stops everything it started (by PID). Usage: bench/abuse.sh [rate, default 100] [seconds, default 10]
# The nodes run with the default budgets unless BENCH_RATE_LIMIT / BENCH_RATE_BURST are set.
# HERALD_BIN runs another herald binary as the nodes (an A/B of two builds, same load client).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-100}
duration=${2:-10}s
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=herald_bench_abuse_$$
user_rate=${BENCH_RATE_LIMIT:-40}
user_burst=${BENCH_RATE_BURST:-100}
abuser=1000000
# A secret of this run only: nothing committed to the repository signs its tokens.
JWT_SECRET=$(openssl rand -hex 32)
export JWT_SECRET
ulimit -n "$(ulimit -Hn)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port); port_a=$(free_port); port_b=$(free_port)
cargo build --release -q --bin herald --bin herald-bench
release=${CARGO_TARGET_DIR:-target}/release
herald=${HERALD_BIN:-$release/herald}
psql "$admin" -qc "CREATE DATABASE $db"
database="${admin%/*}/$db"
pids=()
start_node() {
    DATABASE_URL="$database${BENCH_DB_PARAMS:-}" REDIS_URL="redis://127.0.0.1:$redis_port/" HERALD_BIND=127.0.0.1:$1 \
        RUST_LOG=warn HERALD_DB_POOL_SIZE=24 HERALD_RATE_LIMIT_PER_SECOND="$user_rate" \
        HERALD_RATE_LIMIT_BURST="$user_burst" "$herald" serve > "/tmp/$db.$1.log" 2>&1 &
    pids+=($!)
}
cleanup() {
    for pid in "${pids[@]}" ${redis_pid:-}; do kill "$pid" 2>/dev/null || true; done
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}
trap cleanup EXIT
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no > /dev/null 2>&1 &
redis_pid=$!
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
start_node "$port_a"; sleep 1; start_node "$port_b"
for port in "$port_a" "$port_b"; do
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done
A=http://127.0.0.1:$port_a; B=http://127.0.0.1:$port_b
sql() { psql "$database" -Atc "$1"; }
size_before=$(sql "SELECT pg_database_size(current_database())")

echo "# victim: user 1 at $rate/s for $duration; abuser: user $abuser, 20 sockets over 2 nodes + 4 REST clients"
echo "# budget: HERALD_RATE_LIMIT_PER_SECOND=$user_rate HERALD_RATE_LIMIT_BURST=$user_burst (a create costs 2 + 1 per KiB)"
victim() { "$release/herald-bench" --url "$A" --ws-url "$A,$B" latency --rate "$rate" --duration "$duration" --users 1; }
echo "victim alone:       $(victim)"
abuser_seconds=$(( ${duration%s} + 3 ))
"$release/herald-bench" --url "$A" --ws-url "$A,$B" abuse --duration "${abuser_seconds}s" --sockets 20 --rest 4 \
    --abuser "$abuser" > "/tmp/$db.abuser" &
abuser_pid=$!
pids+=("$abuser_pid")
sleep 1
echo "victim with abuser: $(victim)"
wait "$abuser_pid"
out=$(cat "/tmp/$db.abuser"); rm -f "/tmp/$db.abuser"
echo "$out"

sql "CHECKPOINT" >/dev/null
size_after=$(sql "SELECT pg_database_size(current_database())")
read -r rows bytes <<< "$(sql "SELECT count(*), coalesce(sum(octet_length(title) + octet_length(message) \
    + coalesce(octet_length(data), 0) + coalesce(octet_length(link), 0)), 0) FROM notifications \
    WHERE user_id = $abuser" | tr '|' ' ')"
seconds=$(sed -n 's/^abuser: .*seconds=\([0-9.]*\).*/\1/p' <<< "$out")
frame_bytes=$(sed -n 's/^abuser: .*frame_bytes=\([0-9]*\).*/\1/p' <<< "$out")
# A create costs 2 units and 1 more per KiB as sent (at most the burst).
cost=$((2 + frame_bytes / 1024)); cost=$((cost < user_burst ? cost : user_burst))
allowed=$(awk -v r="$user_rate" -v b="$user_burst" -v s="$seconds" -v c="$cost" 'BEGIN { printf "%d", (b + r * s) / c }')
echo "postgres: size_before=$((size_before / 1024))KiB size_after=$((size_after / 1024))KiB" \
    "growth=$(((size_after - size_before) / 1024))KiB"
echo "abuser_rows: stored=$rows content_bytes=$bytes budget_allows_at_most=$allowed (in ${seconds}s)"
