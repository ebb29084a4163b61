#!/usr/bin/env python3
"""End-to-end tests of `imta track`, `imta counters` and `imta purge`: a real
instance, records written through the library by log_writer (as the SMTP
server and the channel masters write them), then the commands' output compared
with the lines an administrator should see. Run by meson with IMTA_BIN and
LOG_WRITER set."""
import calendar
import json
import os
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest

IMTA = os.environ.get("IMTA_BIN", "build/tools/imta")
LOG_WRITER = os.environ.get("LOG_WRITER", "build/tests/core/log/log_writer")
IMTAD = os.environ.get("IMTAD_BIN", "")
DEADLINE = 30

T0 = calendar.timegm((2026, 11, 21, 10, 31, 5))


def stamp(offset):
    return '"' + time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(T0 + offset)) + '"'


def record(at, code, source, dest="", size=2048, frm="alice@example.org", orig="", active="", file="",
           ids="", diag="", client_ip="", client_helo="", delivery_ip="", smtp_code=""):
    return "\t".join(str(x) for x in (T0 + at, code, source, dest, size, frm, orig, active, file, ids, diag,
                                     client_ip, client_helo, delivery_ip, smtp_code))


# Four stories, as the SMTP server and the channel masters log them.
DELIVERED = [
    record(0, "E", "tcp_local", "tcp_local", orig="bob@example.net", active="bob@example.net",
           file="/q/tcp_local/ZZ01AAA.00", ids="<m1@example.org>", client_ip="192.0.2.7",
           client_helo="mx.example.org"),
    record(2, "D", "tcp_local", orig="bob@example.net", active="bob@example.net",
           file="/q/tcp_local/ZZ01AAA.00", ids="<m1@example.org>",
           diag="dns;mx.example.net (TCP|192.0.2.1|40000|198.51.100.25|25) (mx ESMTP) smtp;250 2.0.0 Ok"),
]
DEFERRED = [
    record(10, "E", "tcp_local", "tcp_local", orig="carol@example.net", active="carol@example.net",
           file="/q/tcp_local/ZZ01BBB.00", ids="<m2@example.org>", client_ip="192.0.2.7",
           client_helo="mx.example.org"),
    record(70, "Q", "tcp_local", orig="carol@example.net", active="carol@example.net",
           file="/q/tcp_local/ZZ01BBB.00", ids="<m2@example.org>",
           diag="dns;mx2.example.net (TCP|192.0.2.1|40001|203.0.113.5|25) smtp;451 4.3.0 try again later"),
]
BOUNCED = [
    record(20, "E", "tcp_local", "tcp_local", orig="nobody@example.net", active="nobody@example.net",
           file="/q/tcp_local/ZZ01CCC.00", ids="<m3@example.org>", client_ip="192.0.2.8",
           client_helo="client.example.org"),
    record(25, "E", "tcp_local", "process", size=4000, frm="", orig="alice@example.org",
           active="alice@example.org", file="/q/process/ZZ01DDD.00", ids="<n1@mail.example.test>,<m3@example.org>"),
    record(25, "R", "tcp_local", orig="nobody@example.net", active="nobody@example.net",
           file="/q/tcp_local/ZZ01CCC.00", ids="<m3@example.org>", delivery_ip="198.51.100.26", smtp_code=550,
           diag="dns;mx.example.net smtp;550 5.1.1 no such user"),
    record(26, "E", "process", "l", size=4000, frm="", orig="alice@example.org", active="alice",
           file="/q/l/ZZ01EEE.00", ids="<n1@mail.example.test>"),
    record(27, "D", "l", size=4000, frm="", orig="alice@example.org", active="alice", file="/q/l/ZZ01EEE.00",
           ids="<n1@mail.example.test>"),
]
REFUSED = [
    record(30, "J", "tcp_local", size=0, frm="harold@varrius.com", active="alan@very.bogus.com",
           client_ip="192.0.2.99", client_helo="client.varrius.com",
           diag="550 5.7.1 Relaying not permitted: alan@very.bogus.com"),
]

