#!/bin/bash
# Benchmark: what message tracking and the channel counters cost the SMTP
# acceptance path. The same load (imta-loadgen send) against imtad with
# LOG_TRACKING=1 ("on") and 0 ("off") (TOGGLE=both: LOG_COUNTERS too), interleaved
# in one run. Prints figures; asserts nothing. Loopback only; ports chosen
# at run time.
#
#   bash tests/bench/bench_tracking.sh [MESSAGES] [SESSIONS] [PER_CONNECTION]
#
# Environment: BUILD (default ./build), RUNS (pairs of measurements, default
# 3), IMTAD (default $BUILD/tools/imtad), WARMUP (messages of the unmeasured
# first run, default MESSAGES/4; 0 for none), SETTLE (seconds to wait
# first, default 0), OPTIONS="NAME=VALUE ..." added to option.dat in both
# (e.g. "QUEUE_SYNC=fdatasync"), TOGGLE (what "on"/"off" switches:
# "tracking" = LOG_TRACKING alone, the counters on in both, the issue's
# question and the default; "both" = LOG_TRACKING and LOG_COUNTERS together),
# RANDOM_IDS=1 (imta-loadgen --random-message-ids: Message-IDs in no order, as
# an MX receives them, rather than in sending order), PREFILL=N (every "on"
# instance starts with a tracking database that already holds N rows of
# history, made once before the measurements: 30 days of mail with
# Message-IDs in no order; implies RANDOM_IDS=1; a million rows take about
# 20 s to make and 400 MB of disk per "on" measurement).
#
# Why PREFILL: a fresh database and Message-IDs in sending order are the
# cheapest case for tracking, since each new row goes at the end of every
# index. A site that keeps LOG_TRACKING_DAYS (30) of mail has a database of
# millions of rows, and mail arrives with Message-IDs in no order. Had an
# index led by the Message-ID (schema version 1), each new row would land
# on an index page of its own, which the databases' thread has to read and
# its commit writes to the WAL: with 3,000,000 rows that cost 27% of the
# acceptance rate. Rows are now keyed by arrival first (core/log/tracking.cpp).
#
# Which figure answers "tracking must cost less than 5% of the acceptance
# rate": the DISPATCHER CPU PER MESSAGE. On this two-core machine the load
# generator and the dispatcher keep both cores busy, so the acceptance rate
# is bounded by the CPU the dispatcher spends per message, and CPU time is
# far less disturbed by other work on the machine than messages/s, which
# swing by half from one run to the next when others compile. Two CPU
# figures are printed:
#  - the dispatcher's CPU per message, on and off (all its threads:
#    sessions, enqueue, the mail.log writer, the databases' thread). The
#    on/off difference is the whole cost, but most of the dispatcher's CPU is
#    ext4 creating queue files, which costs several times more for a minute
#    after anyone on the file system deleted many files (other benchmarks,
#    other tests, this script's own clean-up): compare on and off only when
#    their spreads are small.
#  - the CPU of the databases' thread (`imta-logdb`, log_databases.hpp) per
#    message, with tracking on: the work tracking and counters add, measured
#    directly, untouched by the file system's state. Beside the dispatcher's
#    CPU with tracking off it gives the cost ("direct cost" below); the
#    mail.log writer's share (handing records over) is a move per record.
# The messages/s figures are printed as well, with their spread: believe
# them only when the spread is small beside the difference. So are the bytes
# the dispatcher wrote to the file system per message (/proc/PID/io
# write_bytes): with QUEUE_SYNC=syncfs every group commit flushes all that
# is dirty on the file system, the databases' WAL included, so what tracking
# writes lengthens the wait for the 250 as well.
#
# What makes the measurements comparable: each one gets a fresh instance
# (empty queue, empty log, no databases), identical but for the two options;
# nothing is deleted until the end (see above); an unmeasured warm-up run
# comes first (page cache, CPU clocks); the order alternates on, off, off,
# on, on, off... so that drift over the run affects both alike; medians and
# min-max are reported. The job controller is paused while the load runs
# (as in bench_smtp_accept.sh), so only the dispatcher's E records feed the
# databases: the figure is the cost on the acceptance path. CPU is sampled
# from /proc (utime + stime) just before the load and half a second after it
# (the log writer's and the databases' last batches). Run it after a quiet
# minute: a run right after another inherits its clean-up (SETTLE seconds of
# sleep first, default 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
messages=${1:-20000}
sessions=${2:-50}
per_conn=${3:-10}
runs=${RUNS:-3}
toggle=${TOGGLE:-tracking}
case "$toggle" in tracking|both) ;; *) echo "TOGGLE must be tracking or both" >&2; exit 2 ;; esac
warmup=${WARMUP:-$((messages / 4))}
prefill=${PREFILL:-0}
random_ids=${RANDOM_IDS:-0}
if [ "$prefill" -gt 0 ]; then random_ids=1; fi
id_option=()
if [ "$random_ids" = 1 ]; then id_option=(--random-message-ids); fi
build=${BUILD:-build}
imta=$build/tools/imta
imtad=${IMTAD:-$build/tools/imtad}
loadgen=$build/tools/imta-loadgen

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

