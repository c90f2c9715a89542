#!/usr/bin/env bash
# Property-based fuzz of the REST API: starts a `herald serve` node on SQLite on a free loopback
# port, mints a staff token, and runs schemathesis against the node's own /openapi.json with every
# check: no 5xx but 503, every status, header, content type and body (errors included) as
# documented, valid requests accepted and invalid ones refused, 405 on undocumented methods, 401
# without a token, a deleted notification gone. Prints schemathesis' summary; exits non-zero on
# any failure (or a panic in the node's log); stops the node it started.
#
# Usage: bench/api_fuzz.sh [--short]
#   --short            the CI pass: 10 examples per operation instead of 50
#   MAX_EXAMPLES=N     examples per operation (overrides both)
#   API_FUZZ_ARGS=...  more schemathesis options, e.g. "--seed N --output-sanitize false"
#   API_FUZZ_DATABASE_URL=url  an empty database to use instead of a fresh SQLite file (e.g. a
#                      PostgreSQL one the caller created and drops)
#   HERALD_BIN=path    a built herald binary (default: `cargo build`, then target/debug/herald)
#   SCHEMATHESIS=path  a schemathesis executable (default: on PATH, else installed with pip into
#                      a virtualenv under ${XDG_CACHE_HOME:-~/.cache}/herald; needs python3-venv)
# Settings: bench/schemathesis.toml (checks), bench/api_fuzz_hooks.py (generation).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

examples=50
if [[ ${1:-} == --short ]]; then
    examples=10
    shift
fi
examples=${MAX_EXAMPLES:-$examples}
[[ $# -eq 0 ]] || { echo "usage: bench/api_fuzz.sh [--short]" >&2; exit 2; }

schemathesis_version=4.32.5
st=${SCHEMATHESIS:-$(command -v schemathesis || true)}
if [[ -z $st ]]; then
    venv=${XDG_CACHE_HOME:-$HOME/.cache}/herald/schemathesis-$schemathesis_version
    if [[ ! -x $venv/bin/schemathesis ]]; then
        echo "installing schemathesis $schemathesis_version into $venv" >&2
        python3 -m venv "$venv" || { echo "python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
        "$venv/bin/pip" install -q "schemathesis==$schemathesis_version"
    fi
    st=$venv/bin/schemathesis
fi

if [[ -z ${HERALD_BIN:-} ]]; then
    cargo build -q --bin herald
    HERALD_BIN=${CARGO_TARGET_DIR:-target}/debug/herald
fi
HERALD_BIN=$(realpath "$HERALD_BIN")

work=$(mktemp -d "${TMPDIR:-/tmp}/herald-api-fuzz.XXXXXX")
node=
cleanup() {
    if [[ -n $node ]]; then
        kill "$node" 2>/dev/null || true
        wait "$node" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# A random secret (never a placeholder the config refuses), a fresh database, port 0: the node
# picks a free port and prints its URL.
JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export JWT_SECRET
# Every type in a category, so the categories the document lists are real ones.
export HERALD_NOTIFICATION_TYPES="meeting:calendar,meeting_response:calendar,action_item:work,general:work,approval:work,meeting_invitation:calendar,meeting_scheduled:calendar,mom_created:calendar"
DATABASE_URL=${API_FUZZ_DATABASE_URL:-sqlite://$work/herald.db} HERALD_BIND=127.0.0.1:0 HERALD_WORKERS=2 RUST_LOG=warn \
    "$HERALD_BIN" serve > "$work/node.log" 2>&1 &
node=$!
url=
for _ in $(seq 1 100); do
    url=$(sed -n 's/^Herald listening on \(http:[^ ]*\).*/\1/p' "$work/node.log" | head -n 1)
    [[ -n $url ]] && curl -sf "$url/readyz" > /dev/null && break
    kill -0 "$node" 2>/dev/null || { cat "$work/node.log" >&2; echo "api fuzz: the node exited" >&2; exit 1; }
    url=
    sleep 0.1
done
[[ -n $url ]] || { cat "$work/node.log" >&2; echo "api fuzz: the node did not become ready" >&2; exit 1; }
token=$("$HERALD_BIN" token --user 1 --staff --ttl 1h)
echo "api fuzz: $url, schemathesis $("$st" --version | awk '{print $NF}'), $examples examples per operation"

# From the scratch directory: schemathesis keeps its crash cache in the working directory.
status=0
# shellcheck disable=SC2086 # API_FUZZ_ARGS is a list of options
(cd "$work" && SCHEMATHESIS_HOOKS="$repo/bench/api_fuzz_hooks.py" "$st" \
    --config-file "$repo/bench/schemathesis.toml" run "$url/openapi.json" \
    --header "Authorization: Bearer $token" \
    --max-examples "$examples" \
    --generation-database none \
    --workers 1 \
    --no-color \
    ${API_FUZZ_ARGS:-}) || status=$?

if grep -q "panicked" "$work/node.log"; then
    echo "api fuzz: the node panicked:" >&2
    grep -A5 "panicked" "$work/node.log" >&2
    status=1
fi
if [[ $status -ne 0 ]]; then
    echo "api fuzz: the node's warnings and errors:" >&2
    grep -E " (WARN|ERROR) " "$work/node.log" | tail -n 20 >&2 || true
    echo "api fuzz: FAILED (schemathesis exit status $status)" >&2
else
    echo "api fuzz: passed"
fi
exit "$status"
