# A private Postfix instance for the benchmarks (sourced, not run).
#
#   postfix_start ROOT   installs Postfix from Debian if missing, writes its
#                        own master.cf and main.cf under ROOT/postfix-etc
#                        (main.cf: the common lines below, then the lines
#                        read from standard input), listens on a free
#                        loopback port ($pf_port) and starts it with an
#                        empty queue; sets postfix_ok=1 (0 when it cannot).
#                        An aliases file put in ROOT/postfix-etc before is
#                        compiled (postalias).
#   postfix_fresh_queue  stops it, gives it a new empty queue folder and
#                        starts it again (see below)
#   postfix_reload       after postconf -c "$pf_dir" -e ... changes
#   postfix_cpu          clock ticks of its master and all its children
#   postfix_stop         stops it (for the benchmark's cleanup)
# $pf_dir is its configuration folder, $pf_queue its current queue folder.
#
# Logging: Postfix logs every message (connect, queue id, from, to,
# removed) through syslog, which on an installed Debian 12 reaches journald.
# This machine may run no syslog daemon at all (no /dev/log), and then every
# line would vanish at no cost, while imtad writes mail.log and its tracking
# database. So the instance logs with Postfix's own logger instead
# (maillog_file, written by postlogd, Postfix 3.4 and later) to
# ROOT/postfix-data/maillog: the same kind of work as imtad's mail.log, and
# lighter than journald. POSTFIX_LOG=0 leaves maillog_file unset (syslog).
# /etc/postfix is never modified; everything lives under ROOT, which the
# benchmark removes at the end. Needs the benchmark's free_port function.
#
# Why a fresh queue folder per measurement: on ext4 without a journal a
# file creation skips, one by one, every inode of its block group freed
# less than 60 s ago (300 s while its inode table block is dirty), so a
# queue folder in a block group where many files were just deleted makes
# every new file dearer for minutes. The benchmarks mark their ROOT with
# chattr +T (ext4's "top of directory hierarchy" flag), so each new folder
# directly under it goes to a block group of its own, away from the
# deletions of earlier measurements; imtad gets a new instance folder per
# measurement in the same way.

pf_dir=""
pf_queue=""
pf_port=""
postfix_ok=0
pf_queue_count=0

postfix_wait_port() {
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $pf_port), 1)" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

postfix_start() {
  local root=$1
  if ! command -v postfix >/dev/null; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
  fi
  pf_dir=$root/postfix-etc
  pf_port=$(free_port)
  mkdir -p "$pf_dir" "$root/postfix-data"
  chown postfix "$root/postfix-data"
  # Debian's services without chroot (the instance's folders are not in a
  # chroot jail), and smtpd on the benchmark's port only.
  grep -v '^ *#' /etc/postfix/master.cf | grep -v '^$' | grep -v '^smtp  *inet' |
    sed -E 's/^([a-z]+ +(unix|unix-dgram|fifo|pass) +[-ny] +[-ny] +)y /\1n /' >"$pf_dir/master.cf"
  echo "127.0.0.1:$pf_port inet n - n - - smtpd" >>"$pf_dir/master.cf"
  pf_queue_count=1
  pf_queue=$root/postfix-queue-$pf_queue_count
  mkdir -p "$pf_queue"
  {
    cat <<EOF
compatibility_level = 3.6
queue_directory = $pf_queue
data_directory = $root/postfix-data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mail.example.test
mydomain = example.test
mydestination = example.test
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP
biff = no
EOF
    if [ "${POSTFIX_LOG:-1}" != 0 ]; then
      echo "maillog_file_prefixes = $root"
      echo "maillog_file = $root/postfix-data/maillog"
    fi
    cat
  } >"$pf_dir/main.cf"
  # With the instance's own main.cf: a Postfix installed with "No
  # configuration" has no /etc/postfix/main.cf for postalias to read.
  if [ -f "$pf_dir/aliases" ]; then postalias -c "$pf_dir" "$pf_dir/aliases"; fi
  if postfix -c "$pf_dir" check >/dev/null 2>&1 && postfix -c "$pf_dir" start >/dev/null 2>&1 && postfix_wait_port; then
    postfix_ok=1
  else
    echo "Postfix could not be started; measuring imtad only" >&2
    postfix_ok=0
  fi
}

postfix_fresh_queue() {
  [ "$postfix_ok" = 1 ] || return 0
  local master
  master=$(head -1 "$pf_queue/pid/master.pid" 2>/dev/null | tr -d ' ')
  postfix -c "$pf_dir" stop >/dev/null 2>&1 || true
  for _ in $(seq 100); do { [ -n "$master" ] && kill -0 "$master" 2>/dev/null; } || break; sleep 0.1; done
  # The old queue stays until the end: deleting it now is what we avoid.
  pf_queue_count=$((pf_queue_count + 1))
  pf_queue=$(dirname "$pf_dir")/postfix-queue-$pf_queue_count
  mkdir -p "$pf_queue"
  postconf -c "$pf_dir" -e "queue_directory = $pf_queue"
  if ! { postfix -c "$pf_dir" check >/dev/null 2>&1 && postfix -c "$pf_dir" start >/dev/null 2>&1 && postfix_wait_port; }; then
    echo "Postfix could not be restarted with a new queue" >&2
    postfix_ok=0
  fi
}

postfix_wait_delivered() {  # until nothing waits for delivery (at most 10 minutes), then 5 s more
  local left
  for _ in $(seq 600); do
    left=$(find "$pf_queue/incoming" "$pf_queue/active" "$pf_queue/deferred" -type f 2>/dev/null | wc -l)
    [ "$left" = 0 ] && break
    sleep 1
  done
  sleep 5
}

postfix_reload() {
  postfix -c "$pf_dir" reload >/dev/null 2>&1
  sleep 1
}

postfix_cpu() {  # the master's own and reaped children's time, plus its live children's
  local master t=0 pid
  master=$(head -1 "$pf_queue/pid/master.pid" | tr -d ' ')
  t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$master/stat")
  for pid in $(pgrep -P "$master"); do
    t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

postfix_stop() {
  if [ -n "$pf_dir" ]; then postfix -c "$pf_dir" stop >/dev/null 2>&1 || true; fi
}
