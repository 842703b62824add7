#!/usr/bin/env bash
# Speed and memory of `sheepdog estimate` on a large input.
#
#   scripts/bench-estimate.sh [LINES]
#
# Generates LINES prompts (default 1000000; both line formats, 8 to 60 words each, about 340
# bytes a line), then prices them on two models with different encodings (gpt-4.1: o200k_base,
# deepseek-chat: cl100k_base) and prints the wall time and peak RSS. Run it twice with different
# LINES to see that memory does not grow with the input. Needs the Rust toolchain, awk and GNU
# time (/usr/bin/time; Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."

lines=${1:-1000000}
cargo build --release --quiet
bin=target/release/sheepdog
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

awk -v n="$lines" 'BEGIN {
  srand(1);
  split("the quick brown fox jumps over lazy dog translate summarize explain latency throughput provider model request token cost", w, " ");
  for (i = 1; i <= n; i++) {
    k = 8 + int(rand() * 53); text = "";
    for (j = 1; j <= k; j++) text = text (j > 1 ? " " : "") w[1 + int(rand() * 20)];
    if (i % 3 == 0)
      printf "{\"custom_id\":\"b%d\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4.1-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You are helpful.\"},{\"role\":\"user\",\"content\":\"%s\"}],\"max_tokens\":200}}\n", i, text
    else
      printf "{\"id\":\"s%d\",\"prompt\":\"%s\",\"max_tokens\":100}\n", i, text
  }
}' > "$work/prompts.jsonl"

echo "input: $lines lines, $(du -h "$work/prompts.jsonl" | cut -f1)"
/usr/bin/time -v "$bin" estimate "$work/prompts.jsonl" --models gpt-4.1,deepseek-chat \
    > "$work/estimate.txt" 2> "$work/time.txt"
sed -n '/^Tokens/,/^$/p' "$work/estimate.txt"
grep -E "Elapsed \(wall clock\)|Maximum resident set size|Percent of CPU" "$work/time.txt"
