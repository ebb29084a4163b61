#!/bin/bash
# Benchmark: end-to-end relay, imtad against Debian's Postfix in the same run.
#
#   imta-loadgen send --> MTA (SMTP in, durable queue, SMTP out) --> imta-loadgen sink
#
# Prints figures; asserts nothing. Loopback only; ports chosen at run time;
# no DNS at all (both MTAs relay to the sink by address: imtad's tcp_local
# gets `daemon 127.0.0.1 port SINK`, Postfix `relayhost = [127.0.0.1]:SINK`).
#
#   bash tests/bench/bench_relay.sh [MESSAGES] [SESSIONS] [PER_CONNECTION]
#
# Defaults: 10000 messages of 1 KB, 50 sessions, 10 messages per connection.
# Environment: BUILD (default ./build), RUNS (rounds, default 1), SETTLE
# (seconds of rest before each measurement but the first, default 65: on
# ext4 without a journal an inode freed less than 60 s ago -- 300 s while
# its inode table block is dirty -- is skipped, one by one, by every file
# creation in its block group, so creating files is dearer for a minute
# after a mass deletion, and both MTAs delete every file they deliver; each
# measurement's folders are also put in block groups of their own with
# chattr +T on the run's folder), WAIT (seconds the sink may still
# take after the sender is done, default 120), POSTFIX=0 to skip Postfix,
# OPTIONS="NAME=VALUE ..." added to imtad's option.dat, TCP_LOCAL_OPTIONS
# the same for its tcp_local_option (e.g. "MAX_CLIENT_THREADS=1"),
# PERF_OUT=FILE to record a perf profile (perf record -a -g: the whole
# machine) while imtad is measured (read it with perf report -i FILE, e.g.
# --pid of the dispatcher or the job controller), PERF_CALLGRAPH to replace
# -g (e.g. "--call-graph dwarf"), PERF_FREQ (samples/s, default 2000).
#
# Figures per measurement:
#   accepted       the sender's rate (messages/s while it sent)
#   end to end     messages / (last arrival at the sink - start of sending)
#   250 -> sink    per message, from the MTA's final 250 to the sender until
#                  the message's final dot reached the sink (joined by
#                  Message-ID from the two --record files): p50, p99, max.
#                  Taken when the sender reads its 250, so a relay faster
#                  than the sender's own turn on a busy CPU shows negative
#                  times (the message was at the sink first).
#   CPU            of the MTA's processes per message (imtad: dispatcher +
#                  job controller; Postfix: master and all its children)
# Postfix runs as a private instance (tests/bench/postfix_instance.sh;
# default durability: fsync of every queue file), its own config and data
# folders under the run's temporary folder, a new queue folder for each
# measurement (as imtad gets a new instance), on a free loopback port,
# logging to a file of its own as imtad logs to mail.log (POSTFIX_LOG=0:
# syslog; see postfix_instance.sh); /etc/postfix is never modified. Everything started is stopped at the end (also on failure or
# Ctrl-C) and the temporary folder removed. The machine may be shared:
# compare the figures of one round, and look at CPU per message.
set -euo pipefail
cd "$(dirname "$0")/../.."
messages=${1:-10000}
sessions=${2:-50}
per_conn=${3:-10}
runs=${RUNS:-1}
build=${BUILD:-build}
imta=$build/tools/imta
imtad=$build/tools/imtad
loadgen=$build/tools/imta-loadgen
hz=$(getconf CLK_TCK)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

