#!/usr/bin/env bash
# Installs the real servers and tools the test suite starts: PowerDNS Authoritative
# (sqlite backend), BIND 9, Knot, unbound (the resolver of tests/e2e_resolver.rs), etcd 3.4,
# dig/nsupdate, dnsperf, sqlite3, curl, and headless Chromium with chromedriver (the status
# page's browser test, tests/e2e_page.rs), dpkg-deb's cargo-deb. Idempotent.
set -euo pipefail

packages=(pdns-server pdns-backend-sqlite3 bind9 bind9-utils bind9-dnsutils knot knot-dnsutils
          unbound dnsperf sqlite3 curl jq iproute2 nftables etcd-server etcd-client openssl ca-certificates
          chromium chromium-driver fonts-dejavu-core)
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
for svc in pdns named bind9 knot unbound etcd; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
# cargo-deb builds the Debian package (scripts/package.sh, tests/package.rs). Pinned:
# the package test packages the dev build, which later majors may refuse.
if ! cargo deb --version 2>/dev/null | grep -q "3\.8\."; then
  cargo install cargo-deb --locked --version 3.8.0 --quiet
fi
# Python emulators and clients for the cloud-provider tests, in a virtualenv beside the
# repository (.venv-test, gitignored): moto's server (Route 53, Route 53 Domains) and the
# providers' official SDKs, each an independent client of dnsteer's fake of that API
# (Cloudflare, NS1, Azure with azure-identity).
if ! python3 -c "import ensurepip, venv" 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi
venv="$(dirname "$0")/../.venv-test"
requirements=('moto[server]>=5.1,<6' 'cloudflare>=4,<6' 'ns1-python>=0.24,<1'
              'azure-mgmt-dns>=9,<10' 'azure-identity>=1.15,<2')
imports="cloudflare, ns1, azure.mgmt.dns, azure.identity"
if [ ! -x "$venv/bin/moto_server" ] || ! "$venv/bin/python" -c "import $imports" 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${requirements[@]}"
fi
echo "test dependencies ready: $(pdns_server --version 2>&1 | grep -o 'PowerDNS Authoritative Server [0-9.]*' | head -1), $(named -v), knotd $(knotd --version | grep -o '[0-9][0-9.]*' | head -1), etcd $(etcd --version | head -1 | grep -o '[0-9][0-9.]*'), moto $("$venv/bin/python" -c "import moto; print(moto.__version__)"), cloudflare SDK $("$venv/bin/python" -c "import cloudflare; print(cloudflare.__version__)"), ns1-python $("$venv/bin/python" -c "import ns1; print(ns1.version)"), azure-mgmt-dns $("$venv/bin/python" -c "from azure.mgmt.dns import VERSION; print(VERSION)")"
