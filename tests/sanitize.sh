#!/bin/bash
# Every test under sanitizers, in a build folder of their own:
#
#   bash tests/sanitize.sh [BUILD_DIR]
#       AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer,
#       in build-asan/ unless BUILD_DIR says otherwise
#   SANITIZE=thread bash tests/sanitize.sh [BUILD_DIR]
#       ThreadSanitizer, in build-tsan/
#
# The daemons the end-to-end tests start write their reports to files, not
# to the test's output (their standard error goes to the instance's logs),
# so every process writes to a log folder and this script fails when any
# report is there, even if every test passed. Not part of .ci/run: a
# second, sanitized build of everything would not fit CI's time on two
# cores. Exit status: 0 when the tests pass and no sanitizer said anything.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=${SANITIZE:-address,undefined}
case "$sanitize" in
  thread) build=${1:-build-tsan} ;;
  address,undefined) build=${1:-build-asan} ;;
  *) echo "sanitize.sh: SANITIZE must be address,undefined or thread" >&2; exit 2 ;;
esac
if [ ! -d "$build" ]; then
  meson setup "$build" -Dbuildtype=debug -Db_sanitize="$sanitize" -Db_lundef=false
fi
ninja -C "$build"
logs=$(mktemp -d /tmp/imta-sanitize-XXXXXX)
status=0
ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan" UBSAN_OPTIONS="print_stacktrace=1:log_path=$logs/ubsan" \
  TSAN_OPTIONS="log_path=$logs/tsan" \
  meson test -C "$build" --timeout-multiplier 6 --num-processes 2 || status=$?
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
