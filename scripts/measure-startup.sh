#!/usr/bin/env bash
# How soon a daemon with many DNS checks probes at its full rate after it starts.
# Starts one PowerDNS answering a zone on loopback and `dnsteer run` (release build)
# with N `kind: dns` checks at a 1 s interval against it, samples the daemon's probe
# counter (dnsteer_probes_total on /metrics) every second, and prints the seconds until
# the rate reaches 90% of N/s and stays there (5 samples in a row: the first second's
# burst of first probes does not count), the rate over time, and the daemon's CPU and RSS.
# Loopback only; everything it starts is stopped and its folder removed on exit.
# Usage: scripts/measure-startup.sh [N=5000] [SECONDS=60]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}; secs=${2:-60}
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q --bin dnsteer
bin="$target_dir/release/dnsteer"

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    # Bounded wait, then SIGKILL: cleanup must never hang.
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() { # what, seconds, command...
  local what=$1 limit=$2; shift 2
  for _ in $(seq $((limit * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$what not ready after ${limit}s" >&2; exit 1
}

dns_port=$(free_port); pdns_api=$(free_port); api=$(free_port)
key=bench-key
# PowerDNS without caches, one receiver thread, as the tests run it (tests/support/pdns.rs).
cat > "$dir/pdns.conf" <<CONF
launch=gsqlite3
gsqlite3-database=$dir/pdns.sqlite3
gsqlite3-dnssec=no
local-address=127.0.0.1
local-port=$dns_port
socket-dir=$dir
api=yes
api-key=$key
webserver=yes
webserver-address=127.0.0.1
webserver-port=$pdns_api
webserver-allow-from=127.0.0.0/8
loglevel=4
security-poll-suffix=
disable-syslog=yes
guardian=no
daemon=no
write-pid=no
cache-ttl=0
negquery-cache-ttl=0
query-cache-ttl=0
CONF
sqlite3 "$dir/pdns.sqlite3" < /usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql
pdns_server --config-dir="$dir" >"$dir/pdns.log" 2>&1 &
pids+=($!)
wait_for "PowerDNS API" 20 curl -sf -H "X-API-Key: $key" "http://127.0.0.1:$pdns_api/api/v1/servers/localhost"
curl -sf -o /dev/null -X POST -H "X-API-Key: $key" -H 'Content-Type: application/json' \
  "http://127.0.0.1:$pdns_api/api/v1/servers/localhost/zones" --data '{
    "name": "bench.test.", "kind": "Native", "nameservers": ["ns1.bench.test."],
    "rrsets": [{"name": "www.bench.test.", "type": "A", "ttl": 60,
                "records": [{"content": "192.0.2.10", "disabled": false}]}]}'
wait_for "PowerDNS answering" 10 sh -c "dig +short +norecurse -p $dns_port @127.0.0.1 www.bench.test. A | grep -q 192.0.2.10"

{
  echo "agent: { id: bench, listen: \"127.0.0.1:$api\", state_file: \"$dir/state.json\" }"
  echo "defaults: { interval: 1s, timeout: 500ms }"
  echo "providers: {}"
  echo "zones: []"
  echo "checks:"
  for i in $(seq 1 "$n"); do
    echo "  d$i: { kind: dns, server: \"127.0.0.1:$dns_port\", query: { name: www.bench.test., type: A } }"
  done
} > "$dir/dnsteer.yaml"

hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
probes() {
  curl -s --max-time 2 "127.0.0.1:$api/metrics" | awk '/^dnsteer_probes_total/ {s += $2} END {printf "%d\n", s}'
}

started=$(date +%s.%N)
"$bin" --config "$dir/dnsteer.yaml" -q run 2>"$dir/dnsteer.log" &
daemon=$!
pids+=("$daemon")
wait_for "dnsteer API" 30 curl -sf "127.0.0.1:$api/healthz"

echo "t_s   probes/s   cpu(cores)  rss_MB"
prev_probes=$(probes); prev_t=$(date +%s.%N); prev_cpu=$(cpu_ticks "$daemon")
cpu0=$prev_cpu; t0=$prev_t; max_rss=0; rates=(); times=()
for _ in $(seq "$secs"); do
  sleep 1
  kill -0 "$daemon" 2>/dev/null || { echo "dnsteer exited:" >&2; tail -20 "$dir/dnsteer.log" >&2; exit 1; }
  now=$(date +%s.%N); p=$(probes); c=$(cpu_ticks "$daemon"); rss=$(rss_kb "$daemon")
  read -r t rate cores < <(awk -v s="$started" -v n="$now" -v pt="$prev_t" -v p="$p" -v pp="$prev_probes" \
    -v c="$c" -v pc="$prev_cpu" -v hz="$hz" \
    'BEGIN {dt = n - pt; printf "%.1f %.0f %.2f\n", n - s, (p - pp) / dt, (c - pc) / hz / dt}')
  ((rss > max_rss)) && max_rss=$rss
  printf "%5s %9s %10s %8d\n" "$t" "$rate" "$cores" $((rss / 1024))
  rates+=("$rate"); times+=("$t")
  prev_probes=$p; prev_t=$now; prev_cpu=$c
done

# Full rate: the first sample from which five in a row are at >= 90% of N/s.
full=$(paste <(printf '%s\n' "${times[@]}") <(printf '%s\n' "${rates[@]}") | awk -v n="$n" '
  {t[NR] = $1; ok[NR] = ($2 >= 0.9 * n)}
  END {for (i = 1; i + 4 <= NR; i++) {all = 1; for (j = i; j < i + 5; j++) all = all && ok[j]; if (all) {print t[i]; exit}}}')
end=$(date +%s.%N); cpu_end=$(cpu_ticks "$daemon")
avg_cores=$(awk -v c="$cpu_end" -v c0="$cpu0" -v hz="$hz" -v e="$end" -v s="$t0" 'BEGIN {printf "%.2f", (c - c0) / hz / (e - s)}')
# Steady state: the last 10 samples.
steady=$(printf '%s\n' "${rates[@]}" | tail -10 | awk '{s += $1} END {printf "%.0f", s / NR}')
echo "checks: $n at 1 s; full rate (>= 90% of $n/s) after: ${full:-never within ${secs}s} s since start"
echo "steady rate (last 10 s): $steady probes/s; CPU over the run: $avg_cores cores; peak RSS: $((max_rss / 1024)) MB"
