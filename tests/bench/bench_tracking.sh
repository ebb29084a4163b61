#!/bin/bash
# Benchmark: what message tracking and the channel counters cost the SMTP
# acceptance rate. One imtad instance, the same load (imta-loadgen send)
# with LOG_TRACKING=1 LOG_COUNTERS=1 and with both 0, alternating, in the
# same run. Prints the figures and the difference; asserts nothing.
# Loopback only; ports chosen at run time.
#
#   bash tests/bench/bench_tracking.sh [MESSAGES] [SESSIONS] [PER_CONNECTION]
#
# Environment: BUILD (default ./build), RUNS (rounds of on+off, default 3),
# IMTAD (default $BUILD/tools/imtad).
# The job controller is paused while the load runs (as in
# bench_smtp_accept.sh), so only the dispatcher's E records feed the
# databases: the figure is the cost on the acceptance path.
set -euo pipefail
cd "$(dirname "$0")/../.."
messages=${1:-20000}
sessions=${2:-50}
per_conn=${3:-10}
runs=${RUNS:-3}
build=${BUILD:-build}
imta=$build/tools/imta
imtad=${IMTAD:-$build/tools/imtad}
loadgen=$build/tools/imta-loadgen

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

root=$(mktemp -d /tmp/imta-bench-tracking-XXXXXX)
imtad_pid=""
cleanup() {
  if [ -n "$imtad_pid" ]; then
    if [ -f "$inst/run/job_controller.pid" ]; then kill -CONT "$(cat "$inst/run/job_controller.pid")" 2>/dev/null || true; fi
    kill "$imtad_pid" 2>/dev/null || true
    wait "$imtad_pid" 2>/dev/null || true
  fi
  rm -rf "$root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inst=$root/imta
"$imta" init "$inst" --domain example.test --hostname mail.example.test >/dev/null
p1=$(free_port); p2=$(free_port); p3=$(free_port)
sed -i "s/^PORT=2525/PORT=$p1/; s/^PORT=2587/PORT=$p2/; s/^PORT=2465/PORT=$p3/; s/^TLS_PORT=2465/TLS_PORT=$p3/" \
  "$inst/config/dispatcher.cnf"
sed -i "s/^MAX_CONNS=.*/MAX_CONNS=20000/" "$inst/config/dispatcher.cnf"
"$imta" --root "$inst" user add bench --no-password >/dev/null
cp "$inst/config/option.dat" "$root/option.dat.orig"
ulimit -n 65536 2>/dev/null || true

configure() {  # 1 | 0
  cp "$root/option.dat.orig" "$inst/config/option.dat"
  printf 'LOG_TRACKING=%s\nLOG_COUNTERS=%s\n' "$1" "$1" >>"$inst/config/option.dat"
  "$imta" --root "$inst" cnbuild >/dev/null 2>&1
}

start_imtad() {
  rm -f "$inst/run/dispatcher.status"
  "$imtad" --root "$inst" --foreground 2>>"$root/imtad.log" &
  imtad_pid=$!
  for _ in $(seq 200); do [ -f "$inst/run/dispatcher.status" ] && break; sleep 0.1; done
  for _ in $(seq 50); do [ -S "$inst/run/job_controller.ctl" ] && break; sleep 0.1; done
  if [ -f "$inst/run/job_controller.pid" ]; then kill -STOP "$(cat "$inst/run/job_controller.pid")" 2>/dev/null || true; fi
}
stop_imtad() {
  if [ -f "$inst/run/job_controller.pid" ]; then kill -CONT "$(cat "$inst/run/job_controller.pid")" 2>/dev/null || true; fi
  kill "$imtad_pid" 2>/dev/null || true
  wait "$imtad_pid" 2>/dev/null || true
  imtad_pid=""
}

measure() {  # 1 | 0 -> prints messages/s
  configure "$1"
  rm -rf "$inst/db/tracking.sqlite"* "$inst/db/counters.sqlite"*
  start_imtad
  "$loadgen" send --host 127.0.0.1 --port "$p1" --messages "$messages" --concurrency "$sessions" \
    --size 1024 --per-connection "$per_conn" --to bench@example.test --from sender@example.org --json |
    python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["messages_per_s"])'
  sleep 0.5  # the log writer's last batch
  stop_imtad
  if [ "$1" = 1 ]; then
    rows=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from tracking').fetchone()[0])" \
      "$inst/db/tracking.sqlite" 2>/dev/null || echo 0)
    echo "   tracking rows: $rows" >&2
  fi
  find "$inst/queue" -name '*.00' -delete
  rm -f "$inst/log/mail.log_current"
}

echo "== $messages messages of 1 KB, $sessions sessions, $per_conn per connection, $runs rounds"
echo "== $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
on=(); off=()
for round in $(seq "$runs"); do
  r_on=$(measure 1); echo "round $round: tracking on   $r_on messages/s"; on+=("$r_on")
  r_off=$(measure 0); echo "round $round: tracking off  $r_off messages/s"; off+=("$r_off")
done
python3 - "${on[*]}" "${off[*]}" <<'PY'
import statistics, sys
on = [float(x) for x in sys.argv[1].split()]
off = [float(x) for x in sys.argv[2].split()]
m_on, m_off = statistics.median(on), statistics.median(off)
print("median: tracking on %.1f, off %.1f messages/s: tracking costs %.1f%%"
      % (m_on, m_off, 100.0 * (m_off - m_on) / m_off))
PY
