#!/usr/bin/env bash
# Checks the TTFT `sheepdog bench` records at 1,024 streams in flight against what a packet
# capture of the same traffic shows (issue 14, requirement 3).
#
#   scripts/ttft-check.sh            # 5 s measured after 1 s of warm-up
#   DURATION=10s scripts/ttft-check.sh
#   KEEP=1 scripts/ttft-check.sh     # keep the capture and the bench folder (path printed)
#   CONCURRENCY=16 scripts/ttft-check.sh   # the same check with fewer streams, for comparison
#   SHEEPDOG=/path/to/sheepdog scripts/ttft-check.sh   # another build (A/B), nothing built
#
# Starts `sheepdog mock --ttft 200ms --itl 5ms --output-tokens 20` on 127.0.0.1, captures its
# port on the loopback interface with tcpdump, runs `sheepdog bench --concurrency 1024
# --synthetic in=64,out=20` against it, then `scripts/ttft-check.py` follows every connection of
# the capture and compares, request by request (joined on the serial number each synthetic
# prompt starts with), sheepdog's `ttft_ms` in requests.csv with the wire TTFT: from the packet
# carrying the POST's first byte to the packet completing the first content event. It prints
# p50/p90/p99/max of the difference and the share within 1 ms, the same for the wire TTFT against
# the mock's 200 ms, the load average before and after, and the time the client's and the
# mock's threads spent on a CPU and waiting for one (from /proc/PID/task/*/schedstat).
#
# Needs root (or CAP_NET_RAW and CAP_NET_ADMIN) for tcpdump, the Rust toolchain and python3.
# Installs tcpdump with apt-get when it is missing (which also needs root).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-5s}
concurrency=${CONCURRENCY:-1024}
if ! command -v tcpdump >/dev/null; then
  command -v apt-get >/dev/null || { echo "tcpdump not found and no apt-get: install tcpdump"; exit 1; }
  echo "installing tcpdump (apt-get install -y tcpdump)..." >&2
  apt-get install -y tcpdump >&2 || { echo "could not install tcpdump (needs root): install it and re-run"; exit 1; }
fi
command -v python3 >/dev/null || { echo "python3 not found"; exit 1; }
if [ -n "${SHEEPDOG:-}" ]; then
  bin=$SHEEPDOG
else
  cargo build --release --quiet
  bin=target/release/sheepdog
fi
work=$(mktemp -d)
mock_pid=""
source scripts/lib.sh
dump_pid=""
stop() { # PID: interrupt it and wait for it to end
  if [ -n "$1" ]; then kill -INT "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi
}
cleanup() {
  stop "$dump_pid"
  stop "$mock_pid"
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "streams: $concurrency; load before: $(uptime)"
start_mock --ttft 200ms --itl 5ms --output-tokens 20
port=${base_url#http://127.0.0.1:}
port=${port%/v1}

# A large kernel buffer (-B, KiB) so that the capture keeps up with ~500,000 packets.
tcpdump -i lo -s 0 -B 262144 -w "$work/capture.pcap" "tcp port $port" 2> "$work/tcpdump.log" &
dump_pid=$!
for _ in $(seq 100); do
  grep -q 'listening on' "$work/tcpdump.log" && break
  kill -0 "$dump_pid" 2>/dev/null || { echo "tcpdump failed (it needs root or CAP_NET_RAW):"; cat "$work/tcpdump.log"; exit 1; }
  sleep 0.05
done
grep -q 'listening on' "$work/tcpdump.log" || { echo "tcpdump did not start:"; cat "$work/tcpdump.log"; exit 1; }

# Seconds on a CPU, seconds runnable but waiting for one, and times put on a CPU, summed over
# the threads of a process (/proc/PID/task/*/schedstat).
sched_of() {
  # A process that is just ending may have no thread left to read.
  { cat /proc/"$1"/task/*/schedstat 2>/dev/null || true; } | awk '{ run += $1; wait += $2; n += $3 }
    END { printf "%.3f %.3f %d", run / 1e9, wait / 1e9, n }'
}
# "on CPU s / waiting s / mean wait per time on a CPU ms" of the difference of two samples.
sched_diff() {
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); n = y[3] - x[3]
    printf "%.2f s / %.2f s / %.3f ms", y[1] - x[1], y[2] - x[2], (n > 0 ? (y[2] - x[2]) * 1e3 / n : 0) }'
}
mock_before=$(sched_of "$mock_pid")
started=$(date +%s.%N)
OPENAI_BASE_URL="$base_url" OPENAI_API_KEY=bench "$bin" bench --model gpt-4.1-mini --quiet --out "$work/bench" \
  --concurrency "$concurrency" --duration "$duration" --warmup 1s --synthetic in=64,out=20 2> "$work/bench.log" &
bench_pid=$!
# The client's figures, sampled while it runs (the last sample with the most CPU time: a
# process that has exited keeps only its main thread's).
client="0 0 0"
while kill -0 "$bench_pid" 2>/dev/null; do
  now=$(sched_of "$bench_pid")
  client=$(awk -v a="$client" -v b="$now" 'BEGIN { split(a, x, " "); split(b, y, " "); print (y[1] > x[1] ? b : a) }')
  sleep 0.1
done
wait "$bench_pid" || { echo "bench failed:"; tail -5 "$work/bench.log"; exit 1; }
wall=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "load after:  $(uptime)"
mock=$(sched_diff "$mock_before" "$(sched_of "$mock_pid")")
rps=$(grep -o '"achieved_rps": *[0-9.]*' "$work/bench/summary.json" | head -1 | grep -o '[0-9.]*$')
echo "bench: $rps req/s measured, $wall s in all ($(nproc) cores)"
echo "threads on a CPU / waiting for one / mean wait each time: client $(sched_diff "0 0 0" "$client"); mock $mock"
stop "$dump_pid"
dump_pid=""
stop "$mock_pid"
mock_pid=""
echo "tcpdump: $(grep -E 'captured|dropped' "$work/tcpdump.log" | tr '\n' ' ')"
if grep -E '^[1-9][0-9]* packets dropped by kernel' "$work/tcpdump.log" >/dev/null; then
  echo "warning: the kernel dropped packets: connections with missing bytes are read up to the hole" >&2
fi
python3 scripts/ttft-check.py "$work/capture.pcap" "$port" "$work/bench/requests.csv" 200
