#!/usr/bin/env bash
# Client CPU per request of `sheepdog run`, for A/B comparisons of builds: on a shared machine
# requests/s swing with its load, the CPU a request costs much less.
#
#   scripts/cpu.sh [LINES] [BINARY...]   # default: 100,000 lines, target/release/sheepdog
#   scripts/cpu.sh 100000 old-binary new-binary old-binary new-binary   # alternated rounds
#
# Per binary: LINES short prompts, `run --concurrency 64` against one `sheepdog mock --latency
# 0ms` (started from the first binary, so every binary talks to the same server); prints the
# client's user and system CPU ÷ requests (GNU time), its peak RSS and the run's requests/s.
# Needs /usr/bin/time (Debian package `time`) and awk.
set -euo pipefail
cd "$(dirname "$0")/.."

lines=${1:-100000}
shift || true
source scripts/lib.sh
short_runs "$lines" "$@"

for client in "${clients[@]}"; do
  rm -rf "$work/out"
  OPENAI_BASE_URL="$base_url" OPENAI_API_KEY=bench /usr/bin/time -f '%U %S %M' -o "$work/time" \
    "$client" run "$work/in.jsonl" --model gpt-4.1-mini --concurrency 64 --quiet --out "$work/out" \
    2> "$work/run.log" || { echo "$client: run failed:"; tail -5 "$work/run.log"; exit 1; }
  rps=$(json_number "$work/out/summary.json" totals requests_per_s)
  awk -v n="$lines" -v bin="$client" -v rps="$rps" '{
    printf "%s: user %.1f µs, sys %.1f µs, CPU %.1f µs per request; peak RSS %.1f MiB; %s requests/s\n",
      bin, $1 * 1e6 / n, $2 * 1e6 / n, ($1 + $2) * 1e6 / n, $3 / 1024, rps }' "$work/time"
done
