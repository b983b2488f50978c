#!/usr/bin/env bash
# A bounded, reproducible libFuzzer run for ctest: RUNS inputs from a fixed seed (TSOPT_FUZZ_SEED
# changes it). Any crash, leak of memory limits or timeout it finds is copied into KEEP (the
# target's regressions folder in the source tree), which Fuzz.Replay.<target> replays from then on.
# usage: run_bounded.sh FUZZER RUNS KEEP SEED_DIR...
set -uo pipefail
fuzzer="$1" runs="$2" keep="$3"
shift 3
if [ ! -x "$fuzzer" ]; then
  echo "skipped: no libFuzzer build (scripts/install-deps installs clang and libclang-rt-dev)"
  exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
export ASAN_OPTIONS="detect_leaks=0:alloc_dealloc_mismatch=0"
"$fuzzer" -seed="${TSOPT_FUZZ_SEED:-1}" -runs="$runs" -max_total_time=300 -max_len=65536 \
  -timeout=30 -rss_limit_mb=2048 -artifact_prefix="$work/" "$work/corpus" "$@" >"$work/log" 2>&1
status=$?
if [ "$status" -eq 0 ]; then
  grep -E "^#[0-9]+ +DONE|^Done" "$work/log" | tail -1
  exit 0
fi
grep -m1 -A25 -E "ERROR: |==ERROR|runtime error" "$work/log" || tail -25 "$work/log"
for found in "$work"/crash-* "$work"/oom-* "$work"/timeout-* "$work"/leak-*; do
  [ -f "$found" ] || continue
  name="$(basename "$found")"
  cp "$found" "$keep/$name"
  echo "kept $keep/$name: Fuzz.Replay replays it from now on; fix the bug it shows"
done
exit 1
