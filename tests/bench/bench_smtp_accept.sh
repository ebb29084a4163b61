#!/bin/bash
# Benchmark: SMTP acceptance rate with durable enqueue, imtad against Debian's
# Postfix, driven by the same load generator in the same run. Prints figures;
# asserts nothing. Loopback only; ports chosen at run time.
#
#   bash tests/bench/bench_smtp_accept.sh [MESSAGES] [SESSIONS] [PER_CONNECTION]
#
# Needs a build in ./build. Postfix (Debian package) is installed if missing
# and run with the system configuration plus: loopback only, an extra smtpd on
# a free port, every message put on hold (durably queued, never delivered), so
# both MTAs do the same work: receive, sync to disk, reply 250.
# Also reports the dispatcher's memory with 10,000 idle connections.
set -euo pipefail
cd "$(dirname "$0")/../.."
messages=${1:-20000}
sessions=${2:-50}
per_conn=${3:-10}
build=${BUILD:-build}
imta=$build/tools/imta
imtad=$build/tools/imtad
loadgen=$build/tools/imta-loadgen

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

root=$(mktemp -d /tmp/imta-bench-XXXXXX)
imtad_pid=""
cleanup() {
  [ -n "$imtad_pid" ] && kill "$imtad_pid" 2>/dev/null && wait "$imtad_pid" 2>/dev/null
  rm -rf "$root"
}
trap cleanup EXIT

# --- imtad ----------------------------------------------------------------
inst=$root/imta
$imta init "$inst" --domain example.test --hostname mail.example.test >/dev/null
p1=$(free_port); p2=$(free_port); p3=$(free_port)
sed -i "s/^PORT=2525/PORT=$p1/; s/^PORT=2587/PORT=$p2/; s/^PORT=2465/PORT=$p3/; s/^TLS_PORT=2465/TLS_PORT=$p3/" \
  "$inst/config/dispatcher.cnf"
sed -i "s/^MAX_CONNS=.*/MAX_CONNS=20000/" "$inst/config/dispatcher.cnf"
$imta --root "$inst" cnbuild 2>/dev/null
$imta --root "$inst" user add bench --no-password >/dev/null
ulimit -n 65536 2>/dev/null || true
$imtad --root "$inst" --foreground 2>"$root/imtad.log" &
imtad_pid=$!
for _ in $(seq 100); do [ -f "$inst/run/dispatcher.status" ] && break; sleep 0.1; done

echo "== imtad: $messages messages of 1 KB, $sessions sessions, $per_conn messages per connection"
$loadgen send --host 127.0.0.1 --port "$p1" --messages "$messages" --concurrency "$sessions" \
  --size 1024 --per-connection "$per_conn" --to bench@example.test --from sender@example.org
queued=$(find "$inst/queue" -name '*.00' | wc -l)
echo "files in the queue afterwards: $queued"

echo "== imtad: memory with 10000 idle connections"
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
kill "$imtad_pid"; wait "$imtad_pid" 2>/dev/null || true; imtad_pid=""

# --- Postfix ----------------------------------------------------------------
if ! command -v postfix >/dev/null; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
pp=$(free_port)
[ -f /etc/postfix/main.cf ] || cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf
cp /etc/postfix/main.cf "$root/main.cf.saved"; cp /etc/postfix/master.cf "$root/master.cf.saved"
restore_postfix() {
  postfix stop >/dev/null 2>&1 || true
  cp "$root/main.cf.saved" /etc/postfix/main.cf; cp "$root/master.cf.saved" /etc/postfix/master.cf
}
trap 'restore_postfix; cleanup' EXIT
postconf -e "inet_interfaces = loopback-only" "mydestination = example.test" "myhostname = mail.example.test" \
  "smtpd_recipient_restrictions = permit_mynetworks, reject" "mynetworks = 127.0.0.0/8" \
  "smtpd_end_of_data_restrictions = check_client_access static:HOLD" "maillog_file = /dev/null"
echo "$pp inet n - y - - smtpd" >> /etc/postfix/master.cf
postfix start >/dev/null 2>&1 || postfix reload >/dev/null
sleep 1
echo "== Postfix $(postconf -h mail_version): same load"
$loadgen send --host 127.0.0.1 --port "$pp" --messages "$messages" --concurrency "$sessions" \
  --size 1024 --per-connection "$per_conn" --to bench@example.test --from sender@example.org || true
postsuper -d ALL hold >/dev/null 2>&1 || true