root=$(mktemp -d /tmp/imta-relay-XXXXXX)
chmod 755 "$root"
chattr +T "$root" 2>/dev/null || true  # each measurement's folder in a block group of its own
imtad_pid=""
sink_pid=""
postfix_runs=0
cleanup() {
  if [ -n "$sink_pid" ]; then kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; fi
  if [ -n "$imtad_pid" ]; then kill "$imtad_pid" 2>/dev/null || true; wait "$imtad_pid" 2>/dev/null || true; fi
  postfix_stop
  rm -rf "$root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || true

now() { date +%s.%N; }

# --- the sink and one measurement -------------------------------------------
start_sink() {  # PORT: a fresh sink that stops after $messages messages
  rm -f "$root/sink.rec" "$root/send.rec"
  "$loadgen" sink --port "$1" --messages "$messages" --quiet --record "$root/sink.rec" >"$root/sink.out" 2>&1 &
  sink_pid=$!
  for _ in $(seq 50); do grep -q listening "$root/sink.out" 2>/dev/null && break; sleep 0.1; done
}

# measure PORT CPU_FUNCTION: sends, waits for the sink, prints the figures.
measure() {
  local port=$1 cpu=$2 before after start sent_at
  before=$($cpu)
  start=$(now)
  "$loadgen" send --host 127.0.0.1 --port "$port" --messages "$messages" --concurrency "$sessions" \
    --size 1024 --per-connection "$per_conn" --to bench@relay.test --from sender@example.org \
    --record "$root/send.rec" >"$root/send.out" 2>"$root/send.err" || true
  sent_at=$(now)
  local deadline=$((SECONDS + ${WAIT:-120}))
  while kill -0 "$sink_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
  if kill -0 "$sink_pid" 2>/dev/null; then
    echo "  the sink still waits for messages after ${WAIT:-120} s; stopping it"
    kill "$sink_pid" 2>/dev/null || true
  fi
  wait "$sink_pid" 2>/dev/null || true
  sink_pid=""
  after=$($cpu)
  python3 - "$root/send.rec" "$root/sink.rec" "$start" "$sent_at" "$messages" "$((after - before))" "$hz" \
    "$root/send.out" <<'PY'
import sys
send_rec, sink_rec, start, sent_at, n, ticks, hz, send_out = sys.argv[1:]
start, sent_at, n, ticks, hz = float(start), float(sent_at), int(n), int(ticks), int(hz)
def load(path):
    out = {}
    try:
        for line in open(path):
            mid, t = line.split()
            out[mid] = float(t)
    except FileNotFoundError:
        pass
    return out
sent, arrived = load(send_rec), load(sink_rec)
accepted = "?"
for line in open(send_out):
    if line.startswith("rate"):
        accepted = line.split()[1]
lat = sorted((arrived[m] - sent[m]) * 1000 for m in sent if m in arrived)
def rank(p):
    return lat[max(0, -(-len(lat) * p // 100) - 1)] if lat else float("nan")
last = max(arrived.values()) if arrived else start
print("  accepted      %d of %d, %s messages/s while sending (%.2f s)" % (len(sent), n, accepted, sent_at - start))
print("  end to end    %d arrived at the sink in %.2f s: %.0f messages/s" %
      (len(arrived), last - start, len(arrived) / (last - start) if last > start else 0))
print("  250 -> sink   p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d messages)" % (rank(50), rank(99), rank(100), len(lat)))
print("  CPU           %.0f us per message" % (ticks / hz / max(1, len(arrived)) * 1e6))
with open(send_out + ".rate", "w") as f:
    f.write("%.1f\n" % (len(arrived) / (last - start) if last > start else 0))
PY
}

# --- imtad -------------------------------------------------------------------
p1=$(free_port); p2=$(free_port); p3=$(free_port)
fresh_instance() {  # SINKPORT: a new instance that relays everything to the sink
  inst=$root/imta-$RANDOM
  "$imta" init "$inst" --domain example.test --hostname mail.example.test >/dev/null
  sed -i "s/^PORT=2525/PORT=$p1/; s/^PORT=2587/PORT=$p2/; s/^PORT=2465/PORT=$p3/; s/^TLS_PORT=2465/TLS_PORT=$p3/" \
    "$inst/config/dispatcher.cnf"
  sed -i "s/^MAX_CONNS=.*/MAX_CONNS=20000/" "$inst/config/dispatcher.cnf"
  # Everything not local (relay.test) leaves by tcp_local: to the sink.
  sed -i "s/^tcp_local smtp /tcp_local smtp daemon 127.0.0.1 port $1 /" "$inst/config/imta.cnf"
  # No lookup is expected; should one happen, it goes nowhere (a closed port).
  echo "DNS_SERVERS=127.0.0.1:1" >>"$inst/config/option.dat"
  for o in ${OPTIONS:-}; do echo "$o" >>"$inst/config/option.dat"; done
  for o in ${TCP_LOCAL_OPTIONS:-}; do echo "$o" >>"$inst/config/tcp_local_option"; done
  "$imta" --root "$inst" cnbuild 2>/dev/null
}
proc_cpu() { awk '{print $14 + $15}' "/proc/$(cat "$inst/run/$1.pid")/stat"; }
imtad_cpu() { echo $(($(proc_cpu dispatcher) + $(proc_cpu job_controller))); }
run_imtad() {
  local sink_port
  sink_port=$(free_port)
  fresh_instance "$sink_port"
  start_sink "$sink_port"
  : >"$root/imtad.log"
  "$imtad" --root "$inst" --foreground 2>>"$root/imtad.log" &
  imtad_pid=$!
  for _ in $(seq 200); do [ -f "$inst/run/dispatcher.status" ] && [ -S "$inst/run/job_controller.sock" ] && break; sleep 0.1; done
  local d0 j0
  d0=$(proc_cpu dispatcher); j0=$(proc_cpu job_controller)
  local perf_pid=""
  if [ -n "${PERF_OUT:-}" ]; then
    # (-a: threads started after perf, such as delivery threads, would be
    # missed by -p; read the profile with --pid or --comm.)
    perf record -q -F "${PERF_FREQ:-2000}" ${PERF_CALLGRAPH:--g} -o "$PERF_OUT" -a >/dev/null 2>&1 &
    perf_pid=$!
  fi
  measure "$p1" imtad_cpu
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; fi
  imtad_rate=$(cat "$root/send.out.rate")
  python3 -c "import sys; d, j, n, hz = map(int, sys.argv[1:]); print('  CPU split     dispatcher %.0f us, job controller %.0f us per message' % (d / hz / n * 1e6, j / hz / n * 1e6))" \
    "$(($(proc_cpu dispatcher) - d0))" "$(($(proc_cpu job_controller) - j0))" "$messages" "$hz"
  echo "  files left in the queue: $(find "$inst/queue" -name '*.00' | wc -l)"
  echo "  early rescans (notifications lost to a full socket): $(grep -c 'notifications may have been lost' "$root/imtad.log" || true)"
  kill "$imtad_pid" 2>/dev/null || true
  wait "$imtad_pid" 2>/dev/null || true
  imtad_pid=""
}

# --- Postfix (a private instance: tests/bench/postfix_instance.sh) -----------
. tests/bench/postfix_instance.sh
if [ "${POSTFIX:-1}" != 0 ]; then
  postfix_start "$root" <<EOF
alias_maps =
alias_database =
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
EOF
fi
run_postfix() {
  local sink_port
  sink_port=$(free_port)
  [ "$postfix_runs" -gt 0 ] && postfix_fresh_queue
  postfix_runs=$((postfix_runs + 1))
  postconf -c "$pf_dir" -e "relayhost = [127.0.0.1]:$sink_port"
  postfix_reload
  start_sink "$sink_port"
  measure "$pf_port" postfix_cpu
  postfix_rate=$(cat "$root/send.out.rate")
  echo "  files left in the queue: $(find "$pf_queue/incoming" "$pf_queue/active" \
    "$pf_queue/deferred" -type f 2>/dev/null | wc -l)"
}

echo "== relay: $messages messages of 1 KB, $sessions sessions, $per_conn messages per connection, $runs rounds"
echo "== $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "${OPTIONS:-}" ] && echo "== imtad option.dat additions: $OPTIONS"
[ -n "${TCP_LOCAL_OPTIONS:-}" ] && echo "== imtad tcp_local_option additions: $TCP_LOCAL_OPTIONS"
[ "$postfix_ok" = 1 ] && echo "== Postfix $(postconf -c "$pf_dir" -h mail_version), private instance on port $pf_port"
first=1
settle() { if [ "$first" = 0 ]; then sleep "${SETTLE:-65}"; fi; first=0; }
for round in $(seq "$runs"); do
  # The order alternates, so neither side always runs right after the
  # other's mass deletion.
  order="imtad postfix"
  [ $((round % 2)) = 0 ] && order="postfix imtad"
  for who in $order; do
    if [ "$who" = imtad ]; then
      settle
      echo
      echo "-- round $round: imtad (tcp_local to the sink)"
      run_imtad
    elif [ "$postfix_ok" = 1 ]; then
      settle
      echo
      echo "-- round $round: Postfix (relayhost = the sink)"
      run_postfix
    fi
  done
  if [ "$postfix_ok" = 1 ]; then
    python3 -c "import sys; i, p = map(float, sys.argv[2:]); print('\n== round %s: end to end, imtad relays %.1f times as many messages per second as Postfix' % (sys.argv[1], i / p if p else 0))" \
      "$round" "$imtad_rate" "$postfix_rate"
  fi
done
