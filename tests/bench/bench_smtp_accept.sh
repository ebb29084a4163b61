#!/bin/bash
# Benchmark: SMTP acceptance rate with durable enqueue, imtad against Debian's
# Postfix, driven by the same load generator (imta-loadgen send) in the same
# run. Prints figures; asserts nothing. Loopback only; ports chosen at run time.
#
#   bash tests/bench/bench_smtp_accept.sh [MESSAGES] [SESSIONS] [PER_CONNECTION]
#
# Environment: BUILD (default ./build), RUNS (rounds, default 2), IDLE=1 to
# also measure the dispatcher's memory with 10,000 idle connections,
# POSTFIX=0 to skip Postfix, SYNC="syncfs fdatasync" to measure imtad once
# per QUEUE_SYNC value in each round (default: syncfs only), SETTLE
# (seconds between rounds, default 65; see below), OPTIONS="NAME=VALUE ..."
# added to the imtad instances' option.dat (e.g. "LOG_TRACKING=0"),
# PERF_OUT=FILE to record a perf profile (perf record -g) of the dispatcher
# while imtad is measured (read it with perf report -i FILE; the last
# measurement's profile is kept), PERF_CALLGRAPH to replace -g (e.g.
# "--call-graph dwarf"), PERF_FREQ (samples/s, default 2000), CHUNKING=1 to
# send every message with BDAT (imta-loadgen --chunking; both servers offer
# CHUNKING) instead of DATA.
#
# Each round measures, one after the other with the same load:
#   imtad            every message durable (group commit) before its 250
#   Postfix hold     every message put on hold at the end of DATA
#                    (smtpd_end_of_data_restrictions = check_client_access
#                    static:HOLD): cleanup fsyncs it into the hold queue, and
#                    nothing is delivered -- the same work imtad does
#   Postfix default  Postfix as installed: cleanup fsyncs the file into the
#                    incoming queue, qmgr and local(8) deliver it (the
#                    recipient is an alias for /dev/null) and remove it;
#                    the delivery competes for the same two cores
#   imtad again      after Postfix (once it has delivered everything), on a
#                    fresh instance: a round's imtad figure is both
#                    measurements together (all messages over all the
#                    time), so it brackets Postfix's minute -- imtad's few
#                    seconds alone would catch the machine in whatever
#                    state it is in at that moment, where Postfix's
#                    half-minute runs average over it
# Each measurement also prints the whole machine's CPU per message (busy,
# idle, iowait and steal, from /proc/stat). At the end, imtad's rate over
# each Postfix rate, round by round (the machine's speed drifts over
# minutes: compare within a round), with the median round; and the machine
# CPU (busy) per message of Postfix default over imtad's, which moves less
# with the machine's other tenants (steal and idle are left out) but is not
# the rate ratio: a closed loop of sessions leaves imtad some idle time.
# Each measurement also prints the load generator's own CPU per message:
# it shares the two cores, and against imtad it is a fifth of the machine
# (about 30 us a message), against Postfix a twentieth (about 90 us: a
# slower server's replies wake it one at a time). So a third set of
# ratios leaves it out:
# the servers' own CPU per message (machine busy minus the load generator),
# Postfix default's over imtad's, closest to what a server on a machine of
# its own would show (the kernel's loopback TCP work is split between the
# two ends in ways this cannot separate).
# Postfix runs as a private instance (tests/bench/postfix_instance.sh): its
# own main.cf and master.cf, queue and data folders under the run's
# temporary folder (on the same file system as imtad's queue), loopback
# only, on a free port. /etc/postfix is never modified; the instance is
# stopped at the end (also on failure or Ctrl-C). Postfix is installed from
# Debian if missing. It logs to a file of its own (maillog_file; see
# postfix_instance.sh), as imtad logs to mail.log; POSTFIX_LOG=0 turns that
# off (syslog, which on a machine without a syslog daemon costs nothing).
#
# Nothing is deleted between measurements: every imtad measurement gets a
# fresh instance, Postfix a fresh queue folder each round, all of them in
# block groups of their own (chattr +T on the run's folder), and everything
# is removed at the end; rounds are SETTLE seconds apart besides. Both
# matter on ext4 without a journal, which skips every inode freed in the
# last minute (five while its inode table block is dirty) when it creates
# a file in the same block group: creating files is several times dearer
# there after a mass deletion (Postfix default deletes what it delivers).
# The imtad job controller is paused while imtad is measured (acceptance
# only). Figures on a machine shared with other work are noisy: compare
# the figures of one round, and run several.
set -euo pipefail
cd "$(dirname "$0")/../.."
messages=${1:-20000}
sessions=${2:-50}
per_conn=${3:-10}
runs=${RUNS:-2}
build=${BUILD:-build}
imta=$build/tools/imta
imtad=$build/tools/imtad
loadgen=$build/tools/imta-loadgen

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

