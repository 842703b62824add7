# Helpers shared by the benchmark scripts: `source scripts/lib.sh` from the repository's root.
# A script sets `bin` (the sheepdog binary to start the mock from) and `work` (its scratch
# folder) before calling them.

# Stops the mock started by `start_mock`, if one runs.
stop_mock() {
  if [ -n "${mock_pid:-}" ]; then
    kill "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
    mock_pid=""
  fi
}

# start_mock ARGS...: starts `$bin mock --port 0 ARGS` on 127.0.0.1 (stopping one started
# before), its log in $work/mock.log; sets mock_pid, and base_url once the mock listens. Exits
# with the log when it has not started within 5 s.
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

# json_number FILE SECTION KEY: the first number named KEY after the line that opens SECTION in
# a pretty-printed JSON file (summary.json).
json_number() {
  awk -v section="\"$2\": " -v key="\"$3\": " '
    index($0, section) { inside = 1 }
    inside && index($0, key) { sub(/.*": */, ""); sub(/,$/, ""); print; exit }
  ' "$1"
}

# make_work: a scratch folder in $work, removed (and the mock stopped) when the script exits.
make_work() {
  work=$(mktemp -d)
  mock_pid=""
  trap 'stop_mock; rm -rf "$work"' EXIT
}

# short_prompts N FILE: N short chat prompts (ids p1 to pN), the input of the per-request
# measures (scripts/instructions.sh, scripts/cpu.sh).
short_prompts() {
  awk -v n="$1" 'BEGIN {
    for (i = 1; i <= n; i++)
      printf "{\"id\":\"p%d\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise item 7 of the benchmark in one sentence, please.\"}],\"max_tokens\":32}\n", i
  }' > "$2"
}

# short_runs LINES [BINARY...]: the binaries to measure in $clients (the release build, built
# first, when none is given), a scratch folder ($work) holding LINES short prompts
# ($work/in.jsonl), and the first binary's `mock --latency 0ms` started to answer them
# ($base_url).
short_runs() {
  local lines=$1
  shift
  clients=("$@")
  if [ ${#clients[@]} -eq 0 ]; then
    cargo build --release --quiet
    clients=(target/release/sheepdog)
  fi
  make_work
  short_prompts "$lines" "$work/in.jsonl"
  bin=${clients[0]}
  start_mock --latency 0ms
}
