#!/usr/bin/env bash
# Compares `shoal create` hashing throughput with OpenSSL's single-core SHA-1 rate.
#
# Usage: scripts/bench-hash.sh [SIZE_MIB]   (default 1024)
#   SHOAL=path/to/shoal   use this binary instead of building target/release/shoal
#   RUNS=N                timed runs per thread count; the best is kept (default 3)
#
# The test file lives in a temporary folder and is read once before timing, so both sides
# hash from memory: this compares SHA-1 implementations and the read path, not disks.
# Prints the machine, OpenSSL's rate, and for shoal with 1 and N threads the wall-clock rate
# and the rate per CPU-second (user + system time of all threads, reads included). OpenSSL's
# `speed` also divides by CPU time, so "per CPU-second" is the per-core comparison, and it
# stays meaningful on a machine that other work shares.
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

# Runs the command given as arguments $runs times; prints the best wall-clock seconds and the
# least CPU seconds (user + system, all threads) among the runs.
measure() {
    local best_wall="" best_cpu=""
    for _ in $(seq "$runs"); do
        local t
        rm -f "$work/out.torrent"
        t=$( { TIMEFORMAT='%R %U %S'; time "$@" > /dev/null 2>&1; } 2>&1 )
        read -r wall cpu < <(echo "$t" | awk '{printf "%s %.3f\n", $1, $2 + $3}')
        if [[ -z "$best_wall" ]] || awk -v a="$wall" -v b="$best_wall" 'BEGIN{exit !(a < b)}'; then
            best_wall=$wall
        fi
        if [[ -z "$best_cpu" ]] || awk -v a="$cpu" -v b="$best_cpu" 'BEGIN{exit !(a < b)}'; then
            best_cpu=$cpu
        fi
    done
    echo "$best_wall $best_cpu"
}

echo "machine:  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $cores cores"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
echo "openssl:  $openssl_mbs MB/s  (openssl speed -evp sha1, 16 KiB blocks, one core)"
threads_list="1"
if (( cores > 1 )); then threads_list="1 $cores"; fi
# report LABEL THREADS WALL CPU
report() {
    awk -v l="$1" -v t="$2" -v w="$3" -v c="$4" -v n="$size_mib" -v o="$openssl_mbs" -v r="$runs" 'BEGIN{
        mb = n * 1.048576
        printf "%-9s %d thread(s): %7.1f MB/s wall (%.3f s); %7.1f MB per CPU-second (%.3f s user+sys) = %.0f %% of openssl per core (best of %d)\n",
            l ":", t, mb / w, w, mb / c, c, 100 * mb / c / o, r
    }'
}

for t in $threads_list; do
    read -r wall cpu < <(measure "$SHOAL" create "$data" -o "$work/out.torrent" --no-date --force --threads "$t")
    report shoal "$t" "$wall" "$cpu"
done
# mktorrent (OpenSSL's SHA-1, plain read()) for reference, at the same piece length.
if command -v mktorrent > /dev/null; then
    plen=$("$SHOAL" info --json "$work/out.torrent" | python3 -c 'import json,sys; print(json.load(sys.stdin)["piece_length"])')
    log2=$(awk -v p="$plen" 'BEGIN{n = 0; while (p > 1) { p /= 2; n++ } print n}')
    for t in $threads_list; do
        read -r wall cpu < <(measure mktorrent -l "$log2" -t "$t" -d -a http://127.0.0.1/announce -o "$work/out.torrent" "$data")
        report mktorrent "$t" "$wall" "$cpu"
    done
fi