root=$(mktemp -d /tmp/imta-bench-tracking-XXXXXX)
inst=""
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

p1=$(free_port); p2=$(free_port); p3=$(free_port)
ulimit -n 65536 2>/dev/null || true
hz=$(getconf CLK_TCK)

# One instance made once, copied for each measurement (a copy is cheaper
# than `imta init` and leaves nothing to differ but the options).
template=$root/template
"$imta" init "$template" --domain example.test --hostname mail.example.test >/dev/null
sed -i "s/^PORT=2525/PORT=$p1/; s/^PORT=2587/PORT=$p2/; s/^PORT=2465/PORT=$p3/; s/^TLS_PORT=2465/TLS_PORT=$p3/" \
  "$template/config/dispatcher.cnf"
sed -i "s/^MAX_CONNS=.*/MAX_CONNS=20000/" "$template/config/dispatcher.cnf"
"$imta" --root "$template" user add bench --no-password >/dev/null
for o in ${OPTIONS:-}; do echo "$o" >>"$template/config/option.dat"; done

fresh_instance() {  # 1 | 0: a new instance with LOG_TRACKING and LOG_COUNTERS set so
  instances=$((instances + 1))
  inst=$root/run-$instances-$1
  cp -a "$template" "$inst"
  if [ "$toggle" = both ]; then
    printf 'LOG_TRACKING=%s\nLOG_COUNTERS=%s\n' "$1" "$1" >>"$inst/config/option.dat"
  else  # tracking alone; the counters keep their default (on) in both
    printf 'LOG_TRACKING=%s\n' "$1" >>"$inst/config/option.dat"
  fi
  "$imta" --root "$inst" cnbuild >/dev/null 2>&1
}
instances=0

