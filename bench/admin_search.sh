#!/usr/bin/env bash
# The admin console's search at scale (issue 26): a release node on a fresh PostgreSQL database
# holding ROWS notifications (default 10,000,000: 100,000 users, 8 types, 50 senders, 70 % read,
# spread over 90 days), then each filtered page requested REPEAT times over one keep-alive
# connection: p50/p95/max per query, and PostgreSQL's plan for the same statement (EXPLAIN
# ANALYZE) so the index it uses is visible. Stops what it started (by PID), drops its database.
# Usage: bench/admin_search.sh [rows, default 10000000] [repeat, default 200]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
repeat=${2:-200}
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=herald_bench_admin_$$
JWT_SECRET=$(openssl rand -hex 32)
export JWT_SECRET
cargo build --release -q --bin herald
herald=${HERALD_BIN:-${CARGO_TARGET_DIR:-target}/release/herald}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
node=""
cleanup() {
    [ -z "$node" ] || kill "$node" 2>/dev/null || true
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}
trap cleanup EXIT
psql "$admin" -qc "CREATE DATABASE $db"
database="${admin%/*}/$db"
DATABASE_URL="$database" "$herald" migrate > /dev/null
sql() { psql "$database" -qAtc "$1"; }

started=$(date +%s)
# Loaded without the notifications indexes, which are built once afterwards (as a restore would).
indexes=$(sql "SELECT string_agg(indexdef, ';') FROM pg_indexes WHERE tablename = 'notifications' AND indexname <> 'notifications_pkey'")
for name in $(sql "SELECT indexname FROM pg_indexes WHERE tablename = 'notifications' AND indexname <> 'notifications_pkey'"); do
    sql "DROP INDEX $name"
done
sql "INSERT INTO notifications (user_id, sender_id, notification_type, title, message, data, link, is_read, realtime, read_at, created_at)
     SELECT 1 + (i % 100000), 1 + (i % 50),
            (ARRAY['meeting','meeting_response','action_item','general','approval','meeting_invitation','meeting_scheduled','mom_created'])[1 + (i / 7) % 8],
            (ARRAY['Approval needed for budget ','Standup moved to ','Action item due: report ','Weekly digest ','Invoice ','Meeting invitation: review '])[1 + (i / 3) % 6] || i,
            'Notification ' || i || ' for user ' || (1 + i % 100000) || ': please look at item ' || (i % 977),
            '{}', NULL, (i % 10) < 7, true, NULL,
            now() - ((($rows - i)::float / $rows) * interval '90 days')
     FROM generate_series(1, $rows) AS i"
IFS=';' read -ra defs <<< "$indexes"
for def in "${defs[@]}"; do sql "$def"; done
sql "INSERT INTO inbox_state (user_id, unread_count, last_seq, total_count)
     SELECT user_id, count(*) FILTER (WHERE NOT is_read), 0, count(*) FROM notifications GROUP BY user_id"
sql "VACUUM ANALYZE notifications"
echo "# loaded $rows notifications in $(( $(date +%s) - started )) s; database $(sql "SELECT pg_size_pretty(pg_database_size(current_database()))")"

DATABASE_URL="$database" HERALD_BIND="127.0.0.1:$port" RUST_LOG=warn HERALD_RATE_LIMIT_PER_SECOND=100000 \
    HERALD_RATE_LIMIT_BURST=100000 "$herald" serve > "/tmp/$db.log" 2>&1 &
node=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break; sleep 0.1; done
token=$(python3 - "$JWT_SECRET" <<'EOF'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"user_id": 1, "is_staff": True, "exp": int(time.time()) + 3600}).encode())
sig = b64(hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
EOF
)
middle=$(sql "SELECT max(id) / 2 FROM notifications")
day_ago=$(sql "SELECT to_char((now() - interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")

# name | query string | the WHERE clause PostgreSQL gets for it (for EXPLAIN)
queries=(
    "newest|limit=50|true"
    "one user|user_id=4211&limit=50|user_id = 4211"
    "one type|type=approval&limit=50|notification_type IN ('approval')"
    "two types, unread|type=approval,meeting&is_read=false&limit=50|notification_type IN ('approval','meeting') AND is_read = false"
    "one sender, deep page|sender_id=7&before=$middle&limit=50|sender_id = 7 AND id < $middle"
    "last day|created_after=$day_ago&limit=50|created_at >= '$day_ago'"
    "user + words|user_id=4211&q=budget&limit=50|user_id = 4211 AND (lower(title) LIKE '%budget%' OR lower(message) LIKE '%budget%')"
    "words|q=budget%20123&limit=50|(lower(title) LIKE '%budget 123%' OR lower(message) LIKE '%budget 123%')"
    "rare words|q=item%20976%3A&limit=50|(lower(title) LIKE '%item 976:%' OR lower(message) LIKE '%item 976:%')"
)
for entry in "${queries[@]}"; do
    IFS='|' read -r name query where <<< "$entry"
    python3 - "$port" "$token" "/admin/api/notifications/?$query" "$repeat" "$name" <<'EOF'
import http.client, json, sys, time
port, token, path, repeat, name = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
conn = http.client.HTTPConnection("127.0.0.1", int(port))
took, statuses, count = [], {}, 0
for _ in range(repeat):
    start = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    res = conn.getresponse()
    body = res.read()
    took.append((time.perf_counter() - start) * 1000)
    statuses[res.status] = statuses.get(res.status, 0) + 1
    if res.status == 200:
        count = len(json.loads(body)["notifications"])
took.sort()
pct = lambda p: took[min(len(took) - 1, int(p * len(took)))]
print(f"admin_search: query={name!r} requests={repeat} statuses={statuses} rows={count} "
      f"p50={pct(0.5):.2f}ms p95={pct(0.95):.2f}ms max={took[-1]:.2f}ms")
EOF
    plan=$(sql "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT * FROM notifications WHERE $where ORDER BY id DESC LIMIT 51")
    echo "$plan" | sed 's/^/    plan: /'
done
