#!/usr/bin/env bash
# User-space instructions per operation of one plugin-bench case, counted by callgrind:
# the bench's profile mode (NSPLUG_BENCH_PROFILE) run with 10 and with 30 calls, the difference
# divided by the 20 x 200 operations it adds, so loading, compiling and setup cancel out.
# Unlike timings on a shared VM, the count repeats from run to run (within 1 %).
#
#   host/benches/instructions.sh CASE...     (as root; CASE: noop sysctl links rust-sysctl rust-links)
#
# noop has no operations: its figure is per call (one instantiation and call).
set -euo pipefail
[ $# -gt 0 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
cd "$(dirname "$0")/../.."
bench=$(cargo bench -p nsplug-host --bench plugin --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*plugin-[^"]*\)".*/\1/p' | tail -1)
[ -x "$bench" ] || { echo "instructions.sh: could not build the plugin bench" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
    NSPLUG_BENCH_PROFILE=$1 NSPLUG_BENCH_PROFILE_CALLS=$2 \
        valgrind --tool=callgrind --callgrind-out-file="$out/$1.$2" "$bench" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for case in "$@"; do
    per=200 unit=operation
    [ "$case" = noop ] && per=1 unit=call
    few=$(count "$case" 10)
    many=$(count "$case" 30)
    echo "$case: $(((many - few) / (20 * per))) instructions per $unit"
done
