#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and prints, per target, the executions and the
# executions per second from libFuzzer's final stats.
#
# Usage: fuzz/run.sh [SECONDS]   (SECONDS per target, default 60)
# Environment: FUZZ_RSS_LIMIT_MB (default 2048), FUZZ_TARGETS (default: every target).
#
# New inputs go to target/fuzz-corpus/<target>, so the committed seeds in corpus/ stay as they
# are. Crashes go to artifacts/<target>/. Exits 1 when any target crashed or failed to run.

set -uo pipefail

seconds="${1:-60}"
rss_limit_mb="${FUZZ_RSS_LIMIT_MB:-2048}"
fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz_dir"

if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "error: SECONDS must be a positive integer, got '$seconds'" >&2
    exit 2
fi

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
build_flags=(--debug-assertions)

echo "Building fuzz targets (nightly, release, debug assertions on)..."
if ! cargo +nightly fuzz build "${build_flags[@]}"; then
    echo "error: failed to build the fuzz targets" >&2
    exit 1
fi

log_dir="$fuzz_dir/target/fuzz-logs"
mkdir -p "$log_dir"
failed=()
summary=()

for target in $targets; do
    work_corpus="$fuzz_dir/target/fuzz-corpus/$target"
    log="$log_dir/$target.log"
    mkdir -p "$work_corpus"
    echo "Fuzzing $target for ${seconds}s (log: $log)..."

    cargo +nightly fuzz run "${build_flags[@]}" "$target" "$work_corpus" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb="$rss_limit_mb" -timeout=20 \
        -print_final_stats=1 >"$log" 2>&1
    status=$?

    executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    # Fuzzing time from libFuzzer's "Done N runs in S second(s)", without the build.
    fuzzed="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)"
    line="$(printf '%-14s %5ss  executions %-12s exec/s %-8s' "$target" "${fuzzed:-?}" "${executions:-?}" "${rate:-?}")"
    if [[ $status -ne 0 ]]; then
        line="$line  FAILED (exit $status, see $log)"
        failed+=("$target")
        grep -E '^(==[0-9]+==ERROR|thread .* panicked|artifact_prefix|Test unit written)' "$log" | head -n 5
    fi
    summary+=("$line")
done

echo
echo "target          fuzzed results"
printf '%s\n' "${summary[@]}"

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "error: crash or failure in: ${failed[*]}" >&2
    exit 1
fi
