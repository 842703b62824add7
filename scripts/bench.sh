#!/usr/bin/env bash
# The performance harness: one table of what `sheepdog run` and `sheepdog bench` cost on this
# machine, against the built-in mock server on loopback. Every figure is printed next to its
# reference, measured in the same run where there is one (oha on the same server, the mock's
# own timing), and as a ratio to it.
#
#   scripts/bench.sh            # everything (about 15 minutes on 2 cores)
#   QUICK=1 scripts/bench.sh    # smaller inputs and shorter steps (about 4 minutes)
#
# Rows:
#   1. `run`, 100,000 short prompts, concurrency 64, `mock --latency 0ms`, against oha
#      (`-c 64`, one fixed body, 10 s) on the same server: requests/s (goal: ratio ≥ 0.8), in
#      ROUNDS alternated rounds (default 3; QUICK: 1), the median of their ratios printed;
#   2. `run`, 20,000 items, concurrency 2000, `mock --latency 1s`: items/s against the ideal
#      2,000, latency p99 against the mock's 1.0 s; once as a user runs it and once with the
#      refusal gate off (`--refusal-limit 0`): by default the first 20 requests to a target go
#      alone until one is answered, which costs one latency (1 s here) at the start of a run;
#   3. `bench --concurrency 1024`, streamed, `mock --ttft 200ms --itl 5ms --output-tokens 20`:
#      requests/s against the ideal 1024 / (ttft + 19 × itl), TTFT p99 against 200 ms, ITL p50
#      against 5 ms;
#   4. `bench --rate 2000`, same mock: achieved requests/s against 2,000, scheduling lag p99
#      against the 1 ms goal;
#   5. peak RSS of `run` by input size, read from `scripts/bench-run.sh` (100,000, 1,000,000 and
#      10,000,000 lines; QUICK: the first two), against the 100,000-line figure;
#   6. long context: 500 prompts of about 100,000 tokens (400 KB), streamed 1,000-token answers,
#      concurrency 32: client CPU per request (user + sys of the client process ÷ requests)
#      against oha posting the same 500 request bodies (`-Z`, a file of one body per line)
#      (QUICK: 100 prompts); per further request, from the difference with a run of a fifth as
#      many, which leaves out what a run spends once; the first prompt alone sent as many
#      times against oha posting that one body (`-D`), oha's very requests; and the 500
#      prompts against that one body, which oha holds and sheepdog reads from its file.
# Needs the Rust toolchain, awk, python3 and /usr/bin/time (Debian package `time`); installs oha
# with `cargo install --locked oha` when it is not on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=${QUICK:-0}
rounds=$([ "$quick" = 1 ] && echo 1 || echo "${ROUNDS:-3}")
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a whole number of rounds, 1 or more (got '$rounds')" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found: apt-get install time"; exit 1; }
# `-Z` (a body per line of a file) is in oha 1.x; an older oha is replaced.
if ! command -v oha >/dev/null || ! oha --help | grep -q -- '-Z <BODY_PATH_LINES>'; then
  echo "installing oha (cargo install --locked oha)..." >&2
  cargo install --locked --force oha >&2
  export PATH="$HOME/.cargo/bin:$PATH"
fi
cargo build --release --quiet
bin=target/release/sheepdog
work=$(mktemp -d)
mock_pid=""
source scripts/lib.sh
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

# `sheepdog run` of FILE at CONCURRENCY into DIR, against base_url, with more ARGS if given.
run_file() {
  local file=$1 concurrency=$2 out=$3
  shift 3
  rm -rf "$out"
  OPENAI_BASE_URL="$base_url" OPENAI_API_KEY=bench "$bin" run "$file" --model gpt-4.1-mini \
    --concurrency "$concurrency" --quiet --out "$out" "$@" 2> "$out.log" \
    || { echo "run of $file failed:"; tail -5 "$out.log"; exit 1; }
}

# `sheepdog bench` against base_url with ARGS into DIR (first argument).
bench() {
  local out=$1
  shift
  OPENAI_BASE_URL="$base_url" OPENAI_API_KEY=bench "$bin" bench --model gpt-4.1-mini --quiet --out "$out" "$@" \
    2> "$out.log" || { echo "bench $* failed:"; tail -5 "$out.log"; exit 1; }
}

