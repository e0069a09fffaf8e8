#!/usr/bin/env bash
# Builds the Debian package target/debian/dnsteer_*.deb: the binary, the systemd unit,
# a sample configuration, the docs, the man page and shell completions (both generated
# from the CLI definition by the binary itself). Needs cargo-deb
# (`cargo install cargo-deb --locked`). Usage: scripts/package.sh [PROFILE] (release).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-release}"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$profile" in
  dev) out="$target_dir/debug" ;;
  *) out="$target_dir/$profile" ;;
esac
# PACKAGE_PREBUILT=1: the binary is already built for this profile (the package test
# runs on the one `cargo test` built, whose features may differ from a plain build's).
[ "${PACKAGE_PREBUILT:-}" = 1 ] || cargo build --locked --profile "$profile" --bin dnsteer
# cargo-deb takes assets relative to the package; generated ones go under target/assets.
assets=target/assets
mkdir -p "$assets"
"$out/dnsteer" generate man | gzip -9n > "$assets/dnsteer.1.gz"
"$out/dnsteer" generate completions bash > "$assets/dnsteer.bash"
"$out/dnsteer" generate completions zsh > "$assets/_dnsteer"
"$out/dnsteer" generate completions fish > "$assets/dnsteer.fish"
extra=()
# A dev build is for the package test: quick compression, no stripping needed.
[ "$profile" = dev ] && extra+=(--fast)
cargo deb --no-build --locked --profile "$profile" -o "$target_dir/debian" "${extra[@]}"
