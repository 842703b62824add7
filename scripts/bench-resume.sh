#!/usr/bin/env bash
# Time and peak memory of the resume scan: a finished run of LINES prompts (default 1000000)
# is resumed, so sheepdog reads, checks and re-counts every line of results.jsonl and sends
# nothing.
#
#   scripts/bench-resume.sh [LINES]
#
# Needs the Rust toolchain, awk and GNU time (/usr/bin/time; Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."

lines=${1:-1000000}
cargo build --release --quiet
bin=target/release/sheepdog
work=$(mktemp -d)
source scripts/lib.sh
trap 'stop_mock; rm -rf "$work"' EXIT

awk -v n="$lines" 'BEGIN {
  for (i = 1; i <= n; i++)
    printf "{\"id\":\"p%d\",\"prompt\":\"Summarise item %d of the benchmark in one sentence, please.\",\"max_tokens\":32}\n", i, i
}' > "$work/prompts.jsonl"

start_mock --latency 0ms

export OPENAI_BASE_URL="$base_url" OPENAI_API_KEY="bench"
"$bin" run "$work/prompts.jsonl" --model gpt-4.1-mini --concurrency 64 --quiet --fsync never --out "$work/run"
size=$(du -m "$work/run/results.jsonl" | cut -f1)
/usr/bin/time -v "$bin" run "$work/prompts.jsonl" --model gpt-4.1-mini --quiet --resume "$work/run" \
  2> "$work/time.log" || { cat "$work/time.log"; exit 1; }
secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.log")
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.log")
printf 'lines=%s results.jsonl=%sMiB resume(scan, nothing to send) wall=%s peak_rss=%sMiB\n' \
  "$lines" "$size" "$secs" "$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
printf 'machine: %s, %s cores, %s\n' "$(uname -m)" "$(nproc)" \
  "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