rows=()
# row MEASURE VALUE REFERENCE RATIO
row() { rows+=("| $1 | $2 | $3 | $4 |"); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }
num() { printf "%.${2:-0}f" "$1"; }

# 1. Throughput: run vs oha, same server, concurrency and body, in alternated rounds: on a
# shared machine either figure moves by a tenth from one minute to the next, so the ratio is
# taken per round (the two measured a few seconds apart) and the median of the rounds printed.
start_mock --latency 0ms
lines=100000
prompts "$lines" "$work/in.jsonl"
run_all=() oha_all=() ratios=()
for ((round = 1; round <= rounds; round++)); do
  run_file "$work/in.jsonl" 64 "$work/run64"
  run_rps=$(json_number "$work/run64/summary.json" totals requests_per_s)
  rm -rf "$work/run64"
  oha -z 10s -c 64 --no-tui --output-format json -m POST -H 'content-type: application/json' \
    -H 'authorization: Bearer bench' -d "$BODY" "$base_url/chat/completions" > "$work/oha.json"
  oha_rps=$(grep -o '"requestsPerSec": *[0-9.]*' "$work/oha.json" | head -1 | grep -o '[0-9.]*$')
  run_all+=("$run_rps") oha_all+=("$oha_rps") ratios+=("$(ratio "$run_rps" "$oha_rps")")
done
rm -f "$work/in.jsonl"
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
row "\`run\` requests/s, 100,000 prompts, c=64, mock --latency 0ms (ref: oha -c 64, same body; median of $rounds alternated rounds)" \
  "$(num "$(median "${run_all[@]}")")" "$(num "$(median "${oha_all[@]}")")" \
  "$(median "${ratios[@]}") (rounds: $(IFS=,; echo "${ratios[*]}" | sed 's/,/, /g'); goal ≥ 0.80)"

# 2. Thousands in flight: run at concurrency 2000 against a mock answering in 1 s.
items=$([ "$quick" = 1 ] && echo 6000 || echo 20000)
start_mock --latency 1s
prompts "$items" "$work/in.jsonl"
for gate in default off; do
  if [ "$gate" = off ]; then
    run_file "$work/in.jsonl" 2000 "$work/run2000" --refusal-limit 0
    how="refusal gate off"
  else
    run_file "$work/in.jsonl" 2000 "$work/run2000"
    how="as run by default"
  fi
  s="$work/run2000/summary.json"
  rps=$(json_number "$s" totals requests_per_s)
  p99=$(json_number "$s" latency_ms p99)
  row "\`run\` items/s, $items items, c=2000, mock --latency 1s, $how (ref: ideal 2,000)" "$(num "$rps")" 2000 \
    "$(ratio "$rps" 2000) (goal ≥ 0.975)"
  row "\`run\` latency p99, c=2000, $how (ref: the mock's 1,000 ms)" "$(num "$p99") ms" "1000 ms" \
    "$(ratio "$p99" 1000) (goal ≤ 1.05)"
done
rm -rf "$work/in.jsonl" "$work/run2000"

# 3 and 4. Streams: closed loop at 1024 in flight, open loop at 2,000/s.
secs=$([ "$quick" = 1 ] && echo 5 || echo 10)
start_mock --ttft 200ms --itl 5ms --output-tokens 20
bench "$work/c1024" --concurrency 1024 --duration "${secs}s" --warmup 2s --synthetic in=64,out=20
s="$work/c1024/summary.json"
ideal=$(awk 'BEGIN { printf "%.0f", 1024 / (0.200 + 19 * 0.005) }')
rps=$(json_number "$s" steps achieved_rps)
ttft=$(json_number "$s" ttft_ms p99)
itl=$(json_number "$s" itl_ms p50)
row "\`bench --concurrency 1024\` req/s, streamed, mock ttft 200ms itl 5ms 20 tokens (ref: ideal)" \
  "$(num "$rps")" "$ideal" "$(ratio "$rps" "$ideal") (goal ≥ 0.95)"
row "\`bench --concurrency 1024\` TTFT p99 (ref: the mock's 200 ms)" "$(num "$ttft" 1) ms" "200 ms" \
  "$(ratio "$ttft" 200) (goal ≤ 1.10)"
row "\`bench --concurrency 1024\` ITL p50 (ref: the mock's 5 ms)" "$(num "$itl" 2) ms" "5 ms" \
  "$(ratio "$itl" 5) (goal ≤ 1.10)"
