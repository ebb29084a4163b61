#!/usr/bin/env python3
"""The pipe channel end to end: imtad on a temporary instance, programs
registered with `imta program`, reached through aliases, mail sent by SMTP.
Checks what an administrator sees: the exact bytes and arguments a program
got, the mail.log_current records (tcp_intranet pipe E, then pipe D / Q / R),
the retry rename of a temporary failure, the bounce of a permanent one with
the program's stderr, and that nobody outside can address pipe-daemon
directly. No DNS is used (DNS_SERVERS points at a silent loopback port).

Run by meson with IMTAD_BIN and IMTA_BIN pointing at the built programs.
"""
import os
import pwd
import shutil
import smtplib
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tcp"))
sys.path.insert(0, os.path.join(HERE, "..", "conversion"))

from test_smtp_server import IMTA, Instance, free_port  # noqa: E402
from test_conversion_e2e import entries, keys, wait_for  # noqa: E402

INSIDE = "127.0.0.2"    # tcp_intranet
OUTSIDE = "127.0.0.1"   # tcp_local

WRITER = r"""#!/bin/sh
out=%(out)s/$IMTA_ARGUMENT
for a in "$@"; do printf '[%%s]' "$a"; done > "$out.args"
cat > "$out.stdin"
id -u > "$out.uid"
"""

STATUS = r"""#!/bin/sh
cat > /dev/null
echo "mailbox $1 is over quota" >&2
exit $1
"""


class PipeEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tools = tempfile.mkdtemp(prefix="imta-pipe-tools-")
        os.chmod(cls.tools, 0o755)  # under root the programs run as nobody
        cls.out = os.path.join(cls.tools, "out")
        os.mkdir(cls.out)
        os.chmod(cls.out, 0o777)
        cls.writer = cls.script("writer.sh", WRITER % {"out": cls.out})
        cls.status = cls.script("status.sh", STATUS)
        dead_dns = free_port()

        def edit(inst):
            inst.replace("mappings", "  $(127.0.0.0/8)            $Y\n", "  127.0.0.2                 $Y\n")
            inst.write("aliases", inst.read("aliases") +
                       "support: writer+support@pipe-daemon\n"
                       "quota: status+75@pipe-daemon\n"
                       "broken: status+1@pipe-daemon\n")
            inst.replace("imta.cnf", "pipe maxjobs 2 pool LOCAL_POOL", "pipe maxjobs 2 pool LOCAL_POOL backoff \"pt1h\"")
            inst.write("option.dat", inst.read("option.dat") +
                       "\nDNS_SERVERS=127.0.0.1:%d\nDNS_TIMEOUT=1\nDNS_ATTEMPTS=1\n" % dead_dns)

        cls.inst = Instance(edit=edit)
        for user in ("adam@example.test", "postmaster@example.test"):
            cls.inst.add_user(user)
        cls.inst.run(IMTA, "--root", cls.inst.root, "program", "-a", "writer", "-p", cls.writer, "-g", "-q %s \"two words\"")
        cls.inst.run(IMTA, "--root", cls.inst.root, "program", "-a", "status", "-p", cls.status, "-g", "%s")
        cls.inst.start()
        cls.inst.resume_job_controller()  # the SMTP tests' Instance pauses it; here it delivers

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()
        shutil.rmtree(cls.tools, ignore_errors=True)

    @classmethod
    def script(cls, name, text):
        path = os.path.join(cls.tools, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
        return path

    def send(self, to, subject, source=INSIDE, body="Line one.\r\n.dot line\r\n"):
        msgid = "<%s.%d@example.test>" % (subject, time.time_ns())
        msg = ("From: adam@example.test\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n\r\n%s"
               % (to, subject, msgid, body))
        with smtplib.SMTP("127.0.0.1", self.inst.ports["smtp"], source_address=(source, 0), timeout=30) as s:
            s.sendmail("adam@example.test", [to], msg)
        return msgid, msg

    def entries_of(self, msgid):
        return [e for e in entries(self.inst) if msgid in e.line]

    def test_program_gets_the_message_and_its_arguments(self):
        msgid, msg = self.send("support@example.test", "pipe")
        d = wait_for("pipe D", lambda: [e for e in self.entries_of(msgid) if e.key() == ("pipe", "", "D")])
        # Two processes buffer their records: the order is that of their times.
        seq = sorted(self.entries_of(msgid), key=lambda e: e.when)
        self.assertEqual(sorted(keys(seq)), [("pipe", "", "D"), ("tcp_intranet", "pipe", "E")])
        by = {e.key(): e for e in seq}
        self.assertLessEqual(by[("tcp_intranet", "pipe", "E")].when, by[("pipe", "", "D")].when)
        self.assertEqual(d[0].orig, "support@example.test")
        with open(os.path.join(self.out, "support.args")) as f:
            self.assertEqual(f.read(), "[-q][support][two words]")
        with open(os.path.join(self.out, "support.stdin"), "rb") as f:
            got = f.read()
        # What the SMTP server queued: its Received header, then the message
        # exactly as sent, with LF line ends and no dot-stuffing.
        self.assertTrue(got.startswith(b"Received: "), got[:100])
        self.assertTrue(got.endswith(msg.replace("\r\n", "\n").encode()), got)
        self.assertNotIn(b"\r", got)
        with open(os.path.join(self.out, "support.uid")) as f:
            uid = int(f.read())
        expected = os.geteuid()
        if expected == 0:
            expected = pwd.getpwnam("nobody").pw_uid
        self.assertEqual(uid, expected)

    def test_temporary_failure_is_retried(self):
        msgid, _ = self.send("quota@example.test", "quota")
        q = wait_for("pipe Q", lambda: [e for e in self.entries_of(msgid) if e.key() == ("pipe", "", "Q")])
        self.assertIn("exited with status 75: mailbox 75 is over quota", q[0].text)
        files = wait_for("the ZY file", lambda: [p for p in self.inst.queue_files().get("pipe", [])
                                                 if os.path.basename(p).startswith("ZY")
                                                 and q[0].file[2:] in p])
        self.assertEqual(len(files), 1)

    def test_permanent_failure_bounces_with_stderr(self):
        msgid, _ = self.send("broken@example.test", "broken")
        r = wait_for("pipe R", lambda: [e for e in self.entries_of(msgid) if e.key() == ("pipe", "", "R")])
        self.assertIn("exited with status 1: mailbox 1 is over quota", r[0].text)

    def test_pipe_daemon_cannot_be_addressed_directly(self):
        for source in (OUTSIDE, INSIDE):
            with self.subTest(source=source):
                with self.assertRaises(smtplib.SMTPRecipientsRefused) as caught:
                    self.send("writer+evil@pipe-daemon", "direct", source=source)
                code, text = caught.exception.recipients["writer+evil@pipe-daemon"]
                self.assertEqual(code, 550)
                self.assertIn(b"No such user", text)
        self.assertFalse(os.path.exists(os.path.join(self.out, "evil.args")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
