#!/usr/bin/env bash
# Standalone Redis against a 3-master Redis Cluster (sharded pub/sub), in one run. For each
# broker: two release nodes (separate processes) on a freshly recreated PostgreSQL database,
# the same settings; node A takes the REST creates, node B holds the sockets, so every push
# crosses nodes through Redis. Prints, for each broker:
#   - baseline: CPU of node B and Redis with no socket (10 s), Redis used_memory;
#   - idle: RSS per idle socket of node B (`herald-bench connections`, 5,000 sockets), then the
#     same sockets held for 30 s: CPU of node B, Redis and the bench database's PostgreSQL
#     backends (position check), the subscriptions Redis holds and its memory per socket, and
#     Redis commands per socket per 10 s (limit heartbeats and socket sets);
#   - p50/p99 at 100/s and 1,000/s (1,000 users); at 1,000/s the CPU per create of the nodes,
#     of Redis (every redis-server of the broker) and of the PostgreSQL backends, CPU per
#     delivered push (node B), and Redis messages per notification (cmdstat_publish +
#     cmdstat_spublish calls / creates), commands, bytes and the top commands per create;
#   - the highest good cross-node rate (herald-bench max-rate, p99 <= 50 ms, 0 lost), and CPU
#     and Redis figures per create over that whole search;
#   - a rough pub/sub ceiling of one Redis (one shard): redis-benchmark PUBLISH (SPUBLISH on the
#     cluster) of 300 B to a channel with one subscriber, and Redis CPU per message;
#   - the WARN/ERROR lines of both node logs.
# CPU comes from /proc/PID/stat (utime + stime) deltas, as in bench/cpu.sh.
# Usage: bench/redis_cluster.sh [--short]   (--short: 1,000 sockets, shorter and fewer steps)
# CARGO_TARGET_DIR (default /work/bench-target): where the release binaries are built.
# BENCH_ADMIN_URL: PostgreSQL admin URL (default postgres://postgres:herald-ci@127.0.0.1:5432/postgres).
# BENCH_DB_PARAMS is appended to the nodes' DATABASE_URL (e.g. "?sslmode=disable").
# Machines differ a lot, and so do runs on a shared machine: compare the two brokers within one
# run. Stops everything it started (by PID), drops its database and removes its temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."

short=false
case "${1:-}" in
    "") ;;
    --short) short=true ;;
    *) echo "usage: bench/redis_cluster.sh [--short]" >&2; exit 2 ;;
esac
if $short; then
    sockets=1000; users=200; fixed=3s; bench_n=50000; idle_window=10
    max_rate_args=(--start 1000 --step 2000 --max 5000 --duration 2s --users 200 --max-p99-ms 50)
else
    sockets=5000; users=1000; fixed=10s; bench_n=500000; idle_window=30
    max_rate_args=(--start 1000 --step 1000 --max 30000 --duration 5s --users 1000 --max-p99-ms 50)
fi
admin=${BENCH_ADMIN_URL:-postgres://postgres:herald-ci@127.0.0.1:5432/postgres}
db=herald_bench_redis_cluster_$$
# A secret drawn for this run: one written here would be public (and is refused beyond loopback).
export JWT_SECRET="$(head -c 32 /dev/urandom | base64)"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/bench-target}
ulimit -n "$(ulimit -Hn)"

cargo build --release --bins
release=$CARGO_TARGET_DIR/release
echo "build: $(git rev-parse --short HEAD 2>/dev/null || echo '?') with $(git status --porcelain 2>/dev/null | wc -l) uncommitted paths; herald sha256 $(sha256sum "$release/herald" | cut -c1-12); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/herald-redis-cluster.XXXXXX")

