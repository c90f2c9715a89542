#!/usr/bin/env bash
# Coverage-guided fuzzing of Herald's parsers with cargo-fuzz (libFuzzer).
#
#   fuzz/run.sh            each target for 1,000,000 executions (the default)
#   fuzz/run.sh 20000      a short pass, for CI
#
# Builds every target (`cargo +nightly fuzz build`), runs each from its committed seed corpus
# (fuzz/corpus/<target>/, never written to: new inputs go to a scratch corpus) with its
# dictionary (fuzz/dict/<target>.dict), then prints one line per target:
#
#   ws_frame: 1000000 execs, 0 crashes
#
# and exits non-zero if any target crashed, panicked, timed out or did not finish its runs. A
# crashing input is kept in fuzz/artifacts/<target>/; replay it with
# `cargo +nightly fuzz run -s none <target> fuzz/artifacts/<target>/<file>`.
#
# Environment: FUZZ_TARGETS (default: every target), FUZZ_SANITIZER (default: none; the targets
# are safe Rust, a panic is what they find), FUZZ_TIMEOUT (seconds per input, default 10),
# FUZZ_TARGET_DIR (where the fuzz build goes, default fuzz/target; CI keeps one outside the
# clone so a run rebuilds only Herald itself).
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-1000000}"
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: fuzz/run.sh [runs per target, default 1000000]" >&2
    exit 2
fi
sanitizer="${FUZZ_SANITIZER:-none}"
timeout="${FUZZ_TIMEOUT:-10}"
read -r -a targets <<<"${FUZZ_TARGETS:-ws_frame rest_body}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: needs a nightly toolchain (cargo +nightly); none is installed" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo +nightly install cargo-fuzz --locked
fi

# The fuzz crate has its own workspace and target dir, whatever the caller's is.
unset CARGO_TARGET_DIR
target_dir="${FUZZ_TARGET_DIR:-fuzz/target}"
cargo +nightly fuzz build -s "$sanitizer" --target-dir "$target_dir"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target" "fuzz/artifacts/$target"
    log="$scratch/$target.log"
    before=$(find "fuzz/artifacts/$target" -type f | wc -l)
    touch "$scratch/$target.start"
    dict=()
    [ -f "fuzz/dict/$target.dict" ] && dict=("-dict=fuzz/dict/$target.dict")
    status=0
    cargo +nightly fuzz run -s "$sanitizer" --target-dir "$target_dir" "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -runs="$runs" -timeout="$timeout" -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || status=$?
    # libFuzzer's last words: "Done N runs in S second(s)" when it finished.
    execs=$(sed -n 's/^Done \([0-9][0-9]*\) runs in .*/\1/p' "$log" | tail -n 1)
    if [ -z "$execs" ]; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
    fi
    crashes=$(($(find "fuzz/artifacts/$target" -type f | wc -l) - before))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1
    fi
    plural=$([ "$crashes" -eq 1 ] && echo crash || echo crashes)
    echo "$target: ${execs:-0} execs, $crashes $plural"
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ] || [ "${execs:-0}" -lt "$runs" ]; then
        failed=1
        echo "---- $target: libFuzzer exited $status; the end of its log:" >&2
        grep -m 3 -A 2 "panicked at" "$log" >&2 || true
        tail -n 40 "$log" >&2
        find "fuzz/artifacts/$target" -type f -newer "$scratch/$target.start" -printf 'artifact: %p\n' >&2
    fi
done
exit "$failed"