start_imtad() {
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
dispatcher_ticks() { awk '{print $14 + $15}' "/proc/$(cat "$inst/run/dispatcher.pid")/stat"; }
dispatcher_written() { awk '/^write_bytes/ {print $2}' "/proc/$(cat "$inst/run/dispatcher.pid")/io"; }
logdb_ticks() {  # the databases' thread of the dispatcher (0 when tracking is off: no such thread)
  local d task
  d=$(cat "$inst/run/dispatcher.pid")
  for task in /proc/"$d"/task/*; do
    if [ "$(cat "$task/comm" 2>/dev/null)" = imta-logdb ]; then
      # comm has no blank here, so fields 14 and 15 are utime and stime
      awk '{print $14 + $15}' "$task/stat"
      return
    fi
  done
  echo 0
}

tracking_rows() {  # FILE: the rows of its tracking table (0 when it cannot be read)
  python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from tracking').fetchone()[0])" \
    "$1" 2>/dev/null || echo 0
}

measure() {  # 1 | 0, MESSAGES -> sets rate (messages/s), cpu and db_cpu (the dispatcher's and its
             # databases' thread's CPU seconds per 1000 messages)
  fresh_instance "$1"
  if [ "$1" = 1 ] && [ -n "$prefilled_db" ]; then
    cp "$prefilled_db" "$inst/db/tracking.sqlite"
    sync -f "$inst/db/tracking.sqlite"  # its write-back before the load, not during it
  fi
  start_imtad
  local before after db_before db_after w_before w_after
  before=$(dispatcher_ticks)
  db_before=$(logdb_ticks)
  w_before=$(dispatcher_written)
  rate=$("$loadgen" send --host 127.0.0.1 --port "$p1" --messages "$2" --concurrency "$sessions" \
    --size 1024 --per-connection "$per_conn" --to bench@example.test --from sender@example.org \
    "${id_option[@]}" --json |
    python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["messages_per_s"])')
  sleep 0.5  # the log writer's and the databases' last batches
  after=$(dispatcher_ticks)
  db_after=$(logdb_ticks)
  w_after=$(dispatcher_written)
  stop_imtad
  if [ "$1" = 1 ]; then
    rows=$(($(tracking_rows "$inst/db/tracking.sqlite") - prefilled_rows))
    [ "$rows" = "$2" ] || echo "   (tracking rows: $rows of $2)" >&2
  fi
  cpu=$(python3 -c "print('%.3f' % (($after - $before) / $hz / $2 * 1000))")
  db_cpu=$(python3 -c "print('%.3f' % (($db_after - $db_before) / $hz / $2 * 1000))")
  written=$(( (w_after - w_before) / $2 ))
}

# PREFILL: the database every "on" instance starts with. Its schema is
# whatever imtad makes (one message through a scratch instance); the history
# goes in with Python's sqlite3, the WAL folded into the file.
prefilled_db=""
prefilled_rows=0
if [ "$prefill" -gt 0 ]; then
  fresh_instance 1
  start_imtad
  "$loadgen" send --host 127.0.0.1 --port "$p1" --messages 1 --to bench@example.test >/dev/null
  stop_imtad
  prefilled_db=$root/prefilled-tracking.sqlite
  cp "$inst/db/tracking.sqlite" "$prefilled_db"
  echo "== making a tracking database of $prefill rows of history ..."
  python3 - "$prefilled_db" "$prefill" <<'PY'
import random, sqlite3, sys, time
path, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
db.execute("PRAGMA journal_mode = WAL")
db.execute("PRAGMA synchronous = OFF")
rnd = random.Random(1)
start = int(time.time()) - 30 * 86400
def rows():
    for i in range(n):
        key = "<%032x@mail%d.example.net>" % (rnd.getrandbits(128), i % 97)
        to = "user%d@example.test" % (i % 5000)
        queued = start + i * 30 * 86400 // n  # spread over the 30 days, in order
        yield (key, to, to, "l", " tcp_local l ", queued, queued + 2, "H%017X" % i, 1000 + i % 40000,
               "192.0.2.%d" % (i % 250), "client%d.example.net" % (i % 1000), key,
               "sender%d@example.org" % (i % 20000), "sent", 250, queued * 1000 + i % 1000)
db.executemany(
    "INSERT INTO tracking (message_key, orig_to, final_to, channel, hops, queued, processed, queue_id, size, "
    "client_ip, client_helo, message_id, env_from, status, status_code, arrival) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
db.commit()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.close()
PY
  prefilled_rows=$(tracking_rows "$prefilled_db")
  echo "== $prefilled_rows rows, $(du -m "$prefilled_db" | cut -f1) MB, copied into every \"on\" instance"
fi

sleep "${SETTLE:-0}"
echo "== $messages messages of 1 KB, $sessions sessions, $per_conn per connection, $runs pairs of runs"
echo "== $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${OPTIONS:-}" ]; then echo "== option.dat additions: $OPTIONS"; fi
if [ "$random_ids" = 1 ]; then echo "== Message-IDs in no order (--random-message-ids)"; fi
if [ "$warmup" -gt 0 ]; then measure 1 "$warmup"; fi
on_rate=(); off_rate=(); on_cpu=(); off_cpu=(); db_cpu_on=(); db_cpu_off=(); on_bytes=(); off_bytes=()
for round in $(seq "$runs"); do
  if [ $((round % 2)) = 1 ]; then order="1 0"; else order="0 1"; fi
  for t in $order; do
    measure "$t" "$messages"
    if [ "$t" = 1 ]; then
      name="on "; on_rate+=("$rate"); on_cpu+=("$cpu"); db_cpu_on+=("$db_cpu"); on_bytes+=("$written")
      db_note=" (databases' thread $db_cpu)"
    else
      name="off"; off_rate+=("$rate"); off_cpu+=("$cpu"); db_cpu_off+=("$db_cpu"); off_bytes+=("$written")
      db_note=" (databases' thread $db_cpu)"
    fi
    echo "round $round: tracking $name  $rate messages/s, dispatcher CPU $cpu s per 1000 messages$db_note," \
      "$written bytes written per message"
  done
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$toggle" "${on_rate[*]}" "${off_rate[*]}" "${on_cpu[*]}" "${off_cpu[*]}" "${db_cpu_on[*]}" \
  "${db_cpu_off[*]}" "${on_bytes[*]}" "${off_bytes[*]}" <<'PY'
import statistics, sys
toggle = sys.argv[1]
on_rate, off_rate, on_cpu, off_cpu, db_cpu, db_cpu_off, on_bytes, off_bytes = (
    [float(x) for x in a.split()] for a in sys.argv[2:10])
what = "tracking and counters" if toggle == "both" else "tracking (counters on in both)"
print("toggled: " + what)
def spread(values):
    return "median %.3f (%.3f-%.3f)" % (statistics.median(values), min(values), max(values))
r_on, r_off = statistics.median(on_rate), statistics.median(off_rate)
print("acceptance rate, messages/s: on %s, off %s" % (spread(on_rate), spread(off_rate)))
print("   tracking on accepts %.1f%% fewer messages/s (noisy: see the spreads)" % (100.0 * (r_off - r_on) / r_off))
c_on, c_off = statistics.median(on_cpu), statistics.median(off_cpu)
print("dispatcher CPU, s per 1000 messages: on %s, off %s" % (spread(on_cpu), spread(off_cpu)))
print("   difference: %.1f%% (1 - off/on; includes the file system's swings, see the header)"
      % (100.0 * (1 - c_off / c_on)))
d = statistics.median(db_cpu) - statistics.median(db_cpu_off)
print("databases' thread CPU, s per 1000 messages: on %s, off %s" % (spread(db_cpu), spread(db_cpu_off)))
print("bytes written per message: on median %.0f, off median %.0f"
      % (statistics.median(on_bytes), statistics.median(off_bytes)))
print("   => direct cost of %s: %.1f%% of the acceptance rate "
      "(databases' thread on - off, over the dispatcher's CPU off plus that)" % (what, 100.0 * d / (c_off + d)))
PY
