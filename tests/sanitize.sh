#!/bin/bash
# Every test under AddressSanitizer (with LeakSanitizer) and
# UndefinedBehaviorSanitizer, in a build folder of its own.
#
#   bash tests/sanitize.sh [BUILD_DIR]      (default build-asan)
#
# The daemons the end-to-end tests start write their reports to files, not
# to the test's output (their standard error goes to the instance's logs),
# so every process writes to a log folder and this script fails when any
# report is there, even if every test passed. Not part of .ci/run: a
# second, sanitized build of everything would not fit CI's time on two
# cores. Exit status: 0 when the tests pass and no sanitizer said anything.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-asan}
if [ ! -d "$build" ]; then
  meson setup "$build" -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$build"
logs=$(mktemp -d /tmp/imta-sanitize-XXXXXX)
status=0
ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan" UBSAN_OPTIONS="print_stacktrace=1:log_path=$logs/ubsan" \
  meson test -C "$build" --timeout-multiplier 5 --num-processes 2 || status=$?
if compgen -G "$logs/*" >/dev/null; then
  echo "sanitizer reports (in $logs):"
  for f in "$logs"/*; do
    echo "== $f"
    grep -E "ERROR: |runtime error|SUMMARY" "$f" | head -5
  done
  exit 1
fi
rmdir "$logs"
echo "no sanitizer reports"
exit "$status"