bench "$work/r2000" --rate 2000 --duration "${secs}s" --warmup 1s --synthetic in=64,out=20
s="$work/r2000/summary.json"
rps=$(json_number "$s" steps achieved_rps)
lag=$(json_number "$s" schedule_lag_ms p99)
row "\`bench --rate 2000\` achieved req/s, same mock (ref: 2,000)" "$(num "$rps")" 2000 \
  "$(ratio "$rps" 2000) (goal ≥ 0.995)"
row "\`bench --rate 2000\` scheduling lag p99 (ref: the 1 ms goal)" "$(num "$lag" 2) ms" "1 ms" \
  "$(ratio "$lag" 1) (goal ≤ 1)"
stop_mock

# 5. Peak RSS by input size, as scripts/bench-run.sh measures it.
sizes=(100000 1000000)
[ "$quick" = 1 ] || sizes+=(10000000)
rss_ref=""
for n in "${sizes[@]}"; do
  # A failed run (a full disk: 10,000,000 result lines take about 12 GB) is said, not
  # silently ended by `set -e`.
  rss=$(SKIP_RSS=1 SKIP_BENCH=1 scripts/bench-run.sh "$n" 64 | grep -o 'peak_rss=[0-9.]*' | head -1 | cut -d= -f2) || true
  [ -n "$rss" ] || { echo "scripts/bench-run.sh $n 64 printed no peak_rss (free disk: $(df -h . | awk 'NR == 2 { print $4 }'))"; exit 1; }
  rss_ref=${rss_ref:-$rss}
  row "\`run\` peak RSS, $(printf "%'d" "$n") lines (ref: 100,000 lines)" "$rss MiB" "$rss_ref MiB" \
    "$(ratio "$rss" "$rss_ref") (goal ≤ 48 MiB, flat)"
done

# 6. Long context: client CPU per request, sheepdog bench against oha posting the same bodies.
long=$([ "$quick" = 1 ] && echo 100 || echo 500)
python3 - "$work/long.jsonl" "$work/long-bodies.jsonl" "$work/long-body.json" "$long" <<'EOF'
import json, random, sys
out, bodies_out, body_out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rng = random.Random(7)
words = ["alpha", "river", "stone", "light", "cloud", "paper", "north", "green", "metal", "quiet",
         "house", "table", "storm", "field", "glass", "music", "order", "plant", "sugar", "train"]
compact = {"separators": (",", ":")}
with open(out, "w") as f, open(bodies_out, "w") as bodies:
    for i in range(n):
        # About 400 KB: ~100,000 tokens of common words.
        text = f"Document {i}. " + " ".join(rng.choice(words) for _ in range(66_000))
        body = {"messages": [{"role": "user", "content": text}], "max_tokens": 1000}
        f.write(json.dumps({"id": f"long-{i}", **body}, **compact) + "\n")
        # The body sheepdog sends for that line, its fields in sheepdog's order.
        sent = {**body, "model": "gpt-4.1-mini", "stream": True, "stream_options": {"include_usage": True}}
        bodies.write(json.dumps(sent, **compact) + "\n")
        if i == 0:
            with open(body_out, "w") as b:
                json.dump(sent, b, **compact)
