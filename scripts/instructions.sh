#!/usr/bin/env bash
# Instructions per request of `sheepdog run`, counted by valgrind's callgrind: a figure that does
# not move with the machine's load, for comparing two builds on a shared machine (CPU time and
# requests/s swing by tens of percent there; instruction counts by well under one).
#
#   scripts/instructions.sh [BINARY...]     # default: target/release/sheepdog (built first)
#   LINES=5000 KEEP=DIR scripts/instructions.sh old-binary target/release/sheepdog
#
# Per binary: LINES short prompts (default 5,000), `run --concurrency 64` against
# `sheepdog mock --latency 0ms` started as a separate process (from the first binary, so every
# binary talks to the same server); prints the client's instructions ÷ requests (user space
# only: system calls are not counted) and, with KEEP=DIR, leaves each callgrind profile there
# (`callgrind_annotate --inclusive=yes DIR/NAME.callgrind` shows where they go). The count
# includes the start-up and the scan before the run, spread over the requests.
# Needs valgrind (Debian package `valgrind`) and awk.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install valgrind"; exit 1; }
lines=${LINES:-5000}
source scripts/lib.sh
short_runs "$lines" "$@"

for bin in "${clients[@]}"; do
  name=$(basename "$bin")
  rm -rf "$work/out"
  OPENAI_BASE_URL="$base_url" OPENAI_API_KEY=bench valgrind --tool=callgrind \
    --callgrind-out-file="$work/$name.callgrind" "$bin" run "$work/in.jsonl" --model gpt-4.1-mini \
    --concurrency 64 --quiet --out "$work/out" 2> "$work/$name.log" \
    || { echo "$bin: run failed:"; tail -5 "$work/$name.log"; exit 1; }
  ok=$(grep -o '"succeeded": *[0-9]*' "$work/out/summary.json" | head -1 | grep -o '[0-9]*$')
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$work/$name.callgrind")
  printf '%s: %s instructions per request (%s of %s succeeded)\n' "$bin" "$((total / lines))" "$ok" "$lines"
  if [ -n "${KEEP:-}" ]; then
    mkdir -p "$KEEP"
    cp "$work/$name.callgrind" "$KEEP/"
  fi
done
