#!/usr/bin/env bash
# Baseline of the host: requests per second and p50/p99 latency of the test guest's `GET /`
# (a response of two bytes, no key-value or config call) served by the release host, under wrk
# on the loopback interface. Prints the median of RUNS runs of DURATION each.
#
# Usage: bash bench/host-baseline.sh [RUNS] [DURATION] [CONNECTIONS]
# Needs wrk (Debian package `wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-5}
duration=${2:-10s}
connections=${3:-32}

command -v wrk >/dev/null || { echo "error: wrk is missing; install it with apt-get install wrk" >&2; exit 1; }
cargo build --release -p efalia-host --quiet
cargo build --release --quiet --target wasm32-wasip2 \
  --manifest-path host/tests/guest/Cargo.toml --target-dir target/guest
guest=target/guest/wasm32-wasip2/release/host_test_guest.wasm

work=$(mktemp -d)
log="$work/host.log"
RUST_LOG=warn target/release/efalia-host serve "$guest" --listen 127.0.0.1:0 \
  --sqlite-path "$work/kv.sqlite3" --max-concurrent-requests 256 2>"$log" &
host_pid=$!
trap 'kill $host_pid 2>/dev/null || true; rm -rf "$work"' EXIT

# The address is logged at info level, which RUST_LOG=warn hides: find the port with ss.
address=""
for _ in $(seq 1 100); do
  port=$(ss -ltnp 2>/dev/null | awk -v pid="pid=$host_pid," '$0 ~ pid { split($4, a, ":"); print a[length(a)] }' | head -1)
  if [ -n "$port" ]; then address="127.0.0.1:$port"; break; fi
  sleep 0.1
done
[ -n "$address" ] || { echo "error: the host did not start" >&2; cat "$log" >&2; exit 1; }

wrk -t2 -c"$connections" -d2s "http://$address/" >/dev/null  # warm-up

results="$work/results.txt"
for run in $(seq 1 "$runs"); do
  output=$(wrk -t2 -c"$connections" -d"$duration" --latency "http://$address/")
  rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$output")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$output")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$output")
  errors=$(awk '/Non-2xx|Socket errors/ { print }' <<<"$output")
  echo "run $run: $rps req/s, p50 $p50, p99 $p99 ${errors}"
  echo "$rps $p50 $p99" >>"$results"
done

# Latencies from wrk carry units (us, ms); convert to microseconds for the median.
to_us() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); print v } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v*1000 } else if (v ~ /s$/) { sub(/s$/,"",v); print v*1000000 } }'; }
median() { sort -n | awk '{ a[NR]=$1 } END { print a[int((NR+1)/2)] }'; }
echo "median of $runs runs ($duration, $connections connections, wrk -t2):"
echo "  requests/s: $(awk '{print $1}' "$results" | median)"
echo "  p50: $(awk '{print $2}' "$results" | to_us | median) us"
echo "  p99: $(awk '{print $3}' "$results" | to_us | median) us"