EXPECTED = [
    stamp(0) + " " + stamp(2) + " 01AAA 2048 192.0.2.7 mx.example.org m1@example.org alice@example.org "
    "bob@example.net - sent 250 \"-\" 0 198.51.100.25",
    stamp(10) + " " + stamp(70) + " 01BBB 2048 192.0.2.7 mx.example.org m2@example.org alice@example.org "
    "carol@example.net - deferred 451 \"-\" 0 203.0.113.5",
    stamp(20) + " " + stamp(25) + " 01CCC 2048 192.0.2.8 client.example.org m3@example.org alice@example.org "
    "nobody@example.net - bounced 550 \"-\" 0 198.51.100.26",
    stamp(25) + " " + stamp(27) + " 01DDD 4000 - - n1@mail.example.test - alice alice@example.org sent 0 "
    "\"-\" 0 127.0.0.1",
    stamp(30) + " " + stamp(30) + " - 0 192.0.2.99 client.varrius.com - harold@varrius.com alan@very.bogus.com "
    "- rejected 550 \"-\" 0 127.0.0.1",
]


def run(*args, stdin=None):
    env = dict(os.environ)
    env.pop("IMTA_ROOT", None)
    return subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=60,
                          input=stdin if stdin is not None else "")


class Instance(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imta-track-test-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)  # also when setUp fails
        self.root = os.path.join(self.tmp, "x")
        r = run(IMTA, "init", self.root, "--domain", "example.test", "--hostname", "mail.example.test")
        self.assertEqual(r.returncode, 0, r.stderr)

    def options(self, text):
        with open(os.path.join(self.root, "config", "option.dat"), "a") as f:
            f.write(text)
        r = run(IMTA, "--root", self.root, "cnbuild")
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)

    def write(self, records):
        r = run(LOG_WRITER, self.root, stdin="\n".join(records) + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)

    def imta(self, *args, code=0):
        r = run(IMTA, "--root", self.root, *args)
        self.assertEqual(r.returncode, code, r.stderr + r.stdout)
        return r


class Track(Instance):
    def setUp(self):
        super().setUp()
        self.write(DELIVERED + DEFERRED + BOUNCED + REFUSED)

    def lines(self, *args):
        return self.imta("track", *args).stdout.splitlines()

    def test_every_story_is_one_line_per_message_and_recipient(self):
        self.assertEqual(self.lines(), EXPECTED)

    def test_the_log_got_the_same_records(self):
        with open(os.path.join(self.root, "log", "mail.log_current")) as f:
            self.assertEqual(len(f.read().splitlines()), 10)
        with sqlite3.connect(os.path.join(self.root, "db", "tracking.sqlite")) as c:
            self.assertEqual(c.execute("PRAGMA journal_mode").fetchone()[0], "wal")

    def test_selections(self):
        self.assertEqual(self.lines("--status", "deferred"), [EXPECTED[1]])
        self.assertEqual(self.lines("--status=bounced"), [EXPECTED[2]])
        self.assertEqual(self.lines("-status=rejected"), [EXPECTED[4]])
        self.assertEqual(self.lines("--queue-id", "01AAA"), [EXPECTED[0]])
        self.assertEqual(self.lines("--message-id", "m3@example.org"), [EXPECTED[2]])
        self.assertEqual(self.lines("--message-id", "<n1@mail.example.test>"), [EXPECTED[3]])
        self.assertEqual(self.lines("--to", "*@example.net"), EXPECTED[0:3])
        self.assertEqual(self.lines("--to", "alice@example.org"), [EXPECTED[3]])
        self.assertEqual(self.lines("--from", "harold@*"), [EXPECTED[4]])
        self.assertEqual(self.lines("--date", "2026-11-21"), EXPECTED)
        self.assertEqual(self.lines("--date", "2026-11-22"), [])
        self.assertEqual(self.lines("--from", "alice@example.org", "--status", "sent"), [EXPECTED[0]])

    def test_json(self):
        rows = [json.loads(line) for line in self.lines("--json")]
        self.assertEqual(len(rows), 5)
        first = rows[0]
        self.assertEqual(first["queued"], "2026-11-21 10:31:05")
        self.assertEqual(first["processed"], "2026-11-21 10:31:07")
        self.assertEqual(first["queue_id"], "01AAA")
        self.assertEqual(first["size"], 2048)
        self.assertEqual(first["message_id"], "<m1@example.org>")
        self.assertEqual(first["status"], "sent")
        self.assertEqual(first["status_code"], 250)
        self.assertEqual(first["delivery_ip"], "198.51.100.25")
        self.assertIsNone(first["spam_status"])
        self.assertIsNone(rows[4]["queue_id"])
        self.assertEqual(rows[3]["channel"], "l")

    def test_bad_date_is_a_usage_error(self):
        r = self.imta("track", "--date", "21-Nov-2026", code=2)
        self.assertIn("YYYY-MM-DD", r.stderr)