root=$(mktemp -d /tmp/imta-bench-XXXXXX)
chmod 755 "$root"
chattr +T "$root" 2>/dev/null || true  # each measurement's folder in a block group of its own
imtad_pid=""
cleanup() {
  if [ -n "$imtad_pid" ]; then kill "$imtad_pid" 2>/dev/null || true; wait "$imtad_pid" 2>/dev/null || true; fi
  postfix_stop
  rm -rf "$root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

chunking=""
[ "${CHUNKING:-0}" = 1 ] && chunking=--chunking
first_sync=${SYNC:-syncfs}
first_sync=${first_sync%% *}  # the QUEUE_SYNC the ratios use
last_rate=""
last_busy=""
last_server=""
send() {  # PORT: one measurement with the common load; its rate in $last_rate
  local out before after
  # Each measurement starts with nothing dirty in the page cache: imtad's
  # syncfs(2) writes out whatever waits on the file system, so what the
  # previous measurement left (Postfix's deletions, say) would be paid for
  # by the next one's first commits.
  sync
  before=$(grep '^cpu ' /proc/stat)
  # The load generator's own CPU (bash's time keyword, into a file; its
  # diagnostics still reach standard error through descriptor 4).
  out=$( { TIMEFORMAT='%3U %3S'; time "$loadgen" send --host 127.0.0.1 --port "$1" --messages "$messages" \
    --concurrency "$sessions" --size 1024 --per-connection "$per_conn" --to bench@example.test \
    --from sender@example.org $chunking 2>&4; } 4>&2 2>"$root/loadgen.time") || true
  after=$(grep '^cpu ' /proc/stat)
  printf '%s\n' "$out"
  local cpu loadgen_us
  cpu=$(machine_cpu "$before" "$after")
  printf '%s\n' "$cpu"
  loadgen_us=$(awk -v n="$messages" 'NF == 2 {printf "%.0f", ($1 + $2) / n * 1e6}' "$root/loadgen.time")
  echo "load generator  ${loadgen_us:-?} us CPU per message (part of the busy time above)"
  last_rate=$(printf '%s\n' "$out" | awk '$1 == "rate" {print $2}')
  last_busy=$(printf '%s\n' "$cpu" | awk '{print $3}')
  last_server=""  # (an if: a false test as the function's last command would stop the run under set -e)
  if [ -n "$loadgen_us" ]; then last_server=$(awk -v b="$last_busy" -v l="$loadgen_us" 'BEGIN {print b - l}'); fi
}
# The whole machine's CPU per message during a measurement (both servers'
# processes, the load generator, the kernel's writeback and interrupts), and
# what stayed idle: the two cores are shared, so this is what a message costs
# in all; idle time in a closed loop of sessions is time every session spent
# waiting (on a disk barrier, say) rather than computing.
machine_cpu() {  # BEFORE AFTER: /proc/stat "cpu" lines
  python3 - "$1" "$2" "$messages" "$(getconf CLK_TCK)" <<'PY'
import sys
a, b = ([int(x) for x in line.split()[1:]] for line in sys.argv[1:3])
d = [y - x for x, y in zip(a, b)]
n, hz = int(sys.argv[3]), int(sys.argv[4])
us = lambda ticks: ticks / hz / n * 1e6
busy = d[0] + d[1] + d[2] + d[5] + d[6]  # user nice system irq softirq
steal = d[7] if len(d) > 7 else 0
print("machine CPU     %.0f us busy, %.0f us idle, %.0f us iowait, %.0f us steal per message"
      % (us(busy), us(d[3]), us(d[4]), us(steal)))
PY
}
# Per round: imtad's rate (the first QUEUE_SYNC measured) and Postfix's, for
# the ratios printed at the end (the machine's speed drifts between rounds,
# so each ratio compares measurements a minute apart).
ratios_hold=""
ratios_default=""
cpu_ratios=""
server_ratios=""
mean2() { python3 -c "import sys; a, b = sys.argv[1:]; print((float(a) + float(b)) / 2 if a and b else '')" "$1" "$2"; }
ratio() { python3 -c "import sys; a, b = sys.argv[1:]; print('%.1f' % (float(a) / float(b)) if a and b and float(b) > 0 else '-')" "$1" "$2"; }
# The middle one of the rounds' ratios ("9.5x 10.2x ..."; "-" ignored).
median() { python3 -c "import sys, statistics; r = [float(x.rstrip('x')) for x in sys.argv[1:] if x != '-x']; print('%.1fx' % statistics.median(r) if r else '-')" $1; }

# --- imtad ----------------------------------------------------------------
p1=$(free_port); p2=$(free_port); p3=$(free_port)
ulimit -n 65536 2>/dev/null || true
fresh_instance() {  # SYNC: a new instance (empty queue) with QUEUE_SYNC=SYNC
  inst=$root/imta-$1-$RANDOM
  "$imta" init "$inst" --domain example.test --hostname mail.example.test >/dev/null
  sed -i "s/^PORT=2525/PORT=$p1/; s/^PORT=2587/PORT=$p2/; s/^PORT=2465/PORT=$p3/; s/^TLS_PORT=2465/TLS_PORT=$p3/" \
    "$inst/config/dispatcher.cnf"
  sed -i "s/^MAX_CONNS=.*/MAX_CONNS=20000/" "$inst/config/dispatcher.cnf"
  echo "QUEUE_SYNC=$1" >>"$inst/config/option.dat"
  for o in ${OPTIONS:-}; do echo "$o" >>"$inst/config/option.dat"; done
  "$imta" --root "$inst" cnbuild 2>/dev/null
  "$imta" --root "$inst" user add bench --no-password >/dev/null
}
dispatcher_cpu() {  # clock ticks of the dispatcher so far
  awk '{print $14 + $15}' "/proc/$(cat "$inst/run/dispatcher.pid")/stat"
}

start_imtad() {
  rm -f "$inst/run/dispatcher.status"
  "$imtad" --root "$inst" --foreground 2>>"$root/imtad.log" &
  imtad_pid=$!
  for _ in $(seq 200); do [ -f "$inst/run/dispatcher.status" ] && break; sleep 0.1; done
  # The job controller would deliver what arrives (to the local channel)
  # while we measure; the benchmark is about acceptance, so it pauses.
  # Its notification socket goes too: a paused controller's full socket
  # would make every commit batch retry the files refused so far (the
  # notifier keeps them for a controller that is only busy), a cost a
  # running controller never causes; without the socket each batch's
  # notification fails at once, as when no controller runs.
  for _ in $(seq 50); do [ -S "$inst/run/job_controller.ctl" ] && break; sleep 0.1; done
  if [ -f "$inst/run/job_controller.pid" ]; then kill -STOP "$(cat "$inst/run/job_controller.pid")" 2>/dev/null || true; fi
  rm -f "$inst/run/job_controller.sock"
}
stop_imtad() {  # (the paused job controller gets SIGTERM before it may run again)
  kill "$imtad_pid" 2>/dev/null || true
  sleep 0.2
  if [ -f "$inst/run/job_controller.pid" ]; then kill -CONT "$(cat "$inst/run/job_controller.pid")" 2>/dev/null || true; fi
  wait "$imtad_pid" 2>/dev/null || true
  imtad_pid=""
}

# --- Postfix (a private instance: tests/bench/postfix_instance.sh) ---------
. tests/bench/postfix_instance.sh
if [ "${POSTFIX:-1}" != 0 ]; then
  mkdir -p "$root/postfix-etc"
  printf 'bench: /dev/null\n' >"$root/postfix-etc/aliases"  # local delivery: discarded
  postfix_start "$root" <<EOF
alias_maps = hash:$root/postfix-etc/aliases
alias_database = hash:$root/postfix-etc/aliases
EOF
fi
postfix_mode() {  # hold | default
  if [ "$1" = hold ]; then
    postconf -c "$pf_dir" -e "smtpd_end_of_data_restrictions = check_client_access static:HOLD"
  else
    postconf -c "$pf_dir" -e "smtpd_end_of_data_restrictions ="
  fi
  postfix_reload
}

measure_imtad() {  # SYNC: one imtad measurement on a fresh instance; rate in $last_rate
  fresh_instance "$1"
  start_imtad
  local before after perf_pid=""
  before=$(dispatcher_cpu)
  if [ -n "${PERF_OUT:-}" ]; then
    perf record -q -F "${PERF_FREQ:-2000}" ${PERF_CALLGRAPH:--g} -o "$PERF_OUT" -p "$(cat "$inst/run/dispatcher.pid")" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  send "$p1"
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; fi
  after=$(dispatcher_cpu)
  echo "dispatcher CPU  $(python3 -c "print('%.0f' % (($after - $before) / $hz / $messages * 1e6))") us per message"
  echo "files in the queue afterwards: $(find "$inst/queue" -name '*.00' | wc -l)"
  stop_imtad
}
# Two rates of the same number of messages taken together: all the
# messages over all the time (the harmonic mean).
both_rates() {  # (empty when either measurement failed)
  python3 -c "import sys; a, b = (float(x or 0) for x in sys.argv[1:]); print('%.1f' % (2 / (1 / a + 1 / b)) if a > 0 and b > 0 else '')" "$1" "$2"
}

echo "== $messages messages of 1 KB, $sessions sessions, $per_conn messages per connection, $runs rounds${chunking:+, sent with BDAT}"
echo "== $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "${OPTIONS:-}" ] && echo "== imtad option.dat additions: $OPTIONS"
[ "$postfix_ok" = 1 ] && echo "== Postfix $(postconf -c "$pf_dir" -h mail_version), private instance on port $pf_port"
hz=$(getconf CLK_TCK)
for round in $(seq "$runs"); do
  if [ "$round" -gt 1 ]; then sleep "${SETTLE:-65}"; fi
  round_imtad=""
  for sync in ${SYNC:-syncfs}; do
    echo
    echo "-- round $round: imtad (QUEUE_SYNC=$sync)"
    measure_imtad "$sync"
    [ -z "${round_imtad:-}" ] && round_imtad=$last_rate && round_busy=$last_busy && round_server=$last_server
  done
  if [ "$postfix_ok" = 1 ]; then
    [ "$round" -gt 1 ] && postfix_fresh_queue
    echo "-- round $round: Postfix hold (durably queued, not delivered)"
    postfix_mode hold
    send "$pf_port"
    rate_hold=$last_rate
    echo "held afterwards: $(find "$pf_queue/hold" -type f | wc -l)"
    echo "-- round $round: Postfix default (queued, then delivered to /dev/null)"
    postfix_mode default
    send "$pf_port"
    rate_default=$last_rate
    busy_default=$last_busy
    server_default=$last_server
    [ -f "$root/postfix-data/maillog" ] && echo "Postfix log so far: $(wc -l <"$root/postfix-data/maillog") lines"
    # Postfix delivers more slowly than it accepts: what is still queued
    # would compete with imtad.
    postfix_wait_delivered
    echo "-- round $round: imtad again (QUEUE_SYNC=$first_sync), after Postfix"
    measure_imtad "$first_sync"
    round_imtad=$(both_rates "$round_imtad" "$last_rate")
    round_busy=$(mean2 "${round_busy:-}" "$last_busy")
    round_server=$(mean2 "${round_server:-}" "$last_server")
    echo "imtad over the round: $round_imtad messages/s (both measurements' messages over both durations)"
    ratios_hold="$ratios_hold $(ratio "$round_imtad" "$rate_hold")x"
    ratios_default="$ratios_default $(ratio "$round_imtad" "$rate_default")x"
    cpu_ratios="$cpu_ratios $(ratio "$busy_default" "$round_busy")x"
    server_ratios="$server_ratios $(ratio "$server_default" "$round_server")x"
  fi
done

if [ -n "$ratios_default" ]; then
  echo
  echo "== imtad (QUEUE_SYNC=$first_sync) / Postfix, round by round"
  echo "   vs Postfix default:$ratios_default   (median $(median "$ratios_default"))"
  echo "   vs Postfix hold:   $ratios_hold   (median $(median "$ratios_hold"))"
  echo "== machine CPU per message, Postfix default / imtad, round by round"
  echo "  $cpu_ratios   (median $(median "$cpu_ratios"))"
  echo "== the same without the load generator's own CPU (the servers' share), round by round"
  echo "  $server_ratios   (median $(median "$server_ratios"))"
fi

if [ "${IDLE:-0}" = 1 ]; then
  echo
  echo "== imtad: memory with 10000 idle connections"
  fresh_instance syncfs
  start_imtad
  python3 - "$p1" "$(cat "$inst/run/dispatcher.pid")" <<'PY'
import socket, sys, time, resource
port, pid = int(sys.argv[1]), sys.argv[2]
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
def rss():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
before = rss()
socks = []
for i in range(10000):
    s = socket.create_connection(("127.0.0.1", port))
    socks.append(s)
for s in socks[:10]:
    s.recv(512)
time.sleep(2)
after = rss()
print("dispatcher RSS: %d KiB before, %d KiB with %d idle connections (%.1f KiB each)"
      % (before, after, len(socks), (after - before) / len(socks)))
for s in socks:
    s.close()
PY
  stop_imtad
fi