EOF
start_mock --ttft 0ms --itl 0ms --output-tokens 1000
# cpu_time FILE COMMAND...: runs COMMAND and writes its CPU-seconds (user + sys, its children
# included) to FILE, to the microsecond: GNU time prints hundredths, a tenth of a 500-request
# run's 0.1 to 0.2 s. The command is started by posix_spawn and its own rusage read by wait4:
# `subprocess` forks the interpreter first, which added 50 ms to every figure. Returns
# COMMAND's exit code.
cpu_time() {
  python3 -c '
import os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, used = os.wait4(pid, 0)
open(sys.argv[1], "w").write("%.6f\n" % (used.ru_utime + used.ru_stime))
sys.exit(os.waitstatus_to_exitcode(status))' "$@"
}
# CPU-seconds (user + sys) of `sheepdog bench` sending the first N lines. Printed as "CPU OK".
# With a second argument L, the first L lines only, cycled (L=1: oha's very body each time).
long_sheepdog() {
  local lines=${2:-$1}
  head -n "$lines" "$work/long.jsonl" > "$work/long-$1-$lines.jsonl"
  OPENAI_BASE_URL="$base_url" OPENAI_API_KEY=bench cpu_time "$work/long-time" \
    "$bin" bench --model gpt-4.1-mini --quiet --out "$work/long-$1-$lines" --input "$work/long-$1-$lines.jsonl" \
    --concurrency 32 --requests "$1" 2> "$work/long.log" || { echo "long-context bench failed:" >&2; tail -5 "$work/long.log" >&2; exit 1; }
  echo "$(cat "$work/long-time") $(json_number "$work/long-$1-$lines/summary.json" totals succeeded)"
  rm -rf "$work/long-$1-$lines" "$work/long-$1-$lines.jsonl"
}
# oha's CPU-seconds for N requests: `long_oha N D` posts the first body N times, `long_oha N Z`
# the first N bodies, one per line of a file (oha reads that file whole, then picks a line at
# random for each request).
long_oha() {
  local body=(-D "$work/long-body.json")
  if [ "$2" = Z ]; then
    head -n "$1" "$work/long-bodies.jsonl" > "$work/long-bodies-$1.jsonl"
    body=(-Z "$work/long-bodies-$1.jsonl")
  fi
  cpu_time "$work/oha-time" oha -n "$1" -c 32 --no-tui --output-format json -m POST \
    -H 'content-type: application/json' -H 'authorization: Bearer bench' "${body[@]}" \
    "$base_url/chat/completions" > "$work/oha-long.json"
  rm -f "$work/long-bodies-$1.jsonl"
  cat "$work/oha-time"
}
per_request() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.3f", t * 1000 / n }'; }
result=$(long_sheepdog "$long")
sd_cpu=${result% *} ok=${result#* }
oha_lines=$(long_oha "$long" Z)
cpu=$(per_request "$sd_cpu" "$long")
oha_lines_ms=$(per_request "$oha_lines" "$long")
row "long context: client CPU per request, $long × 400 KB prompts, 1,000-token streams, c=32 ($ok ok) (ref: oha -Z, the same $long bodies)" \
  "$cpu ms" "$oha_lines_ms ms" "$(ratio "$cpu" "$oha_lines_ms") (goal ≤ 2)"
# The same without what a run spends once (its start, the reports, oha's reading of its file):
# the CPU a run of a fifth as many requests used, taken off, over the requests between the two.
fifth=$((long / 5))
result=$(long_sheepdog "$fifth")
sd_fifth=${result% *}
oha_fifth=$(long_oha "$fifth" Z)
marginal=$(per_request "$(awk -v a="$sd_cpu" -v b="$sd_fifth" 'BEGIN { print a - b }')" $((long - fifth)))
oha_marginal=$(per_request "$(awk -v a="$oha_lines" -v b="$oha_fifth" 'BEGIN { print a - b }')" $((long - fifth)))
row "long context: client CPU per further request, between runs of $fifth and $long (ref: oha -Z, the same way)" \
  "$marginal ms" "$oha_marginal ms" "$(ratio "$marginal" "$oha_marginal")"
# The same requests as oha's: the first prompt, sent $long times (no input to read per request).
oha_cpu=$(long_oha "$long" D)
oha_ms=$(per_request "$oha_cpu" "$long")
result=$(long_sheepdog "$long" 1)
one=$(per_request "${result% *}" "$long")
row "long context: client CPU per request, the first prompt sent $long times (${result#* } ok) (ref: oha -D, that one body)" \
  "$one ms" "$oha_ms ms" "$(ratio "$one" "$oha_ms") (goal ≤ 2)"
# What reading distinct prompts costs: the $long prompts against oha's one held body.
row "long context: client CPU per request, $long prompts read from their file (ref: oha -D, one body held)" \
  "$cpu ms" "$oha_ms ms" "$(ratio "$cpu" "$oha_ms")"
stop_mock
rm -f "$work/long.jsonl" "$work/long-bodies.jsonl" "$work/long-body.json"

cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
echo
echo "| measure | value | reference | ratio |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "Machine: $(uname -sm), $(nproc) cores ($cpu_model), $mem; sheepdog $("$bin" --version | awk '{print $2}'), oha $(oha --version | awk '{print $2}'); $(date -u +%Y-%m-%d); load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo "The mock server, the client and oha share these cores."
