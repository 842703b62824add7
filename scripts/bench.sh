#!/usr/bin/env bash
# The performance harness: one table of what `sheepdog run` and `sheepdog bench` cost on this
# machine, against the built-in mock server on loopback.
#
#   scripts/bench.sh            # everything (about 3 minutes on 2 cores)
#   QUICK=1 scripts/bench.sh    # skip the 1,000,000-line memory run
#
# Rows:
#   - `run` requests/s at concurrency 64 against `sheepdog mock --latency 0ms`, next to a raw HTTP
#     load generator's (oha: `cargo install oha`) on the same server, concurrency and request
#     body, and their ratio (target: at least 80%);
#   - peak RSS of `run` (GNU time) for 10,000, 100,000 and 1,000,000-line inputs (target: under
#     64 MiB at 1,000,000 lines);
#   - `bench` open loop at 2,000 requests/s for 10 s: achieved rate and scheduling-lag p99;
#   - `bench` closed loop at concurrency 64 against a mock with TTFT 100 ms: TTFT p50 − 100 ms,
#     the client's own overhead;
#   - the machine.
# Needs the Rust toolchain, oha on PATH, awk and /usr/bin/time (Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v oha >/dev/null || { echo "oha not found: cargo install oha"; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found: apt-get install time"; exit 1; }
cargo build --release --quiet
bin=target/release/sheepdog
work=$(mktemp -d)
mock_pid=""
stop_mock() { if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; mock_pid=""; fi; }
trap 'stop_mock; rm -rf "$work"' EXIT

PROMPT='Summarise item 7 of the benchmark in one sentence, please.'
BODY="{\"model\":\"gpt-4.1-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"$PROMPT\"}],\"max_tokens\":32}"

# N lines of prompts like BODY (ids p1..pN).
prompts() {
  awk -v n="$1" -v p="$PROMPT" 'BEGIN {
    for (i = 1; i <= n; i++)
      printf "{\"id\":\"p%d\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}],\"max_tokens\":32}\n", i, p
  }' > "$2"
}

# Starts `sheepdog mock --port 0 ARGS`; sets base_url and mock_pid.
start_mock() {
  stop_mock
  "$bin" mock --port 0 "$@" 2> "$work/mock.log" &
  mock_pid=$!
  base_url=""
  for _ in $(seq 100); do
    base_url=$(grep -o 'http://127.0.0.1:[0-9]*/v1' "$work/mock.log" | head -1 || true)
    [ -n "$base_url" ] && break
    sleep 0.05
  done
  [ -n "$base_url" ] || { echo "mock server did not start:"; cat "$work/mock.log"; exit 1; }
}

