#!/usr/bin/env bash
# Daemon memory with N targets: N HTTP checks (interval 1 s) against a local HTTP
# server, no providers; prints VmRSS and VmHWM after a warm-up. Loopback only.
# Usage: scripts/measure-rss.sh [N=100] [SECONDS=15]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}; secs=${2:-15}
cargo build --release -q
dir=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
api=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$dir" >/dev/null 2>&1 &
{
  echo "agent: { id: rss, listen: \"127.0.0.1:$api\", state_file: \"$dir/state.json\" }"
  echo "defaults: { interval: 1s, timeout: 500ms }"
  echo "providers: {}"
  echo "zones: []"
  echo "checks:"
  for i in $(seq 1 "$n"); do echo "  c$i: { kind: http, url: \"http://127.0.0.1:$port/\" }"; done
} > "$dir/dnsteer.yaml"
./target/release/dnsteer --config "$dir/dnsteer.yaml" -q run 2>"$dir/log" &
pid=$!
sleep "$secs"
probes=$(curl -s "127.0.0.1:$api/metrics" | awk '/^dnsteer_probes_total/ {s+=$2} END {print s}')
echo "targets: $n, after ${secs}s: $(grep -E 'VmRSS|VmHWM' /proc/$pid/status | tr -s ' ' | tr '\n' ' '), probes so far: $probes"
kill -TERM "$pid"; wait "$pid"
