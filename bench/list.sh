#!/usr/bin/env bash
# The cost of one list request against the size of the inbox (issue 25 point 3), an A/B of
# herald binaries in one run. For each binary: one node (a separate process) on a fresh
# PostgreSQL database, user 1 with 100 and user 2 with 100,000 notifications seeded by SQL
# (80 % read, one in ten of type `meeting`, the inbox rows and their counts filled as the
# binary's schema has them, then VACUUM ANALYZE); then, per user and query (`limit=50`,
# `unread=true`, `type=general`), BENCH_LISTS sequential GET /auth/notifications/ over one
# keep-alive connection. Prints per line the p50/p99/mean latency seen by the client and the
# CPU per list of PostgreSQL (every postgres process, from /proc) and of the node, and the
# `total` the list answered.
# Machines differ: compare binaries within one run. Read-only after the seed.
# Usage: bench/list.sh OLD_BIN NEW_BIN [more binaries...]
# BENCH_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_LISTS (2000),
# BENCH_DB_PARAMS appended to the node's DATABASE_URL (e.g. "?sslmode=disable").
# Stops everything it started (by PID) and drops its database.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -ge 1 ] || { echo "usage: bench/list.sh OLD_BIN NEW_BIN [more...]" >&2; exit 2; }
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
lists=${BENCH_LISTS:-2000}
# A secret made for this run only: nothing committed is ever a usable secret.
JWT_SECRET=$(openssl rand -hex 32)
export JWT_SECRET
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
node=
db=
client=$(mktemp /tmp/herald-bench-list-XXXXXX.py)
cleanup() {
    if [ -n "$node" ]; then kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; fi
    if [ -n "$db" ]; then psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; fi
    node= db=
}
trap 'cleanup; rm -f "$client"' EXIT
# The client: N sequential lists on one keep-alive connection, after a warm-up. Prints the
# latencies, the CPU per list of PostgreSQL (every process named postgres: its backends opened
# meanwhile count whole) and of the node, from /proc (user + system ticks), and the total.
cat > "$client" <<'PY'
import http.client, json, os, sys, time
port, token, path, n, node = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
tick = os.sysconf("SC_CLK_TCK")
def ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0
def postgres():
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "postgres":
                    found[pid] = ticks(pid)
        except OSError:
            pass
    return found
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
headers = {"Authorization": "Bearer " + token}
def get():
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        sys.exit(f"{path}: {response.status} {body[:200]!r}")
    return body
for _ in range(min(50, n)):
    get()
node_before, postgres_before = ticks(node), postgres()
latencies = []
for _ in range(n):
    start = time.perf_counter()
    body = get()
    latencies.append(time.perf_counter() - start)
node_used = ticks(node) - node_before
postgres_used = sum(t - postgres_before.get(pid, 0) for pid, t in postgres().items())
latencies.sort()
us_per_list = lambda used: used * 1_000_000 / tick / n
print(f"p50_ms={latencies[len(latencies) // 2] * 1000:.2f} p99_ms={latencies[int(len(latencies) * 0.99)] * 1000:.2f} "
      f"mean_ms={sum(latencies) / n * 1000:.2f} cpu_per_list: postgres={us_per_list(postgres_used):.0f}us "
      f"node={us_per_list(node_used):.0f}us total={json.loads(body)['total']}")
PY

seed_sql=$(cat <<'SQL'
INSERT INTO notifications
    (user_id, sender_id, notification_type, title, message, data, link, is_read, realtime, read_at, created_at)
SELECT t.u, NULL, CASE WHEN g % 10 = 0 THEN 'meeting' ELSE 'general' END, 'seeded ' || g,
       'a seeded notification', '{}', NULL, g % 5 <> 0, TRUE,
       CASE WHEN g % 5 <> 0 THEN now() AT TIME ZONE 'UTC' END,
       (now() AT TIME ZONE 'UTC') - make_interval(secs => t.n - g)
FROM (VALUES (1, 100), (2, 100000)) AS t(u, n) CROSS JOIN LATERAL generate_series(1, t.n) AS g
ORDER BY t.u, g;
INSERT INTO inbox_state (user_id, unread_count, last_seq)
SELECT user_id, count(*) FILTER (WHERE NOT is_read), 0 FROM notifications GROUP BY user_id
ON CONFLICT (user_id) DO UPDATE SET unread_count = excluded.unread_count;
-- Builds that keep the total (issue 25) have the column; older ones do not.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_name = 'inbox_state' AND column_name = 'total_count') THEN
        EXECUTE 'UPDATE inbox_state s SET total_count = (SELECT count(*) FROM notifications n WHERE n.user_id = s.user_id)';
    END IF;
END $$;
VACUUM ANALYZE notifications;
VACUUM ANALYZE inbox_state;
SQL
)

for herald in "$@"; do
    echo "== $herald"
    db=herald_bench_list_$$
    port=$(free_port)
    psql "$admin" -qc "CREATE DATABASE $db"
    DATABASE_URL="${admin%/*}/$db${BENCH_DB_PARAMS:-}" HERALD_BIND=127.0.0.1:$port RUST_LOG=warn HERALD_WORKERS=1 \
        HERALD_RATE_LIMIT_PER_SECOND=1000000 HERALD_RATE_LIMIT_BURST=1000000 \
        "$herald" serve > "/tmp/$db.log" 2>&1 &
    node=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    psql "${admin%/*}/$db" -v ON_ERROR_STOP=1 -q -f - <<<"$seed_sql"
    for user in 1 2; do
        rows=$(psql "${admin%/*}/$db" -Atc "SELECT count(*) FROM notifications WHERE user_id = $user")
        token=$("$herald" token --user "$user")
        for query in "?limit=50" "?unread=true&limit=50" "?type=general&limit=50"; do
            figures=$(python3 "$client" "$port" "$token" "/auth/notifications/$query" "$lists" "$node")
            echo "rows=$rows query=$query lists=$lists $figures"
        done
    done
    cleanup
done
