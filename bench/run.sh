#!/usr/bin/env bash
# Runs every benchmark (bench/create.sh, bench/ws.sh, bench/cluster.sh, bench/slow_replay.sh: each starts and stops
# its own nodes, databases and redis-server) and writes their figures to a dated Markdown file
# under bench/results/. Loopback only; bounded in count and time. Usage: bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
out="bench/results/$(date -u +%Y-%m-%d).md"
{
    echo "# Herald benchmarks, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); node(s), PostgreSQL (fsync on), Redis and the load client share it."
    echo
    echo '| benchmark | figures |'
    echo '|---|---|'
    for script in create ws cluster slow_replay; do
        bash "bench/$script.sh" 2>/dev/null | grep -E '^(create|connections|latency|max-rate|broadcast|storm|slow-replay|cpu):' | while read -r line; do
            echo "| \`bench/$script.sh\` | \`$line\` |"
        done
    done
} | tee "$out"
echo "written to $out"
