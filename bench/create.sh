#!/usr/bin/env bash
# REST create throughput of one node on PostgreSQL: starts a release node on a fresh database
# (on the local PostgreSQL, or BENCH_ADMIN_URL), runs `herald-bench create`, prints its line,
# and stops what it started. Usage: bench/create.sh [clients] [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-32}
duration=${2:-10s}
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=herald_bench_$$
port=${BENCH_PORT:-18080}
# A secret drawn for this run: one written here would be public (and is refused beyond loopback).
export JWT_SECRET="$(head -c 32 /dev/urandom | base64)"
cargo build --release -q --bin herald --bin herald-bench
psql "$admin" -qc "CREATE DATABASE $db"
DATABASE_URL="${admin%/*}/$db" HERALD_BIND=127.0.0.1:$port RUST_LOG=warn HERALD_DB_POOL_SIZE=${BENCH_POOL:-32} \
    target/release/herald serve > /tmp/$db.log 2>&1 &
node=$!
cleanup() { kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; }
trap cleanup EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
target/release/herald-bench --url "http://127.0.0.1:$port" create --clients "$clients" --duration "$duration"