class Counters(Instance):
    def setUp(self):
        super().setUp()
        self.write(DELIVERED + DEFERRED + BOUNCED + REFUSED)

    def channels(self, *args):
        out = self.imta("counters", "-show", "-json", *args).stdout.splitlines()
        return {c["channel"]: c for c in map(json.loads, out)}

    def test_show(self):
        c = self.channels()
        self.assertEqual(sorted(c), ["l", "process", "tcp_local"])
        tcp = c["tcp_local"]
        self.assertEqual((tcp["messages_in"], tcp["recipients_in"], tcp["blocks_in"]), (3, 3, 6))
        self.assertEqual((tcp["messages_out"], tcp["recipients_out"], tcp["blocks_out"]), (1, 1, 2))
        self.assertEqual((tcp["failed"], tcp["rejected"], tcp["deferred"]), (1, 1, 1))
        self.assertEqual((tcp["queued_messages"], tcp["queued_recipients"]), (1, 1))
        self.assertEqual((c["l"]["messages_in"], c["l"]["messages_out"], c["l"]["queued_messages"]), (1, 1, 0))
        # process passes notices on with E records only: that takes them out too.
        self.assertEqual((c["process"]["messages_in"], c["process"]["queued_messages"]), (1, 0))

    def test_table(self):
        out = self.imta("counters", "-show", "tcp_local").stdout
        self.assertIn("Channel tcp_local (since ", out)
        self.assertIn("                Messages  Recipients      Blocks\n", out)
        self.assertIn("  Received             3           3           6\n", out)
        self.assertIn("  Delivered            1           1           2\n", out)
        self.assertIn("  Queued               1           1           -\n", out)
        self.assertIn("  Failed               -           1           -\n", out)
        self.assertIn("  Rejected             -           1           -\n", out)
        self.assertNotIn("Channel l ", out)

    def test_kept_across_writers_and_cleared(self):
        self.write([record(100, "D", "tcp_local", orig="carol@example.net", active="carol@example.net",
                           file="/q/tcp_local/ZY01BBB.00", ids="<m2@example.org>")])
        tcp = self.channels("tcp_local")["tcp_local"]
        self.assertEqual(tcp["recipients_out"], 2)
        self.assertEqual(tcp["queued_messages"], 0)
        self.assertIn("counters cleared", self.imta("counters", "-clear").stdout)
        tcp = self.channels()["tcp_local"]
        self.assertEqual((tcp["messages_in"], tcp["recipients_out"], tcp["failed"]), (0, 0, 0))

    def test_unknown_channel(self):
        r = self.imta("counters", "-show", "nosuch", code=1)
        self.assertIn("no counters for channel nosuch", r.stderr)


class Options(Instance):
    def test_tracking_and_counters_off(self):
        self.options("LOG_TRACKING=0\nLOG_COUNTERS=0\n")
        self.write(DELIVERED)
        self.assertFalse(os.path.exists(os.path.join(self.root, "db", "tracking.sqlite")))
        r = self.imta("track", code=1)
        self.assertIn("LOG_TRACKING=0", r.stderr)
        r = self.imta("counters", "-show", code=1)
        self.assertIn("LOG_COUNTERS=0", r.stderr)

    def test_json_lines(self):
        self.options("LOG_JSON=1\n")
        self.write(DELIVERED)
        with open(os.path.join(self.root, "log", "mail.log_current")) as f:
            entries = [json.loads(line) for line in f]
        self.assertEqual([e["code"] for e in entries], ["E", "D"])
        self.assertEqual(entries[0]["size"], 2)
        self.assertEqual(entries[1]["diagnostics"].split()[-3:], ["smtp;250", "2.0.0", "Ok"])


