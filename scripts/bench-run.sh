#!/usr/bin/env bash
# Throughput and memory of `sheepdog run` against the built-in mock answering instantly.
#
#   scripts/bench-run.sh [LINES] [CONCURRENCY] [-- extra sheepdog run flags]
#
# Generates LINES prompts (default 100000), starts `sheepdog mock --latency 0ms` on a free
# loopback port, runs `sheepdog run` at CONCURRENCY (default 64) and prints requests/s and
# peak RSS. Needs only the Rust toolchain, awk and GNU time (/usr/bin/time; Debian package `time`).
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
trap 'kill "${mock_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

awk -v n="$lines" 'BEGIN {
  for (i = 1; i <= n; i++) {
    if (i % 2)
      printf "{\"id\":\"p%d\",\"prompt\":\"Summarise item %d of the benchmark in one sentence, please.\",\"max_tokens\":32}\n", i, i
    else
      printf "{\"custom_id\":\"p%d\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4.1-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Classify item %d as A or B.\"}],\"max_tokens\":8}}\n", i, i
  }
}' > "$work/prompts.jsonl"

"$bin" mock --port 0 --latency 0ms 2> "$work/mock.log" &
mock_pid=$!
base_url=""
for _ in $(seq 100); do
  base_url=$(grep -o 'http://127.0.0.1:[0-9]*/v1' "$work/mock.log" | head -1 || true)
  [ -n "$base_url" ] && break
  sleep 0.05
done
[ -n "$base_url" ] || { echo "mock server did not start:"; cat "$work/mock.log"; exit 1; }

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
