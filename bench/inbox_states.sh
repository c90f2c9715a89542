#!/usr/bin/env bash
# The inbox model at scale (issue 28), on PostgreSQL and on SQLite: a release node on a fresh
# database holding ROWS notifications (default 1,000,000: 100 users of 10,000 each, the default
# storage cap; 8 types in 3 categories, `data` {"project": 0-49, "team": …}, 70 % read, a tenth of
# the read ones archived, a tenth of the unread ones seen, over 90 days; per user, so every
# user's inbox looks alike), then
#   - every list filter requested REPEAT times over one keep-alive connection: p50/p95/max, and
#     CPU per request of the node and of PostgreSQL (every postgres process, from /proc);
#   - bulk actions on one user's 10,000 notifications (seen, read, archive, unarchive by filter;
#     unread of 1,000 ids; delete all): latency, rows changed, node and PostgreSQL CPU.
# CPU per create is bench/cpu.sh's A/B (run it with the binary before and after).
# Usage: bench/inbox_states.sh [rows, default 1000000] [repeat, default 200]
# BENCH_ADMIN_URL: the PostgreSQL to create the database in; BENCH_BACKENDS: which of
# "postgres sqlite" to run (default both). Stops what it started (by PID).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
repeat=${2:-200}
users=$((rows / 10000)); [ "$users" -ge 1 ] || users=1
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=herald_bench_states_$$
sqlite_dir=$(mktemp -d)
JWT_SECRET=$(openssl rand -hex 32)
export JWT_SECRET
export HERALD_NOTIFICATION_TYPES="meeting:meetings,meeting_response:meetings,meeting_invitation:meetings,meeting_scheduled:meetings,mom_created:meetings,action_item:work,approval:work,general"
cargo build --release -q --bin herald
herald=${HERALD_BIN:-${CARGO_TARGET_DIR:-target}/release/herald}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
node=""
cleanup() {
    [ -z "$node" ] || { kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; }
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
    rm -rf "$sqlite_dir"
}
trap cleanup EXIT
ticks() { [ -r "/proc/$1/stat" ] && awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
declare -A postgres_before
postgres_mark() { postgres_before=(); local pid; for pid in $(pgrep -x postgres || true); do postgres_before[$pid]=$(ticks "$pid"); done; }
postgres_since() { local total=0 pid; for pid in $(pgrep -x postgres || true); do total=$((total + $(ticks "$pid") - ${postgres_before[$pid]:-0})); done; echo "$total"; }
# ticks (1/100 s) per item, as microseconds
per() { awk -v t="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.0f", t * 10000 / n; else print "n/a" }'; }

# The rows, one SELECT over i = 1..rows for both databases (PostgreSQL: generate_series; SQLite:
# a recursive CTE); `$now` is the database's own "now".
select_rows() {
    local series=$1 now=$2 ago=$3
    cat <<SQL
SELECT 1 + (i % $users), 1 + (i % 50),
       CASE ((i / $users) / 7) % 8 WHEN 0 THEN 'meeting' WHEN 1 THEN 'meeting_response' WHEN 2 THEN 'action_item'
            WHEN 3 THEN 'general' WHEN 4 THEN 'approval' WHEN 5 THEN 'meeting_invitation'
            WHEN 6 THEN 'meeting_scheduled' ELSE 'mom_created' END,
       'Notification ' || i, 'for user ' || (1 + i % $users),
       '{"project":' || (i % 50) || ',"team":"t' || (i % 7) || '"}', NULL,
       ((i / $users) % 10) < 7, true, CASE WHEN ((i / $users) % 10) < 7 THEN $now END,
       $ago,
       CASE WHEN ((i / $users) % 10) < 7 OR ((i / $users) % 40) > 36 THEN $now END,
       CASE WHEN ((i / $users) % 10) = 0 THEN $now END
FROM $series
SQL
}
columns="user_id, sender_id, notification_type, title, message, data, link, is_read, realtime, read_at, created_at, seen_at, archived_at"
counts_sql="INSERT INTO inbox_state (user_id, unread_count, last_seq, total_count, seen_unread_count, hidden_count)
     SELECT user_id, sum(CASE WHEN is_read THEN 0 ELSE 1 END), 0, count(*),
            sum(CASE WHEN NOT is_read AND seen_at IS NOT NULL THEN 1 ELSE 0 END),
            sum(CASE WHEN archived_at IS NOT NULL OR snoozed_until IS NOT NULL THEN 1 ELSE 0 END)
     FROM notifications GROUP BY user_id"

load_postgres() {
    psql "$admin" -qc "CREATE DATABASE $db"
    database="${admin%/*}/$db"
    DATABASE_URL="$database" "$herald" migrate > /dev/null
    psql "$database" -qc "INSERT INTO notifications ($columns)
        $(select_rows "generate_series(1, $rows) AS i" "now() AT TIME ZONE 'UTC'" "(now() AT TIME ZONE 'UTC') - ((($rows - i)::float / $rows) * interval '90 days')")"
    psql "$database" -qc "$counts_sql"
    psql "$database" -qc "VACUUM ANALYZE notifications"
}

load_sqlite() {
    database="sqlite://$sqlite_dir/herald.db"
    DATABASE_URL="$database" "$herald" migrate > /dev/null
    sqlite3 "$sqlite_dir/herald.db" "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $rows)
        INSERT INTO notifications ($columns)
        $(select_rows "s" "strftime('%Y-%m-%d %H:%M:%f', 'now')" "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (($rows - i) * 7776000 / $rows) || ' seconds')");
        $counts_sql; ANALYZE;"
}

start_node() {
    port=$(free_port)
    DATABASE_URL="$database" HERALD_BIND="127.0.0.1:$port" RUST_LOG=warn HERALD_RATE_LIMIT_PER_SECOND=100000 \
        HERALD_RATE_LIMIT_BURST=100000 "$herald" serve > "/tmp/$db.log" 2>&1 &
    node=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break; sleep 0.1; done
}

stop_node() { kill "$node"; wait "$node" 2>/dev/null || true; node=""; }

# `client.py PORT list|bulk …`: requests over one keep-alive connection, timed.
client=$(mktemp)
cat > "$client" <<'EOF'
import base64, hashlib, hmac, http.client, json, os, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def token(user):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"user_id": user, "exp": int(time.time()) + 3600}).encode())
    sig = b64(hmac.new(os.environ["JWT_SECRET"].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
def call(method, path, user, body=None):
    headers = {"Authorization": f"Bearer {token(user)}", "Content-Type": "application/json"}
    start = time.perf_counter()
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    res = conn.getresponse()
    data = json.loads(res.read())
    return res.status, data, (time.perf_counter() - start) * 1000
if sys.argv[2] == "list":
    path, repeat, name = sys.argv[3], int(sys.argv[4]), sys.argv[5]
    took, statuses = [], {}
    for n in range(repeat):
        status, data, ms = call("GET", path, 1 + n % int(os.environ["USERS"]))
        took.append(ms)
        statuses[status] = statuses.get(status, 0) + 1
    took.sort()
    pct = lambda p: took[min(len(took) - 1, int(p * len(took)))]
    print(f"list: filter={name!r} requests={repeat} statuses={statuses} rows={len(data.get('notifications', []))} "
          f"total={data.get('total')} (of the last user) p50={pct(0.5):.2f}ms p95={pct(0.95):.2f}ms max={took[-1]:.2f}ms")
else:
    body = json.loads(sys.argv[3])
    status, data, ms = call("POST", "/auth/notifications/bulk/", int(sys.argv[4]), body)
    print(f"bulk: {sys.argv[5]!r} status={status} changed={data.get('changed')} unread={data.get('unread_count')} "
          f"unseen={data.get('unseen_count')} took={ms:.1f}ms")
EOF

# `measure BACKEND COMMAND…`: runs the client, prints its line and the CPU it cost per request.
measure() {
    local backend=$1; shift
    local n0 out n p; n0=$(ticks "$node"); postgres_mark
    out=$("$@")
    n=$(( $(ticks "$node") - n0 )); p=$(postgres_since)
    echo "$out"
    if [ "$backend" = postgres ]; then
        echo "    cpu per request: node=$(per "$n" "$requests")us postgres=$(per "$p" "$requests")us"
    else
        echo "    cpu per request: node=$(per "$n" "$requests")us (SQLite runs in the node)"
    fi
}

run_lists() {
    local backend=$1
    local day_ago; day_ago=$(python3 -c 'import datetime; print((datetime.datetime.utcnow() - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
    local filters=(
        "default|"
        "unread (the original's)|unread=true"
        "two types|types=approval,meeting"
        "category|category=work"
        "unseen|seen=false"
        "archived|archived=true"
        "last day|created_after=$day_ago"
        "data project=7|data=%7B%22project%22%3A7%7D"
        "data team + type|data=%7B%22team%22%3A%22t3%22%7D&type=approval"
        "read, deep page|read=true&before=$((rows / 2))"
    )
    for entry in "${filters[@]}"; do
        IFS='|' read -r name query <<< "$entry"
        requests=$repeat
        measure "$backend" python3 "$client" "$port" list "/auth/notifications/?$query" "$repeat" "$name"
    done
}

run_bulk() {
    local backend=$1 user=1
    requests=1
    for step in \
        'seen (all unseen)|{"action":"seen","filter":{"seen":false}}' \
        'read (all unread)|{"action":"read","filter":{"read":false}}' \
        'archive all read|{"action":"archive","filter":{"read":true}}' \
        'unarchive all|{"action":"unarchive","filter":{"archived":true}}' \
        'unread 1,000 ids|UNREAD_IDS' \
        'delete all|{"action":"delete","filter":{}}'; do
        IFS='|' read -r name body <<< "$step"
        if [ "$body" = UNREAD_IDS ]; then
            body=$(python3 - "$database" "$backend" "$user" <<'EOF'
import json, subprocess, sys
database, backend, user = sys.argv[1], sys.argv[2], sys.argv[3]
sql = f"SELECT id FROM notifications WHERE user_id = {user} ORDER BY id DESC LIMIT 1000"
if backend == "postgres":
    out = subprocess.run(["psql", database, "-qAtc", sql], capture_output=True, text=True).stdout
else:
    out = subprocess.run(["sqlite3", database.removeprefix("sqlite://"), sql], capture_output=True, text=True).stdout
print(json.dumps({"action": "unread", "ids": [int(x) for x in out.split()]}))
EOF
)
        fi
        measure "$backend" python3 "$client" "$port" bulk "$body" "$user" "$name"
    done
}

export USERS=$users
for backend in ${BENCH_BACKENDS:-postgres sqlite}; do
    started=$(date +%s)
    "load_$backend"
    echo "== $backend: loaded $rows notifications ($users users) in $(( $(date +%s) - started )) s"
    start_node
    run_lists "$backend"
    run_bulk "$backend"
    stop_node
done
rm -f "$client"