class Purge(Instance):
    def test_keeps_the_newest_and_never_touches_the_mail_log(self):
        log = os.path.join(self.root, "log")
        now = time.time()
        for i in range(7):
            path = os.path.join(log, "tcp_local_master.log-%d" % i)
            with open(path, "w") as f:
                f.write("debug\n")
            # Half a day off the day boundaries: -day=3 must not depend on
            # how many seconds the test took to get there.
            age = (7 - i) * 86400 - 43200
            os.utime(path, (now - age, now - age))
        for name in ("mail.log", "mail.log_yesterday", "return.log"):
            with open(os.path.join(log, name), "w") as f:
                f.write("keep\n")
        r = self.imta("purge", "-num=5", "-dry-run")
        self.assertEqual(r.stdout.splitlines(),
                         ["would remove tcp_local_master.log-0", "would remove tcp_local_master.log-1"])
        self.imta("purge", "-num=5")
        self.assertEqual(sorted(n for n in os.listdir(log) if n.startswith("tcp_local")),
                         ["tcp_local_master.log-%d" % i for i in range(2, 7)])
        r = self.imta("purge", "-day=3")
        self.assertEqual(r.stdout.splitlines(),
                         ["removed tcp_local_master.log-2", "removed tcp_local_master.log-3"])
        for name in ("mail.log", "mail.log_yesterday", "return.log"):
            self.assertTrue(os.path.exists(os.path.join(log, name)))
        r = self.imta("purge", "-num=1", "-day=1", code=2)
        self.assertIn("choose one", r.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(IMTAD, "IMTAD_BIN not set")
class ThroughTheDaemon(Instance):
    """The real writers: the SMTP server's E and J records (dispatcher) and
    the local channel's D records (job controller) feed one tracking row
    per recipient."""

    def setUp(self):
        super().setUp()
        self.port = free_port()
        with open(os.path.join(self.root, "config", "dispatcher.cnf"), "w") as f:
            f.write("WORKER_THREADS=1\nINTERFACE_ADDRESS=127.0.0.1\n[SERVICE=SMTP]\nPORT=%d\n"
                    "PARAMETER=CHANNEL=tcp_local\n" % self.port)
        self.options("")
        self.imta("user", "add", "bob", "--no-password")
        self.log = open(os.path.join(self.tmp, "imtad.log"), "w")
        self.proc = subprocess.Popen([IMTAD, "--foreground", "--root", self.root], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.addCleanup(self.stop)
        status = os.path.join(self.root, "run", "dispatcher.status")
        until = time.time() + DEADLINE
        while not os.path.exists(status):
            self.assertIsNone(self.proc.poll(), "imtad exited")
            self.assertLess(time.time(), until, "imtad did not come up")
            time.sleep(0.05)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()

    def rows_until(self, done):
        """Polls imta track --json until done(rows) (the writers batch their updates)."""
        until = time.time() + DEADLINE
        while True:
            r = run(IMTA, "--root", self.root, "track", "--json")
            rows = [json.loads(line) for line in r.stdout.splitlines()] if r.returncode == 0 else []
            if done(rows) or time.time() > until:
                return rows
            time.sleep(0.2)

    def test_received_delivered_and_refused(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=DEADLINE) as smtp:
            smtp.ehlo("client.example.org")
            smtp.sendmail("alice@example.org", ["bob@example.test"],
                          "Message-ID: <daemon-1@example.org>\r\nSubject: hi\r\n\r\nhello\r\n")
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                smtp.sendmail("alice@example.org", ["nosuchuser@example.test"], "Subject: x\r\n\r\nx\r\n")

        def finished(rows):
            return {r["status"] for r in rows} >= {"sent", "rejected"}
        rows = self.rows_until(finished)
        by_status = {r["status"]: r for r in rows}
        self.assertEqual(sorted(by_status), ["rejected", "sent"], rows)
        sent = by_status["sent"]
        self.assertEqual(sent["message_id"], "<daemon-1@example.org>")
        self.assertEqual(sent["from"], "alice@example.org")
        self.assertEqual(sent["orig_to"], "bob@example.test")
        self.assertEqual(sent["client_ip"], "127.0.0.1")
        self.assertEqual(sent["client_helo"], "client.example.org")
        self.assertEqual(sent["delivery_ip"], "127.0.0.1")
        self.assertEqual(sent["channel"], "l")
        self.assertIsNotNone(sent["queue_id"])
        rejected = by_status["rejected"]
        self.assertEqual(rejected["to"], "nosuchuser@example.test")
        self.assertEqual(rejected["status_code"], 550)
        self.assertIsNone(rejected["queue_id"])
        out = self.imta("track", "--queue-id", sent["queue_id"]).stdout
        self.assertEqual(len(out.splitlines()), 1)
        self.assertIn(" daemon-1@example.org alice@example.org ", out)
        # Every row knows when its message arrived (its E record from the SMTP
        # server, its D from the job controller): the first part of the key
        # that keeps new rows together in the index.
        with sqlite3.connect(os.path.join(self.root, "db", "tracking.sqlite")) as db:
            self.assertEqual(db.execute("SELECT count(*) FROM tracking WHERE arrival = 0").fetchone()[0], 0)
        c = {x["channel"]: x for x in map(json.loads, self.imta("counters", "-show", "-json").stdout.splitlines())}
        self.assertEqual(c["l"]["messages_in"], 1)
        # A loopback client is switched to tcp_intranet, the channel of its J records.
        self.assertEqual(c["tcp_intranet"]["rejected"], 1)
        self.assertEqual(c["l"]["messages_out"], 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
