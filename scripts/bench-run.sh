#!/usr/bin/env bash
# Throughput and memory of `sheepdog run` against the built-in mock answering instantly.
#
#   scripts/bench-run.sh [LINES] [CONCURRENCY] [-- extra sheepdog run flags]
#
# Generates LINES prompts (default 100000), starts `sheepdog mock --latency 0ms` on a free
# loopback port, runs `sheepdog run` at CONCURRENCY (default 64) and prints requests/s and
# peak RSS. Then the same at 1,000,000 lines, for the peak RSS at that size (target: at most
# 48 MiB, the same as at 100,000 lines; skipped with SKIP_RSS=1). Needs only the Rust toolchain, awk and GNU time
# (/usr/bin/time; Debian package `time`).
#
# Then the `sheepdog bench` scenarios (skipped with SKIP_BENCH=1):
#   (a) open loop at 2,000 requests/s for 10 s against the same mock (streamed, no latency):
#       achieved rate and scheduling-lag p99;
#   (b) closed loop at concurrency 256 for 10 s against a mock with --ttft 100ms --itl 10ms:
#       TTFT p50 minus the mock's 100 ms is the client's own overhead.
set -euo pipefail
cd "$(dirname "$0")/.."

lines=${1:-100000}
concurrency=${2:-64}
shift $(( $# > 2 ? 2 : $# ))
[ "${1:-}" = "--" ] && shift
extra=("$@")

cargo build --release --quiet
bin=target/release/sheepdog
work=$(mktemp -d)
source scripts/lib.sh
trap 'stop_mock; rm -rf "$work"' EXIT

# prompts N FILE: N generated prompt lines, both input formats.
prompts() {
awk -v n="$1" 'BEGIN {
  for (i = 1; i <= n; i++) {
    if (i % 2)
      printf "{\"id\":\"p%d\",\"prompt\":\"Summarise item %d of the benchmark in one sentence, please.\",\"max_tokens\":32}\n", i, i
    else
      printf "{\"custom_id\":\"p%d\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4.1-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Classify item %d as A or B.\"}],\"max_tokens\":8}}\n", i, i
  }
}' > "$2"
}
prompts "$lines" "$work/prompts.jsonl"

start_mock --latency 0ms

OPENAI_BASE_URL="$base_url" OPENAI_API_KEY="bench" \
  /usr/bin/time -v "$bin" run "$work/prompts.jsonl" --model gpt-4.1-mini --concurrency "$concurrency" \
  --quiet --out "$work/run" "${extra[@]}" 2> "$work/time.log" || true

summary="$work/run/summary.json"
[ -f "$summary" ] || { echo "run failed:"; cat "$work/time.log"; exit 1; }
rps=$(grep -o '"requests_per_s": *[0-9.]*' "$summary" | head -1 | grep -o '[0-9.]*$')
ok=$(grep -o '"succeeded": *[0-9]*' "$summary" | head -1 | grep -o '[0-9]*$')
secs=$(grep -o '"duration_s": *[0-9.]*' "$summary" | head -1 | grep -o '[0-9.]*$')
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.log")

printf 'lines=%s concurrency=%s succeeded=%s duration=%.2fs requests/s=%.0f peak_rss=%sMiB\n' \
  "$lines" "$concurrency" "$ok" "$secs" "$rps" "$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
printf 'machine: %s, %s cores, %s\n' "$(uname -m)" "$(nproc)" \
  "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"

# Peak RSS at 1,000,000 lines: memory must stay flat in the input's length.
if [ "${SKIP_RSS:-0}" != "1" ]; then
  prompts 1000000 "$work/million.jsonl"
  OPENAI_BASE_URL="$base_url" OPENAI_API_KEY="bench" \
    /usr/bin/time -v "$bin" run "$work/million.jsonl" --model gpt-4.1-mini --concurrency "$concurrency" \
    --quiet --out "$work/million" "${extra[@]}" 2> "$work/million-time.log" || true
  [ -f "$work/million/summary.json" ] || { echo "1M-line run failed:"; cat "$work/million-time.log"; exit 1; }
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/million-time.log")
  ok=$(grep -o '"succeeded": *[0-9]*' "$work/million/summary.json" | head -1 | grep -o '[0-9]*$')
  printf 'lines=1000000 concurrency=%s succeeded=%s peak_rss=%sMiB (target <= 48 MiB)\n' \
    "$concurrency" "$ok" "$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
  rm -rf "$work/million" "$work/million.jsonl"
fi

[ "${SKIP_BENCH:-0}" = "1" ] && exit 0

# (a) Open loop, 2,000 requests/s for 10 s, streamed, against the mock answering at once.
OPENAI_BASE_URL="$base_url" OPENAI_API_KEY="bench" \
  "$bin" bench --model gpt-4.1-mini --rate 2000 --duration 10s --synthetic in=64,out=16 \
  --quiet --out "$work/bench-a" 2> "$work/bench-a.log" || true
summary="$work/bench-a/summary.json"
[ -f "$summary" ] || { echo "bench (a) failed:"; cat "$work/bench-a.log"; exit 1; }
printf 'bench (a) open loop 2000/s x 10s: requests=%s achieved=%.0f req/s failed=%s schedule_lag_p99=%sms e2e_from_schedule_p99=%sms\n' \
  "$(json_number "$summary" steps requests)" "$(json_number "$summary" steps achieved_rps)" \
  "$(json_number "$summary" steps failed)" "$(json_number "$summary" schedule_lag_ms p99)" \
  "$(json_number "$summary" latency_from_schedule_ms p99)"

# (b) Closed loop at concurrency 256 against a mock with TTFT 100 ms and ITL 10 ms.
kill "$mock_pid" 2>/dev/null || true
start_mock --ttft 100ms --itl 10ms --output-tokens 20
OPENAI_BASE_URL="$base_url" OPENAI_API_KEY="bench" \
  "$bin" bench --model gpt-4.1-mini --concurrency 256 --duration 10s --warmup 2s --synthetic in=64,out=20 \
  --quiet --out "$work/bench-b" 2> "$work/bench-b.log" || true
summary="$work/bench-b/summary.json"
[ -f "$summary" ] || { echo "bench (b) failed:"; cat "$work/bench-b.log"; exit 1; }
ttft_p50=$(json_number "$summary" ttft_ms p50)
printf 'bench (b) closed loop c=256, mock ttft=100ms itl=10ms: requests=%s achieved=%.0f req/s ttft_p50=%sms (client overhead %.2fms) ttft_p99=%sms itl_p50=%sms\n' \
  "$(json_number "$summary" steps requests)" "$(json_number "$summary" steps achieved_rps)" "$ttft_p50" \
  "$(awk -v t="$ttft_p50" 'BEGIN { print t - 100 }')" "$(json_number "$summary" ttft_ms p99)" \
  "$(json_number "$summary" itl_ms p50)"
