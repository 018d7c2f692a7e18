#!/usr/bin/env bash
# Compares `shoal create` hashing throughput with OpenSSL's single-core SHA-1 rate.
#
# Usage: scripts/bench-hash.sh [SIZE_MIB]   (default 1024)
#   SHOAL=path/to/shoal   use this binary instead of building target/release/shoal
#   RUNS=N                timed runs per thread count; the best is kept (default 3)
#
# The test file lives in a temporary folder and is read once before timing, so both sides
# hash from memory: this compares SHA-1 implementations and the read path, not disks.
# Prints the machine, OpenSSL's rate, shoal's rate with 1 and N threads, and shoal's rate
# per thread as a percentage of OpenSSL's.
set -euo pipefail

size_mib=${1:-1024}
runs=${RUNS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
cores=$(nproc)

if [[ -z "${SHOAL:-}" ]]; then
    cargo build --quiet --release -p shoal --manifest-path "$root/Cargo.toml"
    target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    SHOAL="$target/release/shoal"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data="$work/data.bin"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$data"
cat "$data" > /dev/null

# OpenSSL prints rates in 1000s of bytes per second; the last column is 16 KiB blocks.
openssl_mbs=$(openssl speed -evp sha1 -seconds 3 2>/dev/null \
    | awk '/^sha1 /{v=$NF; sub(/k$/, "", v); printf "%.1f", v / 1000}')

# Best wall-clock seconds of $runs runs of `shoal create` with $1 threads.
best_time() {
    local best=""
    for _ in $(seq "$runs"); do
        local t0 t1 dt
        t0=$(date +%s.%N)
        "$SHOAL" create "$data" -o "$work/out.torrent" --no-date --force --threads "$1" > /dev/null
        t1=$(date +%s.%N)
        dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", b - a}')
        if [[ -z "$best" ]] || awk -v d="$dt" -v b="$best" 'BEGIN{exit !(d < b)}'; then
            best=$dt
        fi
    done
    echo "$best"
}

echo "machine:  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $cores cores"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
echo "openssl:  $openssl_mbs MB/s  (openssl speed -evp sha1, 16 KiB blocks, one core)"
threads_list="1"
if (( cores > 1 )); then threads_list="1 $cores"; fi
for t in $threads_list; do
    secs=$(best_time "$t")
    awk -v n="$size_mib" -v s="$secs" -v t="$t" -v o="$openssl_mbs" -v r="$runs" 'BEGIN{
        mbs = n * 1.048576 / s
        printf "shoal:    %7.1f MB/s with %d thread(s): %.1f MB/s per thread = %.0f %% of openssl per core (%d MiB in %.3f s, best of %d)\n",
            mbs, t, mbs / t, 100 * mbs / t / o, n, s, r
    }'
done
