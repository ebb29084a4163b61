#!/usr/bin/env python3
"""End-to-end tests of mailq(1) and newaliases(1): the sendmail binary called
through `mailq` and `newaliases` symlinks (it acts by the name it is called
by), on a temporary instance made with `imta init`, found through IMTA_ROOT.

Most tests fill the queue through the real Store API (tests/queue/
enqueue_tool, whose --defer records a failed attempt as a channel master
would) and work with imtad down. One test runs imtad: tcp_local delivers to a
loopback SMTP sink (tests/support/smtp_sink.py) that first answers 451 and
then is swapped for one that never answers MAIL, so a copy is being delivered
when mailq looks; DNS_SERVERS points at a port where nothing answers, so the
machine's resolver is never asked. Checked: the text and exit codes a script
sees, the image file, the SMTP server's EXPN answer.

Run by meson with SENDMAIL_BIN, IMTA_BIN, IMTAD_BIN, ENQUEUE_TOOL and
IMTA_SMTP_SINK pointing at the built programs and the sink."""
import json
import math
import os
import re
import signal
import smtplib
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))

from enqueue import enqueue  # noqa: E402
from instance import DEADLINE, Instance, wait_for  # noqa: E402
from sink import Sink  # noqa: E402

SENDMAIL = os.environ.get("SENDMAIL_BIN", "build/tools/sendmail")
SINK_ADDRESS = "127.0.0.41"

# sysexits.h
EX_USAGE, EX_OSFILE, EX_CONFIG = 64, 72, 78

HEADER = re.compile(r"^-Queue ID- +--Size-- ----Arrival Time---- -Sender/Recipient-------$")
ROW = re.compile(r"^([0-9A-Z]+)([*!]?) +(\d+) ([A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) +(\S+)$")
TRAILER = re.compile(r"^-- (\d+) Kbytes in (\d+) Requests?\.$")


def parse_mailq(text):
    """mailq's text as a script reads it: {id: {mark, size, arrival, sender,
    recipients: [(address, error)]}} and the trailer's (kbytes, requests)."""
    lines = text.splitlines()
    assert HEADER.match(lines[0]), lines[0]
    requests, trailer, current, error = [], None, None, None
    for line in lines[1:]:
        if line == "":
            current, error = None, None
            continue
        m = TRAILER.match(line)
        if m:
            trailer = (int(m.group(1)), int(m.group(2)))
            continue
        m = ROW.match(line)
        if m and current is None:
            current = {"id": m.group(1), "mark": m.group(2), "size": int(m.group(3)), "arrival": m.group(4),
                       "sender": m.group(5), "recipients": []}
            requests.append(current)
            continue
        assert current is not None, "line outside a request: %r" % line
        if line.startswith("("):
            assert line.endswith(")"), line
            error = line[1:-1]
        else:
            assert line.startswith(" " * 30) and line.strip() == line.split()[0], "not a recipient line: %r" % line
            current["recipients"].append((line.strip(), error))
    assert trailer is not None, text
    return requests, trailer


class MailqBase(unittest.TestCase):
    def setUp(self):
        self.inst = Instance(prefix="imta-mailq-test-")
        self.tmp, self.root = self.inst.tmp, self.inst.root
        self.sinks = []
        # The installed names: one binary, acting by the name it is called by.
        for name in ("mailq", "newaliases"):
            os.symlink(os.path.abspath(SENDMAIL), os.path.join(self.tmp, name))
        self.queue = os.path.join(self.root, "queue")

    def tearDown(self):
        self.inst.stop()
        for s in self.sinks:
            s.stop()
        self.inst.destroy()

    # ---- helpers -------------------------------------------------------------

    def env(self, root=None):
        env = dict(os.environ)
        env["IMTA_ROOT"] = root or self.root
        return env

    def mailq(self, *args, root=None):
        return subprocess.run([os.path.join(self.tmp, "mailq")] + list(args), capture_output=True, text=True,
                              env=self.env(root), timeout=DEADLINE * 2)

    def newaliases(self, *args, root=None):
        return subprocess.run([os.path.join(self.tmp, "newaliases")] + list(args), capture_output=True,
                              text=True, env=self.env(root), timeout=DEADLINE)

    def imta(self, *args):
        return self.inst.imta(*args)

    def enqueue(self, to, sender="alice@example.org", defer=(), body=None, channel="tcp_local"):
        name = enqueue(self.queue, channel, sender, to, defer=defer, body=body, timeout=DEADLINE)[0]  # channel/file
        return re.match(r"^[^/]+/..([0-9A-Z]+)\.00$", name).group(1)  # the queue id

    def image(self):
        with open(self.inst.config_path("imta.image"), "rb") as f:
            return f.read()


