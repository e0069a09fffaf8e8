#!/usr/bin/env bash
# Benchmarks: each dnsteer figure measured next to a reference tool's, in one run, on
# loopback (docs/benchmarks.md):
#   1. DNS probe throughput on one core vs dnsperf, against the same PowerDNS;
#   2. `dnsteer plan` of a 10,000-record PowerDNS zone vs octoDNS planning it;
#   3. failure-to-decision latency at a 1 s interval at the defaults (vs gdnsd if installed),
#      and the false decisions of the defaults under random loss and short blips.
# Not part of the test suite. Needs pdns_server, sqlite3, dnsperf, taskset
# (scripts/install-test-deps.sh) and python3; installs octoDNS into .venv-bench/ and,
# when apt has it and we are root, gdnsd.
#
#   bash scripts/bench.sh [--quick] [--no-gdnsd]
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
gdnsd=1
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    --no-gdnsd) gdnsd=0 ;;
    -h | --help)
      sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "bench: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

for tool in pdns_server sqlite3 dnsperf python3; do
  command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin" command -v "$tool" >/dev/null || {
    echo "bench: $tool not found: run scripts/install-test-deps.sh" >&2
    exit 1
  }
done

# octoDNS, the plan reference (PyPI), in its own virtualenv.
venv=.venv-bench
if [ ! -x "$venv/bin/octodns-sync" ]; then
  echo "bench: installing octoDNS into $venv/ ..."
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check octodns octodns-powerdns
fi
export OCTODNS_SYNC="$PWD/$venv/bin/octodns-sync"

# gdnsd, the optional failover reference: only from apt, only if apt has a candidate.
if [ "$gdnsd" = 1 ] && ! command -v gdnsd >/dev/null && [ ! -x /usr/sbin/gdnsd ]; then
  # Not `grep -q`: it exits at the first match, apt-cache dies of SIGPIPE, and under
  # pipefail the pipeline fails although apt has a candidate.
  candidate=$(apt-cache policy gdnsd 2>/dev/null | sed -n 's/^ *Candidate: //p' || true)
  if [ "$(id -u)" = 0 ] && [[ "$candidate" =~ ^[0-9] ]]; then
    echo "bench: installing gdnsd (apt) ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gdnsd >/dev/null ||
      echo "bench: gdnsd could not be installed: its comparison is skipped"
  else
    echo "bench: gdnsd not available from apt (or not root): its comparison is skipped"
  fi
fi
export DNSTEER_BENCH_GDNSD="$gdnsd"

benches=(probe_throughput plan_vs_octodns failure_decision)
bench_args=()
for b in "${benches[@]}"; do bench_args+=(--bench "$b"); done
echo "bench: building (release) ..."
cargo bench --quiet --no-run "${bench_args[@]}"

results=$(mktemp)
trap 'rm -f "$results"' EXIT
export DNSTEER_BENCH_RESULTS="$results"

echo
echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(uname -r)"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (figures are noisy if other work runs)"
# A tool's version, from whatever it prints (some exit non-zero doing so): version PATTERN CMD...
version() {
  local pattern=$1
  shift
  { "$@" 2>&1 || true; } | grep -Eo "$pattern" | head -1 || true
}
pdns=$(version 'Authoritative Server [0-9.]+' pdns_server --version)
perf=$(version 'Version [0-9.]+' dnsperf -h)
gd=$(PATH="$PATH:/usr/sbin" version 'gdnsd version [0-9.]+' gdnsd -V)
octo=$("$venv/bin/pip" show octodns 2>/dev/null | sed -n 's/^Version: //p')
echo "versions: PowerDNS ${pdns#Authoritative Server }, dnsperf ${perf#Version }, octoDNS $octo, ${gd:-no gdnsd}"
for b in "${benches[@]}"; do
  echo
  cargo bench --quiet --bench "$b" -- "${quick[@]}"
done

echo
echo "== results"
{
  printf 'figure\tdnsteer\treference\tratio\taim\tmet?\n'
  cat "$results"
} | column -t -s $'\t' -o ' | '
