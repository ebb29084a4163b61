#!/usr/bin/env python3
"""End-to-end tests of `imta return`: the real binary on a temporary instance
made with `imta init` (its default imta.cnf: `defaults ... notices 1 2 4 7
copywarnpost copysendpost`), the queue filled through the real Store API by
tests/queue/enqueue_tool. --at moves the job's clock days ahead, so "nine days
later" needs no waiting. Checked by what an administrator sees: the lines
printed, exit codes, files in queue/, the notices enqueued to the process
channel and the records in log/mail.log_current.

Notices the job enqueues are new files whose ids carry the real time; a later
run with --at days ahead would judge them too, so tests remove them once they
have looked at them.

Run by meson with IMTA_BIN and ENQUEUE_TOOL pointing at the built programs."""
import datetime
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import unittest

IMTA = os.environ.get("IMTA_BIN", "build/tools/imta")
ENQUEUE = os.environ.get("ENQUEUE_TOOL", "build/tests/enqueue_tool")

SMTP_451 = "dns;mx.example.net (TCP|127.0.0.1|4000|127.0.0.2|25) (mx ESMTP) smtp;451 4.7.1 try later"


class ReturnTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imta-return-test-")
        self.root = os.path.join(self.tmp, "x")
        r = subprocess.run([IMTA, "init", self.root, "--domain", "example.test",
                            "--hostname", "mail.example.test"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.queue = os.path.join(self.root, "queue")
        self.log = os.path.join(self.root, "log", "mail.log_current")
        self.locks = []

    def tearDown(self):
        for f in self.locks:
            f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- helpers -------------------------------------------------------------

    def imta(self, *args):
        env = dict(os.environ)
        env.pop("IMTA_ROOT", None)
        return subprocess.run([IMTA, "--root", self.root] + list(args), capture_output=True, text=True,
                              env=env, timeout=120)

    def ret(self, *args, code=0):
        r = self.imta("return", *args)
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        if code == 0:
            # The last line sums up; the others are one per message.
            self.assertRegex(lines[-1], r"^(would have: )?\d+ warned, \d+ returned")
            return lines[:-1]
        return lines

    def enqueue(self, channel="tcp_local", sender="alice@example.org", to=("bob@example.net",), notify=0,
                defer=()):
        cmd = [ENQUEUE, "--queue", self.queue, "--channel", channel, "--from", sender,
               "--subject", "Quarterly report", "--notify", str(notify)]
        for t in to:
            cmd += ["--to", t]
        for d in defer:
            cmd += ["--defer", d]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split()[0]  # "channel/file"

    def edit(self, name, old, new):
        path = os.path.join(self.root, "config", name)
        with open(path) as f:
            text = f.read()
        self.assertIn(old, text)
        with open(path, "w") as f:
            f.write(text.replace(old, new, 1))

    def cnbuild(self):
        r = self.imta("cnbuild")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stderr

    def files(self, channel):
        folder = os.path.join(self.queue, channel)
        if not os.path.isdir(folder):
            return []
        return sorted(n for n in os.listdir(folder) if re.match(r"^[0-9A-Z]+\.(00|HELD)$", n))

    def file_text(self, channel, name):
        with open(os.path.join(self.queue, channel, name), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def notices(self):
        """The notice files in the process queue: (kind, recipients, file text)."""
        out = []
        for n in self.files("process"):
            text = self.file_text("process", n)
            kind = re.search(r"^notice (\w+)$", text, re.M).group(1)
            rcpts = re.findall(r"^rcpt (\S+) ", text, re.M)
            out.append((kind, rcpts, text))
        return out

    def clear_process(self):
        for n in self.files("process"):
            os.remove(os.path.join(self.queue, "process", n))

    def log_lines(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return f.read().splitlines()

    def records(self, code):
        """Log lines of `code` as "source [dest] CODE active-recipient"."""
        out = []
        for line in self.log_lines():
            m = re.match(r"^\S+ \S+ (\S+)\s+(\S+\s+)?([A-Z]+) \d+ \S* rfc822;\S* (\S+)", line)
            if m and m.group(3) == code:
                dest = (m.group(2) or "").strip()
                out.append(" ".join(x for x in (m.group(1), dest, code, m.group(4)) if x))
        return out

    # ---- tests ---------------------------------------------------------------

    def test_warnings_then_return(self):
        name = self.enqueue(to=("bob@example.net", "carol@example.net"), defer=[SMTP_451])
        channel, file = name.split("/")

        self.assertEqual(self.ret("--dry-run", "--at", "+20h"), [])
        lines = self.ret("--dry-run", "--at", "+1d")
        self.assertEqual(lines, ["would warn %s age 1d00h, warning 1 of 3, 2 recipients" % name])
        # A dry run changes nothing.
        self.assertEqual(self.files("process"), [])
        self.assertEqual(self.log_lines(), [])

        lines = self.ret("--at", "+1d")
        self.assertEqual(lines, ["warned %s age 1d00h, warning 1 of 3, 2 recipients" % name])
        self.assertEqual(self.records("E"), ["tcp_local process E alice@example.org",
                                             "tcp_local process E postmaster@example.test"])
        self.assertEqual(self.records("W"), ["tcp_local W bob@example.net", "tcp_local W carol@example.net"])
        w = [l for l in self.log_lines() if " W " in l][0]
        self.assertIn(os.path.join(self.queue, channel, file), w)
        self.assertTrue(w.endswith("delayed 1d00h (warning 1 of 3, notices 1 2 4 7 days)"), w)
        [(kind, rcpts, text)] = self.notices()
        self.assertEqual(kind, "delay")
        self.assertEqual(rcpts, ["alice@example.org", "postmaster@example.test"])
        self.assertIn("notice-action delayed\n", text)
        self.assertIn("notice-status 4.7.1\n", text)
        self.assertEqual(self.files("tcp_local"), [file])  # stays, under its name
        history = self.imta("qm", "history", file[2:].split(".")[0]).stdout
        self.assertIn("delay warning 1 of 3 sent, queued 1d00h", history)

        # Running again sends nothing twice.
        self.clear_process()
        self.assertEqual(self.ret("--at", "+1d"), [])
        self.assertEqual(self.ret("--at", "+36h"), [])
        self.assertEqual(len(self.records("W")), 2)
        self.assertEqual(self.files("process"), [])

        self.assertEqual(self.ret("--at", "+2d"), ["warned %s age 2d00h, warning 2 of 3, 2 recipients" % name])
        self.clear_process()
        self.assertEqual(self.ret("--at", "+5d"), ["warned %s age 5d00h, warning 3 of 3, 2 recipients" % name])
        self.clear_process()
        self.assertEqual(len(self.records("W")), 6)

        # Nine days later: returned and removed.
        lines = self.ret("--at", "+9d")
        self.assertEqual(lines, ["returned %s age 9d00h, 2 recipients" % name])
        self.assertEqual(self.files("tcp_local"), [])
        self.assertEqual(self.records("R"), ["tcp_local R bob@example.net", "tcp_local R carol@example.net"])
        r = [l for l in self.log_lines() if " R " in l][0]
        self.assertIn("delivery time expired: queued 9d00h (notices 1 2 4 7 days); last error: " + SMTP_451, r)
        [(kind, rcpts, text)] = self.notices()
        self.assertEqual(kind, "failure")
        self.assertEqual(rcpts, ["alice@example.org", "postmaster@example.test"])
        self.assertIn("notice-action failed\n", text)
        self.assertIn("notice-status 4.4.7\n", text)
        self.clear_process()
        self.assertEqual(self.ret("--at", "+9d"), [])

    def test_delay_report_reaches_the_sender(self):
        name = self.enqueue(defer=[SMTP_451])
        self.ret("--at", "+1d")
        r = self.imta("run", "process")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        reports = [n for n in self.files("tcp_local") if n != name.split("/")[1]]
        self.assertEqual(len(reports), 1)
        text = self.file_text("tcp_local", reports[0])
        self.assertIn("rcpt alice@example.org ", text)
        self.assertIn("report-type=delivery-status", text)
        self.assertIn("Action: delayed", text)
        self.assertIn("Status: 4.7.1", text)
        self.assertIn("Diagnostic-Code: smtp; 451 4.7.1 try later", text)
        # The postmaster's copy goes to the local channel.
        self.assertEqual(len(self.files("l")), 1)

    def test_notify_never_and_failure_only(self):
        never = self.enqueue(to=("never@example.net",), notify=8)
        failure = self.enqueue(to=("failure@example.net",), notify=2)
        lines = sorted(self.ret("--at", "+1d"))
        self.assertEqual(lines, sorted(["warned %s age 1d00h, warning 1 of 3, nobody to tell" % never,
                                        "warned %s age 1d00h, warning 1 of 3, nobody to tell" % failure]))
        self.assertEqual(self.records("W"), [])
        self.assertEqual(self.files("process"), [])
        self.assertEqual(self.ret("--at", "+1d"), [])

        lines = sorted(self.ret("--at", "+7d"))
        self.assertEqual(lines, sorted(["returned %s age 7d00h, 0 recipients, 1 removed (NOTIFY=NEVER)" % never,
                                        "returned %s age 7d00h, 1 recipient" % failure]))
        self.assertEqual(self.records("K"), ["tcp_local K never@example.net"])
        self.assertEqual(self.records("R"), ["tcp_local R failure@example.net"])
        notices = self.notices()
        self.assertEqual(len(notices), 1)  # for failure@ only
        self.assertIn("notice-rcpt failure@example.net\n", notices[0][2])
        self.assertEqual(self.files("tcp_local"), [])

    def test_return_units_hours(self):
        self.edit("option.dat", "BLOCK_SIZE=1024", "BLOCK_SIZE=1024\nRETURN_UNITS=1")
        self.assertNotIn("RETURN_UNITS", self.cnbuild())
        name = self.enqueue()
        self.assertEqual(self.ret("--at", "+50m"), [])
        self.assertEqual(self.ret("--at", "+1h"), ["warned %s age 1h00m, warning 1 of 3, 1 recipient" % name])
        self.clear_process()
        self.assertEqual(self.ret("--at", "+7h"), ["returned %s age 7h00m, 1 recipient" % name])
        self.assertIn("(notices 1 2 4 7 hours)", [l for l in self.log_lines() if " R " in l][0])

    def test_channel_notices_and_nowarnpost(self):
        self.edit("imta.cnf", "copywarnpost", "nowarnpost")
        stderr = self.cnbuild()
        self.assertNotIn('"notices"', stderr)
        self.assertNotIn("warnpost", stderr)
        name = self.enqueue()
        self.ret("--at", "+1d")
        [(kind, rcpts, _)] = self.notices()
        self.assertEqual((kind, rcpts), ("delay", ["alice@example.org"]))

    def test_file_being_delivered_is_skipped(self):
        name = self.enqueue()
        channel, file = name.split("/")
        lock = open(os.path.join(self.queue, channel, file), "rb")
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        self.locks.append(lock)
        lines = self.ret("--at", "+8d")
        self.assertEqual(lines, ["skipped %s age 8d00h: being delivered, next run" % name])
        self.assertEqual(self.files("tcp_local"), [file])
        self.assertEqual(self.log_lines(), [])
        lock.close()
        self.locks.remove(lock)
        self.assertEqual(self.ret("--at", "+8d"), ["returned %s age 8d00h, 1 recipient" % name])

    def test_held_files_are_left_alone(self):
        name = self.enqueue()
        ident = name.split("/")[1][2:].split(".")[0]
        r = self.imta("qm", "hold", ident)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.ret("--at", "+30d"), [])
        self.assertEqual(len(self.files("tcp_local")), 1)
        self.assertTrue(self.files("tcp_local")[0].endswith(".HELD"))

    def test_at_a_date(self):
        name = self.enqueue()
        day = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
        lines = self.ret("--dry-run", "--at", day)
        self.assertEqual(len(lines), 1)
        self.assertRegex(lines[0], r"^would warn %s age \dd\d\dh, warning [12] of 3, 1 recipient$" % re.escape(name))
        lines = self.ret("--dry-run", "--at", day + "T23:59")
        self.assertRegex(lines[0], r"^would warn %s age 3d\d\dh, warning 2 of 3" % re.escape(name))
        r = self.imta("return", "--dry-run", "--at", "now")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_usage_and_failures(self):
        for args in (["--at", "yesterday"], ["--at", "2026-02-30"], ["--at", "2026-11-21T25:00"], ["--at", "+9"],
                     ["--frobnicate"], ["extra"]):
            r = self.imta("return", *args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
        r = subprocess.run([IMTA, "--root", os.path.join(self.tmp, "nowhere"), "return"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        os.remove(os.path.join(self.root, "config", "imta.image"))
        r = self.imta("return")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cnbuild", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