# The first number named `key` after the line that opens `section` in a pretty JSON file.
json_number() {
  awk -v section="\"$2\": " -v key="\"$3\": " '
    index($0, section) { inside = 1 }
    inside && index($0, key) { sub(/.*": */, ""); sub(/,$/, ""); print; exit }
  ' "$1"
}

# run LINES -> prints "requests_per_s peak_rss_mib"
run_once() {
  prompts "$1" "$work/in-$1.jsonl"
  rm -rf "$work/run-$1"
  OPENAI_BASE_URL="$base_url" OPENAI_API_KEY=bench /usr/bin/time -v "$bin" run "$work/in-$1.jsonl" \
    --model gpt-4.1-mini --concurrency 64 --quiet --out "$work/run-$1" 2> "$work/time-$1.log" \
    || { echo "run of $1 lines failed:"; tail -5 "$work/time-$1.log"; exit 1; }
  local rps rss
  rps=$(json_number "$work/run-$1/summary.json" totals requests_per_s)
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$work/time-$1.log")
  rm -f "$work/in-$1.jsonl"
  echo "$rps $rss"
}

rows=()
row() { rows+=("| $1 | $2 |"); }

# 1. Throughput: run vs oha, same server, concurrency and body.
start_mock --latency 0ms
read -r run_rps rss_100k < <(run_once 100000)
oha -z 10s -c 64 --no-tui --output-format json -m POST -H 'content-type: application/json' \
  -H 'authorization: Bearer bench' -d "$BODY" "$base_url/chat/completions" > "$work/oha.json"
oha_rps=$(grep -o '"requestsPerSec": *[0-9.]*' "$work/oha.json" | head -1 | grep -o '[0-9.]*$')
oha_ok=$(grep -o '"200": *[0-9]*' "$work/oha.json" | head -1 | grep -o '[0-9]*$' || echo 0)
row "\`run\` requests/s, 100,000 prompts, concurrency 64, mock --latency 0ms" "$(printf '%.0f' "$run_rps")"
row "oha requests/s, same server, concurrency 64, same body, 10 s (${oha_ok} × 200)" "$(printf '%.0f' "$oha_rps")"
row "ratio run / oha (target ≥ 80%)" "$(awk -v a="$run_rps" -v b="$oha_rps" 'BEGIN { printf "%.0f%%", 100 * a / b }')"

# 2. Peak RSS by input size.
read -r _ rss_10k < <(run_once 10000)
row "\`run\` peak RSS, 10,000 lines" "${rss_10k} MiB"
row "\`run\` peak RSS, 100,000 lines" "${rss_100k} MiB"
if [ "${QUICK:-0}" != "1" ]; then
  read -r rps_1m rss_1m < <(run_once 1000000)
  row "\`run\` peak RSS, 1,000,000 lines (target < 64 MiB)" "${rss_1m} MiB"
  row "\`run\` requests/s, 1,000,000 lines" "$(printf '%.0f' "$rps_1m")"
fi

# 3. bench, open loop at 2,000 requests/s (streamed, mock answering at once).
OPENAI_BASE_URL="$base_url" OPENAI_API_KEY=bench "$bin" bench --model gpt-4.1-mini --rate 2000 --duration 10s \
  --synthetic in=64,out=16 --quiet --out "$work/bench-open" 2> "$work/bench-open.log" \
  || { echo "bench (open loop) failed:"; cat "$work/bench-open.log"; exit 1; }
s="$work/bench-open/summary.json"
row "\`bench --rate 2000\` achieved requests/s (10 s)" "$(printf '%.0f' "$(json_number "$s" steps achieved_rps)")"
row "\`bench --rate 2000\` scheduling lag p99" "$(json_number "$s" schedule_lag_ms p99) ms"

# 4. bench, closed loop: TTFT overhead against a mock whose TTFT is 100 ms.
start_mock --ttft 100ms --itl 10ms --output-tokens 20
OPENAI_BASE_URL="$base_url" OPENAI_API_KEY=bench "$bin" bench --model gpt-4.1-mini --concurrency 64 --duration 10s \
  --warmup 2s --synthetic in=64,out=20 --quiet --out "$work/bench-closed" 2> "$work/bench-closed.log" \
  || { echo "bench (closed loop) failed:"; cat "$work/bench-closed.log"; exit 1; }
s="$work/bench-closed/summary.json"
ttft=$(json_number "$s" ttft_ms p50)
row "\`bench --concurrency 64\` TTFT p50 − mock's 100 ms (client overhead)" "$(awk -v t="$ttft" 'BEGIN { printf "%.2f ms", t - 100 }')"
row "\`bench --concurrency 64\` TTFT p99 (mock: 100 ms)" "$(json_number "$s" ttft_ms p99) ms"
stop_mock

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
echo
echo "| measure | value |"
echo "|---|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "Machine: $(uname -sm), $(nproc) cores ($cpu), $mem; sheepdog $("$bin" --version | awk '{print $2}'), oha $(oha --version | awk '{print $2}'); $(date -u +%Y-%m-%d)."
echo "The mock server, the client and oha share these cores."
