#!/usr/bin/env python3
"""End-to-end tests of `imta qm return` and the process channel: a temporary
instance made with `imta init`, messages queued through the real Store API
by tests/queue/enqueue_tool, returned with `imta qm return`, then the notices
turned into reports by `imta run process`. Checked by what an administrator
sees: exit codes, output, queue files and log/mail.log_current records.

Run by meson with IMTA_BIN and ENQUEUE_TOOL pointing at the built programs."""
import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

IMTA = os.environ.get("IMTA_BIN", "build/tools/imta")
ENQUEUE = os.environ.get("ENQUEUE_TOOL", "build/tests/enqueue_tool")


class ReturnTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imta-return-test-")
        self.root = os.path.join(self.tmp, "x")
        r = subprocess.run([IMTA, "init", self.root, "--domain", "example.test",
                            "--hostname", "mail.example.test"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.queue = os.path.join(self.root, "queue")
        self.log = os.path.join(self.root, "log", "mail.log_current")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def imta(self, *args):
        env = dict(os.environ)
        env.pop("IMTA_ROOT", None)
        return subprocess.run([IMTA, "--root", self.root] + list(args), capture_output=True, text=True,
                              env=env, timeout=300)

    def enqueue(self, sender="adam@example.test", to=("user@very.bogus.com",), notify=0):
        cmd = [ENQUEUE, "--queue", self.queue, "--channel", "tcp_local", "--from", sender,
               "--subject", "lunch", "--message-id", "<orig@example.test>", "--notify", str(notify)]
        for t in to:
            cmd += ["--to", t]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split()[0]  # channel/file

    def files(self, channel):
        out = []
        for dirpath, _, names in os.walk(os.path.join(self.queue, channel)):
            out += [os.path.join(dirpath, n) for n in names if re.match(r"^[0-9A-Z]+\.00$", n)]
        return sorted(out)

    def codes(self):
        """`source dest CODE` (or `source CODE`) of every mail.log line."""
        if not os.path.exists(self.log):
            return []
        out = []
        with open(self.log) as f:
            for line in f.read().splitlines():
                w = line.split()
                out.append(" ".join(w[2:5]) if re.search(r"[a-z]", w[3]) else " ".join(w[2:4]))
        return out

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    @staticmethod
    def message_of(path):
        """The message bytes of a queue file (after the envelope's blank line)."""
        with open(path, "rb") as f:
            data = f.read()
        size = int(re.search(rb"\nsize (\d+)\n", data).group(1))
        start = data.index(b"\n\n") + 2
        return email.message_from_bytes(data[start:start + size], policy=email.policy.compat32)

    def test_return_sends_the_message_back_through_the_process_channel(self):
        name = self.enqueue()
        ident = name.split("/")[1][2:].split(".")[0]
        r = self.imta("qm", "return", ident)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "returned %s (1 recipient)\n" % name)
        self.assertEqual(self.files("tcp_local"), [])
        self.assertEqual(len(self.files("process")), 1)
        # Seed example 21-4: the notice to sender and postmaster, then R.
        self.assertEqual(self.codes(), ["tcp_local process E", "tcp_local process E", "tcp_local R"])
        text = self.log_text()
        self.assertIn("returned by ", text)
        self.assertRegex(text, r"<[^>]+>,<orig@example\.test>")

        r = self.imta("run", "process")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.files("process"), [])
        self.assertEqual(self.codes()[3:], ["process l E", "process l E"])
        reports = [self.message_of(p) for p in self.files("l")]
        self.assertEqual(len(reports), 2)  # the sender's, the postmaster's header-only copy
        kinds = sorted(m.get_payload()[2].get_content_type() for m in reports)
        self.assertEqual(kinds, ["message/rfc822", "text/rfc822-headers"])
        for m in reports:
            self.assertEqual(m.get_content_type(), "multipart/report")
            self.assertEqual(m.get_param("report-type"), "delivery-status")
            self.assertEqual(m["To"], "<adam@example.test>")
            self.assertEqual(m["Auto-Submitted"], "auto-replied")
            self.assertIn("postmaster@example.test", m["From"])
            status = m.get_payload()[1].as_string()
            self.assertIn("Reporting-MTA: dns; mail.example.test", status)
            self.assertIn("Final-Recipient: rfc822; user@very.bogus.com", status)
            self.assertIn("Status: 5.0.0", status)
            self.assertIn("Diagnostic-Code: X-imta; returned by the postmaster", status)
        # imta track: the original bounced, and each copy of the notice is one
        # row that followed it from process on to l (the process channel keeps
        # the notice's arrival, half of its tracking key).
        r = self.imta("track", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(sorted((x["status"], x["channel"]) for x in rows),
                         [("bounced", "tcp_local"), ("queued", "l"), ("queued", "l")], rows)
        notices = [x for x in rows if x["channel"] == "l"]
        self.assertEqual(len({x["message_id"] for x in notices}), 1)
        self.assertNotEqual(notices[0]["message_id"], "<orig@example.test>")

    def test_the_template_in_config_locale_is_used(self):
        path = os.path.join(self.root, "config", "locale", "return_failure.txt")
        self.assertTrue(os.path.exists(path), "imta init installs the templates")
        with open(path, "w") as f:
            f.write("Subject: Sorry about ${SUBJECT}\n\nWe could not deliver it (${QUEUE_ID}).\n")
        name = self.enqueue()
        ident = name.split("/")[1][2:].split(".")[0]
        self.assertEqual(self.imta("qm", "return", ident).returncode, 0)
        self.assertEqual(self.imta("run", "process").returncode, 0)
        m = self.message_of(self.files("l")[0])
        self.assertEqual(m["Subject"], "Sorry about lunch")
        self.assertEqual(m.get_payload()[0].get_payload(), "We could not deliver it (%s).\r\n" % ident)

    def test_notify_never_is_removed_without_a_notice(self):
        name = self.enqueue(notify=8)
        ident = name.split("/")[1][2:].split(".")[0]
        r = self.imta("qm", "return", ident)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.files("tcp_local"), [])
        self.assertEqual(self.files("process"), [])
        self.assertEqual(self.codes(), ["tcp_local K"])

    def test_unknown_ids_and_usage_errors(self):
        r = self.imta("qm", "return", "NOSUCHID")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such message: NOSUCHID", r.stderr)
        r = self.imta("qm", "return")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(self.codes(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