pids=()        # every process this script started and has not stopped yet
forget() { local keep=() pid; for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done; pids=("${keep[@]}"); }
stop_all() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
cleanup() {
    local status=$? log
    stop_all
    if [ "$status" -ne 0 ]; then
        for log in "$tmp"/*node*.log; do
            [ -e "$log" ] || continue
            echo "--- last lines of $(basename "$log")" >&2; tail -n 20 "$log" >&2
        done
    fi
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# N distinct free loopback ports; with "bus", port + 10000 is free too (a cluster node's bus).
free_ports() {
    python3 - "$@" <<'EOF'
import socket, sys
count, bus = int(sys.argv[1]), len(sys.argv) > 2
held, ports = [], []
for _ in range(200):
    if len(ports) == count:
        break
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    if bus:
        if port + 10000 > 65535:
            s.close(); continue
        b = socket.socket()
        try:
            b.bind(("127.0.0.1", port + 10000))
        except OSError:
            s.close(); continue
        held.append(b)
    held.append(s); ports.append(port)
if len(ports) < count:
    sys.exit("no free ports")
print(" ".join(map(str, ports)))
EOF
}
# CPU ticks (user + system, 1/100 s) of a pid, from /proc; 0 when it is gone.
ticks() { [ -r "/proc/$1/stat" ] && awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
sum_ticks() { local total=0 pid; for pid in "$@"; do total=$((total + $(ticks "$pid"))); done; echo "$total"; }
# ticks (1/100 s) per item, as microseconds
per() { awk -v t="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.0f", t * 10000 / n; else print "n/a" }'; }
# ticks over the idle window, as % of one core
pct() { awk -v t="$1" -v s="$idle_window" 'BEGIN { printf "%.1f%%", t / s }'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
# PostgreSQL backends of the bench database (the nodes' pools and group-commit writers): their
# CPU since `pg_mark` (a backend opened meanwhile counts whole). Other databases on this server
# (other people's tests) and the shared WAL writer/checkpointer are not counted.
declare -A pg_before
pg_pids() { psql "$admin" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$db'"; }
pg_mark() { pg_before=(); local pid; for pid in $(pg_pids); do pg_before[$pid]=$(ticks "$pid"); done; }
pg_since() { local total=0 pid; for pid in $(pg_pids); do total=$((total + $(ticks "$pid") - ${pg_before[$pid]:-0})); done; echo "$total"; }
# Redis counters summed over the broker's redis-servers, as "name value" lines into file $1:
# calls of every command (cmdstat_*), commands processed, network bytes, cluster bus messages.
redis_snapshot() {
    local port
    for port in "${redis_ports[@]}"; do
        redis-cli -p "$port" INFO all
        if $cluster; then redis-cli -p "$port" CLUSTER INFO; fi
    done | tr -d '\r' | awk -F'[:=,]' '
        /^cmdstat_/ { v[$1] += $3 }
        /^(total_commands_processed|total_net_input_bytes|total_net_output_bytes|cluster_stats_messages_sent):/ { v[$1] += $2 }
        END { for (k in v) print k, v[k] }' > "$1"
}
# What changed between two snapshots, divided by $3: messages (PUBLISH + SPUBLISH), commands,
# bytes and the $4 (default 5) most frequent commands (commands run by Lua scripts count too).
redis_per() {
    awk -v n="$3" -v tops="${4:-5}" -v cluster="$cluster" 'NR == FNR { before[$1] = $2; next }
        { d[$1] = $2 - before[$1] }
        END {
            if (n <= 0) { print "n/a"; exit }
            printf "messages=%.3f (PUBLISH %d, SPUBLISH %d) commands=%.2f net_in=%.0fB net_out=%.0fB", (d["cmdstat_publish"] + d["cmdstat_spublish"]) / n, d["cmdstat_publish"], d["cmdstat_spublish"], d["total_commands_processed"] / n, d["total_net_input_bytes"] / n, d["total_net_output_bytes"] / n
            if (cluster == "true") printf " cluster_bus_messages=%.3f", d["cluster_stats_messages_sent"] / n
            top = ""
            for (k = 0; k < tops; k++) {
                best = ""; for (c in d) if (c ~ /^cmdstat_/ && d[c] > 0 && (best == "" || d[c] > d[best])) best = c
                if (best == "") break
                top = top sprintf(" %s=%.3f", substr(best, 9), d[best] / n); delete d[best]
            }
            printf "; top commands:%s\n", top
        }' "$1" "$2"
}
# used_memory (bytes) summed over the broker's redis-servers.
redis_memory() {
    local port
    for port in "${redis_ports[@]}"; do redis-cli -p "$port" INFO memory; done | tr -d '\r' | awk -F: '/^used_memory:/ { n += $2 } END { print n + 0 }'
}
# "channels subscriptions subscriber_connections per-redis-channels" now.
subscription_snapshot() {
    local port channels subs conns total_c=0 total_s=0 total_n=0 split=""
    for port in "${redis_ports[@]}"; do
        channels=$(redis-cli -p "$port" INFO stats | tr -d '\r' | awk -F: '/^pubsub_channels:|^pubsubshard_channels:/ { n += $2 } END { print n + 0 }')
        read -r subs conns < <(redis-cli -p "$port" CLIENT LIST | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^s?sub=/) { split($i, kv, "="); n += kv[2]; if (kv[2] > 0) c++ } } END { print n + 0, c + 0 }')
        total_c=$((total_c + channels)); total_s=$((total_s + subs)); total_n=$((total_n + conns))
        split="${split:+$split/}$channels"
    done
    echo "$total_c $total_s $total_n $split"
}
start_redis() {   # port [cluster]: a private redis-server, no persistence
    local port=$1
    local args=(--port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp")
    [ "${2:-}" = cluster ] && args+=(--cluster-enabled yes --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 5000)
    redis-server "${args[@]}" > "$tmp/redis-$port.log" 2>&1 &
    pids+=($!); redis_pids+=($!)
    for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "redis-server on $port did not start" >&2; return 1
}
wait_cluster_ok() {
    local port state
    for port in "${redis_ports[@]}"; do
        for _ in $(seq 1 100); do
            state=$(redis-cli -p "$port" CLUSTER INFO | tr -d '\r')
            grep -q '^cluster_state:ok' <<<"$state" && grep -q '^cluster_slots_ok:16384' <<<"$state" \
                && grep -q "^cluster_known_nodes:${#redis_ports[@]}" <<<"$state" && continue 2
            sleep 0.1
        done
        echo "redis cluster on $port never reached cluster_state:ok" >&2; return 1
    done
}
start_node() {   # name port: a herald node on the bench database and this run's broker
    env DATABASE_URL="${admin%/*}/$db${BENCH_DB_PARAMS:-}" "${broker_env[@]}" NODE_ID="$1" \
        HERALD_BIND="127.0.0.1:$2" RUST_LOG=warn HERALD_DB_POOL_SIZE=24 HERALD_WS_PING_TIMEOUT_SECS=300 \
        "$release/herald" serve > "$tmp/$variant-node-$1.log" 2>&1 &
    node_pid=$!; pids+=("$node_pid")
    for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return 0; sleep 0.1; done
    echo "node $1 ($variant) not ready after 15 s" >&2; return 1
}
# WARN/ERROR lines in this variant's node logs so far; `new_warnings STEP` prints how many the
# step added (nothing when none), so each warning can be tied to its step.
warning_count() { cat "$tmp/$variant"-node-*.log 2>/dev/null | grep -cE '\b(WARN|ERROR)\b' || true; }
warnings_seen=0
new_warnings() {
    local now; now=$(warning_count)
    [ "$now" -gt "$warnings_seen" ] && echo "  ($1: $((now - warnings_seen)) new WARN/ERROR lines in the node logs)"
    warnings_seen=$now
    return 0
}
# WARN/ERROR lines of this variant's node logs: count, then the most frequent (timestamps cut).
log_findings() {
    local log n
    for log in "$tmp/$variant"-node-*.log; do
        n=$(grep -cE '\b(WARN|ERROR)\b' "$log" || true)
        echo "log $(basename "$log"): $n WARN/ERROR lines"
        grep -E '\b(WARN|ERROR)\b' "$log" | sed -E 's/^\[[^ ]+ +/[/' | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/    /' || true
    done
}

# A rough pub/sub ceiling of one Redis (shard): redis-benchmark PUBLISH (standalone) or
# SPUBLISH (to the master owning the channel's slot) of 300 B, one subscriber reading.
pubsub_ceiling() {
    local channel port=${redis_ports[0]} p publish subscribe sub r0 r1 csv
    if $cluster; then
        publish=SPUBLISH; subscribe=SSUBSCRIBE; channel='herald:{1}:user:1'
        for p in "${redis_ports[@]}"; do
            [[ "$(redis-cli -p "$p" SPUBLISH "$channel" probe 2>&1)" =~ ^[0-9]+$ ]] && { port=$p; break; }
        done
    else
        publish=PUBLISH; subscribe=SUBSCRIBE; channel='herald:user:1'
    fi
    redis-cli -p "$port" "$subscribe" "$channel" > /dev/null 2>&1 & sub=$!
    pids+=("$sub")
    sleep 0.3
    local redis_pid=${redis_pids[0]} i
    for i in "${!redis_ports[@]}"; do [ "${redis_ports[$i]}" = "$port" ] && redis_pid=${redis_pids[$i]}; done
    r0=$(ticks "$redis_pid")
    csv=$(redis-benchmark -p "$port" -c 8 -P 16 -n "$bench_n" --csv "$publish" "$channel" "$(printf 'x%.0s' $(seq 1 300))" | tail -n 1)
    r1=$(ticks "$redis_pid")
    local numsub
    numsub=$(redis-cli -p "$port" PUBSUB "$($cluster && echo SHARDNUMSUB || echo NUMSUB)" "$channel" | tail -n 1)
    kill "$sub" 2>/dev/null || true; wait "$sub" 2>/dev/null || true; forget "$sub"
    local rps
    rps=$(cut -d, -f2 <<<"$csv" | tr -d '"')
    echo "pubsub ceiling of one redis ($publish, 300 B, 1 subscriber, redis-benchmark -c 8 -P 16 -n $bench_n): $(printf '%.0f' "$rps")/s, redis cpu $(awk -v t=$((r1 - r0)) -v n="$bench_n" 'BEGIN { printf "%.2f", t * 10000 / n }')us per message, subscriber still attached: $numsub"
}

declare -A summary
for variant in standalone cluster; do
    echo "== $variant"
    redis_pids=()
    if [ "$variant" = cluster ]; then
        cluster=true
        read -r -a redis_ports <<<"$(free_ports 3 bus)"
        for port in "${redis_ports[@]}"; do start_redis "$port" cluster; done
        redis-cli --cluster create $(printf '127.0.0.1:%s ' "${redis_ports[@]}") --cluster-replicas 0 --cluster-yes \
            > "$tmp/cluster-create.log" 2>&1
        wait_cluster_ok
        broker_env=(REDIS_CLUSTER_URLS="$(printf 'redis://127.0.0.1:%s,' "${redis_ports[@]}" | sed 's/,$//')")
        echo "redis: 3-master cluster on ports ${redis_ports[*]} (no replicas), redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
    else
        cluster=false
        read -r -a redis_ports <<<"$(free_ports 1)"
        start_redis "${redis_ports[0]}"
        broker_env=(REDIS_URL="redis://127.0.0.1:${redis_ports[0]}/")
        echo "redis: standalone on port ${redis_ports[0]}, redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
    fi
    psql "$admin" -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    read -r port_a port_b <<<"$(free_ports 2)"
    start_node a "$port_a"; node_a=$node_pid
    start_node b "$port_b"; node_b=$node_pid
    A=http://127.0.0.1:$port_a; B=http://127.0.0.1:$port_b
    bench() { "$release/herald-bench" --url "$A" --ws-url "$B" "$@"; }
    # Users 1..$sockets get an inbox row (as users notified before), so the position check
    # reads real rows for every socket's user.
    psql "${admin%/*}/$db" -qc "INSERT INTO inbox_state (user_id, unread_count, last_seq) \
        SELECT g, 0, 1 FROM generate_series(1, $sockets) g ON CONFLICT DO NOTHING; ANALYZE inbox_state"

    # What the nodes and Redis spend with no socket at all (pings, slot-map polls, cluster bus).
    b0=$(ticks "$node_b"); r0=$(sum_ticks "${redis_pids[@]}"); sleep 10
    memory0=$(redis_memory)
    echo "baseline, no sockets, 10 s: cpu node B=$(awk -v t=$(($(ticks "$node_b") - b0)) 'BEGIN { printf "%.1f%%", t / 10 }') redis=$(awk -v t=$(($(sum_ticks "${redis_pids[@]}") - r0)) 'BEGIN { printf "%.1f%%", t / 10 }') redis used_memory=$((memory0 / 1024))KiB"

    # Idle sockets first, on a fresh node B (its allocator has not grown yet).
    warnings_seen=$(warning_count)
    idle_line=$("$release/herald-bench" --url "$B" connections --sockets "$sockets" --pid "$node_b")
    echo "idle: $idle_line"
    new_warnings "opening $sockets sockets and holding them"

    # The same sockets held by one client process for a fixed window: what idle sockets cost
    # node B, Redis (subscriptions, limit heartbeats) and PostgreSQL (the position check).
    mkfifo "$tmp/hold.$variant"
    "$release/herald-bench" --url "$B" connections --pid "$node_b" --sockets "$sockets" --first-user 1 \
        < "$tmp/hold.$variant" > "$tmp/hold.$variant.out" 2>&1 &
    holder=$!; pids+=("$holder")
    exec {hold_fd}> "$tmp/hold.$variant"
    for _ in $(seq 1 600); do grep -q '^opened' "$tmp/hold.$variant.out" && break; sleep 0.1; done
    sleep 3   # subscriptions confirmed, first lease renewal of the new sockets
    read -r channels subscriptions sub_connections split <<<"$(subscription_snapshot)"
    memory1=$(redis_memory)
    redis_snapshot "$tmp/r0"; pg_mark
    b0=$(ticks "$node_b"); r0=$(sum_ticks "${redis_pids[@]}")
    sleep "$idle_window"
    b=$(($(ticks "$node_b") - b0)); r=$(($(sum_ticks "${redis_pids[@]}") - r0)); p=$(pg_since)
    redis_snapshot "$tmp/r1"
    exec {hold_fd}>&-
    wait "$holder" 2>/dev/null || true; forget "$holder"
    echo "idle window: $(sed -n 's/^opened \([0-9]*\) \([0-9]*\)/\1 sockets held (\2 failed)/p' "$tmp/hold.$variant.out") by one process for ${idle_window}s: cpu node B=$(pct "$b") redis=$(pct "$r") postgres_backends=$(pct "$p")"
    echo "idle window: subscriptions: channels=$channels (per redis $split) subscriptions=$subscriptions subscriber_connections=$sub_connections; redis used_memory=$((memory1 / 1024))KiB, $(((memory1 - memory0) / sockets))B per socket above the baseline (channels, socket sets)"
    echo "idle window: redis per socket per 10 s: $(redis_per "$tmp/r0" "$tmp/r1" "$((sockets * idle_window / 10))" 8 | sed 's/^messages=[^ ]* ([^)]*) //')"
    new_warnings "idle window (opening included)"

    slow=$(bench latency --rate 100 --duration "$fixed" --users "$users")
    echo "100/s:   $slow"
    new_warnings "100/s"

    redis_snapshot "$tmp/r0"; pg_mark
    a0=$(ticks "$node_a"); b0=$(ticks "$node_b"); r0=$(sum_ticks "${redis_pids[@]}")
    fast=$(bench latency --rate 1000 --duration "$fixed" --users "$users")
    a=$(($(ticks "$node_a") - a0)); b=$(($(ticks "$node_b") - b0)); r=$(($(sum_ticks "${redis_pids[@]}") - r0))
    p=$(pg_since); redis_snapshot "$tmp/r1"
    echo "1000/s:  $fast"
    created=$(field created "$fast"); delivered=$(field delivered "$fast")
    cpu_line="nodes=$(per $((a + b)) "$created")us redis=$(per "$r" "$created")us postgres_backends=$(per "$p" "$created")us"
    messages=$(redis_per "$tmp/r0" "$tmp/r1" "$created")
    echo "cpu per create at 1000/s: $cpu_line (node A $(per "$a" "$created")us, node B $(per "$b" "$created")us)"
    echo "cpu per delivered push at 1000/s (node B): $(per "$b" "$delivered")us"
    echo "redis per create at 1000/s: $messages"
    new_warnings "1000/s"

    echo "highest rate with p99 <= 50 ms and 0 lost:"
    redis_snapshot "$tmp/r0"; a0=$(ticks "$node_a"); b0=$(ticks "$node_b"); r0=$(sum_ticks "${redis_pids[@]}")
    bench max-rate "${max_rate_args[@]}" | tee "$tmp/steps" | sed 's/^/  /'
    a=$(($(ticks "$node_a") - a0)); b=$(($(ticks "$node_b") - b0)); r=$(($(sum_ticks "${redis_pids[@]}") - r0))
    redis_snapshot "$tmp/r1"
    all=$(grep -o ' created=[0-9]*' "$tmp/steps" | awk -F= '{ n += $2 } END { print n + 0 }')
    echo "over the max-rate search ($all creates): cpu per create nodes=$(per $((a + b)) "$all")us redis=$(per "$r" "$all")us"
    echo "over the max-rate search, redis per create: $(redis_per "$tmp/r0" "$tmp/r1" "$all")"
    new_warnings "max-rate search"
    best=$(sed -n 's/.*highest good rate=\([0-9]*\/s\).*/\1/p' "$tmp/steps")

    for pid in "$node_a" "$node_b"; do kill "$pid" 2>/dev/null || true; done
    for pid in "$node_a" "$node_b"; do wait "$pid" 2>/dev/null || true; forget "$pid"; done
    pubsub_ceiling
    log_findings
    stop_all

    summary[$variant]="rss per idle socket=$(sed -n 's/.*per_socket=[0-9]*B (\([^)]*\)).*/\1/p' <<<"$idle_line"); max-rate=$best; 1000/s: p50=$(field p50 "$fast") p99=$(field p99 "$fast") lost=$(field lost "$fast"); cpu per create $cpu_line; redis ${messages%% (*} per create"
done
echo "== summary (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
for variant in standalone cluster; do printf '%-10s %s\n' "$variant:" "${summary[$variant]}"; done
