#!/usr/bin/env bash
# The JS client's tests: one Herald node from $HERALD_BIN (default target/debug/herald) on a free
# loopback port, SQLite in a temporary directory, a random JWT_SECRET; Node's test runner against
# it over real sockets (clients/js/test/*.test.mjs); then the type declarations checked with tsc.
# The node is stopped by its pid and the directory removed, whatever happens.
#
#   cargo build && bash clients/js/test/run.sh
#   HERALD_BIN=target/release/herald bash clients/js/test/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"

bin="${HERALD_BIN:-target/debug/herald}"
if [ ! -x "$bin" ]; then
    echo "run.sh: no herald binary at $bin: run cargo build, or set HERALD_BIN" >&2
    exit 1
fi
for tool in node tsc; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (apt-get install nodejs node-typescript)" >&2; exit 1; }
done

tmp="$(mktemp -d)"
pid=""
stop_node() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    pid=""
}
trap 'stop_node; rm -rf "$tmp"' EXIT

port="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
secret="$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')"
leeway=1 # seconds: the token-expiry tests wait exp + this for the server's 4001
url="http://127.0.0.1:$port"

HERALD_BIND="127.0.0.1:$port" \
DATABASE_URL="sqlite://$tmp/herald.db" \
JWT_SECRET="$secret" \
JWT_LEEWAY_SECONDS="$leeway" \
HERALD_RATE_LIMIT_PER_SECOND=1000 \
HERALD_RATE_LIMIT_BURST=2000 \
HERALD_WS_FRAMES_PER_SECOND=1000 \
RUST_LOG="${RUST_LOG:-warn}" \
    "$bin" serve >"$tmp/node.log" 2>&1 &
pid=$!

ready=""
for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    if node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url/readyz"; then
        ready=yes
        break
    fi
    sleep 0.1
done
if [ -z "$ready" ]; then
    echo "run.sh: the node at $url did not become ready; its log:" >&2
    cat "$tmp/node.log" >&2
    exit 1
fi
echo "run.sh: node $pid ready at $url ($bin)"

# Node 22 has a global WebSocket; Node 20 needs the flag.
flags=()
node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' || flags+=(--experimental-websocket)

status=0
HERALD_URL="$url" HERALD_JWT_SECRET="$secret" HERALD_JWT_LEEWAY_SECONDS="$leeway" \
    node "${flags[@]}" --test clients/js/test/*.test.mjs || status=$?
stop_node
if [ "$status" -ne 0 ]; then
    echo "run.sh: the node's log (last 50 lines):" >&2
    tail -n 50 "$tmp/node.log" >&2
fi

echo "run.sh: tsc -p clients/js --noEmit"
tsc -p clients/js --noEmit || status=$?
exit "$status"
