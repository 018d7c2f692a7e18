#!/usr/bin/env bash
# Runs every shoal test. Installs what the tests need when it is missing: the reference
# BitTorrent programs the interop tests run against (Debian packages, needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have mktorrent || need_pkgs+=(mktorrent)
have opentracker || need_pkgs+=(opentracker)
have aria2c || need_pkgs+=(aria2)
have transmission-daemon || need_pkgs+=(transmission-daemon)
have transmission-remote || need_pkgs+=(transmission-cli)
have qbittorrent-nox || need_pkgs+=(qbittorrent-nox)
have rtorrent || need_pkgs+=(rtorrent)
have tmux || need_pkgs+=(tmux)
have openssl || need_pkgs+=(openssl)
/usr/bin/python3 -c 'import libtorrent' >/dev/null 2>&1 || need_pkgs+=(python3-libtorrent)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "installing test dependencies: ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_pkgs[@]}"
fi

# Release-mode tests: the interop tests move tens of MiB through shoal and the reference clients.
# The interop tests run the real binary (target/release/shoal).
cargo build --release --locked -p shoal
cargo test --workspace --release --locked --no-fail-fast -- --test-threads="${SHOAL_TEST_THREADS:-2}"
