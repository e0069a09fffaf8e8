#!/usr/bin/env bash
# Installs the real servers and tools the test suite starts: PowerDNS Authoritative
# (sqlite backend), BIND 9, Knot, dig/nsupdate, dnsperf, sqlite3, curl. Idempotent.
set -euo pipefail

packages=(pdns-server pdns-backend-sqlite3 bind9 bind9-utils bind9-dnsutils knot knot-dnsutils
          dnsperf sqlite3 curl jq iproute2 nftables)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's packages may start their services on install on some machines; the tests
# start their own instances on their own ports, so stop any system copies.
for svc in pdns named bind9 knot; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
echo "test dependencies ready: $(pdns_server --version 2>&1 | grep -o 'PowerDNS Authoritative Server [0-9.]*' | head -1), $(named -v), knotd $(knotd --version | grep -o '[0-9][0-9.]*' | head -1)"
