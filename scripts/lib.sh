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