class MailqTest(MailqBase):
    """The queue with imtad down."""

    def test_empty_queue(self):
        r = self.mailq()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "Mail queue is empty\n")
        self.assertEqual(r.stderr, "")
        # sendmail -bp is the same listing.
        r = subprocess.run([SENDMAIL, "-bp"], capture_output=True, text=True, env=self.env())
        self.assertEqual((r.returncode, r.stdout), (0, "Mail queue is empty\n"), r.stderr)

    def test_listing_held_deferred_and_trailer(self):
        big = "x" * 3000  # so the trailer's Kbytes are more than one
        waiting = self.enqueue(["bob@example.net"], body=big)
        deferred = self.enqueue(["carol@example.net", "dave@example.net"],
                                defer=["dns;mx.example.net (TCP|127.0.0.1|4000|127.0.0.9|25) (mx ESMTP) "
                                       "smtp;451 4.7.1 try later"])
        held = self.enqueue(["erin@example.net"], sender="")
        self.imta("qm", "hold", held)
        local = self.enqueue(["frank@example.test"], channel="l", body=big)

        r = self.mailq()
        self.assertEqual(r.returncode, 0, r.stderr)
        requests, (kbytes, count) = parse_mailq(r.stdout)
        by_id = {q["id"]: q for q in requests}
        self.assertEqual(set(by_id), {waiting, deferred, held, local})
        # Oldest first (the ids start with the arrival time).
        self.assertEqual([q["id"] for q in requests], [waiting, deferred, held, local])

        self.assertEqual(by_id[waiting]["mark"], "")
        self.assertEqual(by_id[waiting]["sender"], "alice@example.org")
        self.assertEqual(by_id[waiting]["recipients"], [("bob@example.net", None)])
        self.assertEqual(by_id[deferred]["mark"], "")
        error = "dns;mx.example.net (TCP|127.0.0.1|4000|127.0.0.9|25) (mx ESMTP) smtp;451 4.7.1 try later"
        self.assertEqual(by_id[deferred]["recipients"], [("carol@example.net", error), ("dave@example.net", error)])
        # One error line for both recipients, before them.
        self.assertEqual(r.stdout.count("(" + error + ")\n"), 1)
        self.assertEqual(by_id[held]["mark"], "!")
        self.assertEqual(by_id[held]["sender"], "MAILER-DAEMON")
        self.assertEqual(by_id[local]["recipients"], [("frank@example.test", None)])

        # The sizes are the messages' own, as imta qm directory --json says;
        # the trailer adds them up, rounded up to whole Kbytes.
        listed = [json.loads(line) for line in self.mailq("--json").stdout.splitlines()]
        sizes = {j["id"]: j["size"] for j in listed}
        for q in requests:
            self.assertEqual(q["size"], sizes[q["id"]])
        self.assertGreater(sizes[waiting], 3000)
        self.assertEqual(count, 4)
        self.assertEqual(kbytes, math.ceil(sum(sizes.values()) / 1024))
        self.assertTrue(r.stdout.endswith("\n\n-- %d Kbytes in 4 Requests.\n" % kbytes), r.stdout)

        # -v names the channel and the state of each copy.
        v = self.mailq("-v").stdout
        self.assertIn("[channel tcp_local, 1 attempt, next retry ", v)
        self.assertIn("[channel tcp_local, 0 attempts, held]", v)
        self.assertIn("[channel l, 0 attempts, next retry now]", v)

    def test_one_request_is_singular(self):
        self.enqueue(["bob@example.net"])
        r = self.mailq()
        self.assertTrue(r.stdout.endswith("\n-- 1 Kbytes in 1 Request.\n"), r.stdout)

    def test_json_is_imta_qm_directory_json(self):
        self.enqueue(["bob@example.net"])
        self.enqueue(["carol@example.net"], defer=["smtp;451 4.7.1 later"])
        held = self.enqueue(["dave@example.net"])
        self.imta("qm", "hold", held)
        r = self.mailq("--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        expected = self.imta("qm", "directory", "--json").stdout
        self.assertEqual(r.stdout, expected)
        self.assertEqual(len(r.stdout.splitlines()), 3)
        self.assertEqual(self.mailq("-j").stdout, expected)

    def test_exit_codes(self):
        r = self.mailq(root=os.path.join(self.tmp, "nowhere"))
        self.assertEqual(r.returncode, EX_OSFILE, r.stderr)
        self.assertIn("mailq: ", r.stderr)
        self.assertEqual(r.stdout, "")
        r = self.mailq("--bogus")
        self.assertEqual(r.returncode, EX_USAGE)
        self.assertIn("usage: mailq", r.stderr)
        r = self.mailq("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: mailq", r.stdout)
        os.remove(self.inst.config_path("imta.image"))
        r = self.mailq()
        self.assertEqual(r.returncode, EX_CONFIG, r.stderr)
        self.assertIn("imta cnbuild", r.stderr)


class NewaliasesTest(MailqBase):
    def test_counts_and_rebuilds_the_image(self):
        before = self.image()
        # The default aliases file has postmaster, abuse and mailer-daemon.
        r = self.newaliases()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.inst.config_path("aliases") + ": 3 aliases\n")
        self.inst.append("aliases", "team: alice, bob@example.net\n"
                                    "sales: team,\n"
                                    "  carol@example.net\n")
        r = self.newaliases()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.inst.config_path("aliases") + ": 5 aliases\n")
        self.assertNotEqual(self.image(), before)
        # The rebuilt image is what `imta cnbuild` writes.
        after = self.image()
        self.imta("cnbuild")
        self.assertEqual(len(self.image()), len(after))
        # sendmail -bi and -I are newaliases too.
        for flag in ("-bi", "-I"):
            r = subprocess.run([SENDMAIL, flag], capture_output=True, text=True, env=self.env())
            self.assertEqual((r.returncode, r.stdout), (0, self.inst.config_path("aliases") + ": 5 aliases\n"),
                             r.stderr)

    def test_bad_aliases_line_keeps_the_old_image(self):
        before = self.image()
        with open(self.inst.config_path("aliases")) as f:
            lines = f.read().count("\n")
        self.inst.append("aliases", "this line has no colon\n")
        r = self.newaliases()
        self.assertEqual(r.returncode, EX_CONFIG, r.stdout)
        self.assertRegex(r.stderr, r"(?m)^%s:%d: " % (re.escape(self.inst.config_path("aliases")), lines + 1))
        self.assertIn("not changed", r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(self.image(), before)

    def test_missing_instance_and_usage(self):
        r = self.newaliases(root=os.path.join(self.tmp, "nowhere"))
        self.assertEqual(r.returncode, EX_OSFILE, r.stderr)
        r = self.newaliases("-x")
        self.assertEqual(r.returncode, EX_USAGE)
        self.assertIn("usage: newaliases", r.stderr)


class WithDaemonTest(MailqBase):
    """imtad running: newaliases makes it reload; mailq marks the copy a job
    is delivering and shows the sink's 451 as the last error."""

    def start_sink(self, script, port=None):
        s = Sink([SINK_ADDRESS], port=port, script=script, prefix="imta-mailq-sink-")
        self.sinks.append(s)
        return s

    def expn(self, name):
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=DEADLINE) as s:
            s.ehlo("client.example")
            return s.expn(name)

    def test_reload_last_error_and_delivery_mark(self):
        sink = self.start_sink({"rcpt_reply": "451 4.7.1 try later"})
        self.smtp_port = self.inst.listen_smtp()
        old = "tcp_local smtp mx single_sys"
        # threaddepth 1: one more delivery thread for each copy waiting.
        self.inst.replace("imta.cnf", old, "%s daemon [%s] port %d backoff \"pt2s\" threaddepth 1"
                          % (old, SINK_ADDRESS, sink.port), 1)
        self.inst.no_dns()  # nothing answers there: the machine's resolver is never asked
        # EXPN on, to see which aliases the SMTP server has in force.
        for channel in ("tcp_local", "tcp_intranet"):
            self.inst.append(channel + "_option", "\nDISABLE_EXPAND=0\n")
        self.imta("cnbuild")
        self.inst.READY = Instance.READY + ("imtad.pid",)
        self.inst.start()

        # An alias added to the file is not in force until newaliases.
        code, _ = self.expn("team")
        self.assertEqual(code, 550)
        self.inst.append("aliases", "team: bob@remote.test\n")
        r = self.newaliases()
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.root, "run", "imtad.pid")) as f:
            pid = int(f.read().split()[0])
        self.assertEqual(r.stdout, "%s: 4 aliases\nimtad (pid %d) told to reload the configuration\n"
                         % (self.inst.config_path("aliases"), pid))
        code, text = wait_for("the alias in force", lambda: (lambda a: a if a[0] == 250 else None)(self.expn("team")))
        self.assertIn(b"bob@remote.test", text)

        # Mail to the alias: a tcp_local copy for bob, deferred by the sink's 451.
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=DEADLINE) as s:
            s.sendmail("alice@example.test", ["team@example.test"],
                       "From: alice@example.test\r\nSubject: to the team\r\n\r\nHello.\r\n")

        def listing():
            out = self.mailq().stdout
            return [] if out == "Mail queue is empty\n" else parse_mailq(out)[0]

        def deferred():
            hits = [q for q in listing() if q["recipients"] and "451 4.7.1 try later" in (q["recipients"][0][1] or "")]
            return hits[0] if hits else None

        q = wait_for("the 451 as the last error", deferred)
        self.assertEqual(q["sender"], "alice@example.test")
        self.assertEqual([a for a, _ in q["recipients"]], ["bob@remote.test"])
        queue_id = q["id"]

        # A sink that never answers MAIL: the next attempt (2 s later) stays
        # in delivery, and mailq marks the copy with *.
        port = sink.port
        sink.stop()
        self.sinks.remove(sink)
        hanging = self.start_sink({"hang_at": "MAIL"}, port=port)

        def marked():
            return [x for x in listing() if x["id"] == queue_id and x["mark"] == "*"]

        wait_for("the delivery mark", marked)
        self.assertIn("MAIL FROM", hanging.transcript())
        v = self.mailq("-v").stdout
        self.assertIn("being delivered]", v)

        # Two more copies for the hanging sink: the job takes a second thread
        # (two copies wait for one running delivery), and mailq marks both
        # copies in delivery; imta qm jobs shows the two threads and files.
        for n in (2, 3):
            with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=DEADLINE) as s:
                s.sendmail("alice@example.test", ["bob@remote.test"],
                           "From: alice@example.test\r\nSubject: number %d\r\n\r\nHello.\r\n" % n)
        wait_for("two copies marked", lambda: len([x for x in listing() if x["mark"] == "*"]) == 2)
        ids = [x["id"] for x in listing()]
        self.assertEqual(len(ids), 3)
        marked_ids = [x["id"] for x in listing() if x["mark"] == "*"]
        jobs = self.imta("qm", "jobs").stdout
        self.assertRegex(jobs.splitlines()[0], r"^Job +Channel +Pool +Started +Files +Threads +Delivering$")
        row = [l for l in jobs.splitlines()[1:] if " tcp_local " in l]
        self.assertEqual(len(row), 1, jobs)
        self.assertRegex(row[0], r" 2 +Z[A-Z]\S+\.00, Z[A-Z]\S+\.00$")
        for i in marked_ids:
            self.assertIn(i, row[0])

        # A job controller that does not answer (stopped) holds the listing
        # up for a few seconds at most; nothing is marked then.
        with open(os.path.join(self.root, "run", "job_controller.pid")) as f:
            os.kill(int(f.read().split()[0]), signal.SIGSTOP)
        r = self.mailq()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("mailq: note: the job controller did not answer within 5 s", r.stderr)
        self.assertEqual(sorted((x["id"], x["mark"]) for x in parse_mailq(r.stdout)[0]), sorted((i, "") for i in ids))

        # imtad gone: nothing is being delivered; the copy is still listed.
        self.inst.stop()
        r = self.mailq()
        self.assertEqual(r.returncode, 0, r.stderr)
        requests, (_, count) = parse_mailq(r.stdout)
        self.assertEqual(count, 3)
        self.assertEqual(sorted((x["id"], x["mark"]) for x in requests), sorted((i, "") for i in ids))


if __name__ == "__main__":
    unittest.main()
