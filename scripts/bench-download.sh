#!/usr/bin/env bash
# Downloads the same torrent from one libtorrent seeder on loopback with shoal and each
# reference client (rqbit too when on PATH), several runs each, and prints the comparison.
# Usage: scripts/bench-download.sh [--mib 1024] [--runs 3] [--clients shoal,aria2,...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p shoal -p shoal-bench
exec target/release/shoal-bench download "$@"
