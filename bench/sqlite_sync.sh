#!/usr/bin/env bash
# The cost of SQLite's durable default: REST create throughput of one release node on a fresh
# SQLite file with HERALD_SQLITE_SYNCHRONOUS=full (every commit synced before its 201) and then
# =normal (synced at WAL checkpoints only), one `herald-bench create` line each; stops what it
# started. Run it on a quiet machine, on the disk production uses (fsync cost is the disk's).
# Usage: bench/sqlite_sync.sh [clients] [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-32}
duration=${2:-10s}
port=${BENCH_PORT:-18081}
JWT_SECRET=$(openssl rand -hex 32)
export JWT_SECRET
cargo build --release -q --bin herald --bin herald-bench
dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/herald-sqlite-sync.XXXXXX")
node=
cleanup() {
    if [ -n "$node" ]; then kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
for mode in full normal; do
    rm -f "$dir"/herald.db*
    DATABASE_URL="sqlite://$dir/herald.db" HERALD_SQLITE_SYNCHRONOUS=$mode HERALD_BIND=127.0.0.1:$port RUST_LOG=warn \
        target/release/herald serve > "$dir/$mode.log" 2>&1 &
    node=$!
    for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
    echo "HERALD_SQLITE_SYNCHRONOUS=$mode:"
    target/release/herald-bench --url "http://127.0.0.1:$port" create --clients "$clients" --duration "$duration"
    kill "$node"; wait "$node" 2>/dev/null || true; node=
done
