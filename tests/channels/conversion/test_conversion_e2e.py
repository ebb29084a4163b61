#!/usr/bin/env python3
"""The conversion channel end to end: imtad (dispatcher + job controller) on a
temporary instance whose CONVERSIONS mapping sends tcp_local -> l through the
conversion channel, and whose conversions file runs a shell script that adds
a header. A message sent by SMTP from an outside address must land in the
local Maildir with that header, and mail.log_current must show the sequence
of the seed's example 21-8:

    tcp_local  conversion E     (1) enqueued to conversion instead of l
    conversion l          E     (2) the converted message enqueued to l
    conversion            D     (3) the conversion channel's copy dequeued
    l                     D     (4) delivered

A reject (exit 65) bounces to the sender with the script's stderr in the R
record. No DNS is used: DNS_SERVERS points at a loopback port where nothing
answers, so the machine's resolver is never asked.

Run by meson with IMTAD_BIN and IMTA_BIN pointing at the built programs.
"""
import os
import shutil
import smtplib
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
sys.path.insert(0, os.path.join(HERE, "..", "tcp"))

from instance import free_port, wait_for  # noqa: E402
from mail_log import entries, keys  # noqa: E402
from test_smtp_server import Instance  # noqa: E402


OUTSIDE = "127.0.0.1"  # tcp_local: INTERNAL_IP is narrowed to 127.0.0.2 below

FILTER = r"""#!/bin/sh
case "$IMTA_RECIPIENTS" in
  reject*) cat >/dev/null; echo "550 content refused by policy" >&2; exit 65;;
esac
printf 'X-Converted: by-filter (%s -> %s)\n' "$IMTA_IN_CHANNEL" "$IMTA_OUT_CHANNEL"
cat
"""


class ConversionEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tools = tempfile.mkdtemp(prefix="imta-conv-tools-")
        os.chmod(cls.tools, 0o755)  # under root the filter runs as nobody
        cls.filter = os.path.join(cls.tools, "filter.sh")
        with open(cls.filter, "w") as f:
            f.write(FILTER)
        os.chmod(cls.filter, 0o755)
        dead_dns = free_port()

        def edit(inst):
            inst.replace("mappings", "  $(127.0.0.0/8)            $Y\n", "  127.0.0.2                 $Y\n")
            inst.write("mappings", inst.read("mappings") +
                       "\nCONVERSIONS\n  IN-CHAN=tcp_local;OUT-CHAN=l;CONVERT   Yes\n  *   No\n")
            inst.write("conversions", "in-chan=tcp_local; out-chan=l; command=%s; timeout=20\n" % cls.filter)
            inst.write("option.dat", inst.read("option.dat") +
                       "\nDNS_SERVERS=127.0.0.1:%d\nDNS_TIMEOUT=1\nDNS_ATTEMPTS=1\n" % dead_dns)

        cls.inst = Instance(edit=edit)
        for user in ("amy@example.test", "bert@example.test", "reject@example.test", "postmaster@example.test"):
            cls.inst.add_user(user)
        cls.inst.start()
        cls.inst.resume_job_controller()  # the SMTP tests' Instance pauses it; here it delivers

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()
        shutil.rmtree(cls.tools, ignore_errors=True)

    def send(self, to, subject, sender="amy@example.test"):
        msgid = "<%s.%d@example.test>" % (subject, time.time_ns())
        msg = ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n\r\nHello.\r\n"
               % (sender, to, subject, msgid))
        with smtplib.SMTP("127.0.0.1", self.inst.ports["smtp"], source_address=(OUTSIDE, 0), timeout=30) as s:
            s.sendmail(sender, [to], msg)
        return msgid

    def entries_of(self, msgid):
        return [e for e in entries(self.inst) if msgid in e.line]

    def test_seed_21_8_a_filter_adds_a_header(self):
        msgid = self.send("bert@example.test", "convert")
        wait_for("l D", lambda: [e for e in self.entries_of(msgid) if e.key() == ("l", "", "D")])
        wait_for("conversion D", lambda: [e for e in self.entries_of(msgid) if e.key() == ("conversion", "", "D")])
        # The dispatcher and the job controller each buffer their records,
        # so the file may hold them out of order: the seed's order is the
        # order of their times.
        seq = sorted(self.entries_of(msgid), key=lambda e: e.when)
        got = keys(seq)
        self.assertEqual(sorted(got), sorted([("tcp_local", "conversion", "E"), ("conversion", "l", "E"),
                                              ("conversion", "", "D"), ("l", "", "D")]),
                         "\n".join(e.line for e in seq))
        by = {e.key(): e for e in seq}
        # (1) <= (2) <= (3), and (2) <= (4): (3) and (4) are written by two
        # jobs that may finish in either order.
        self.assertLessEqual(by[("tcp_local", "conversion", "E")].when, by[("conversion", "l", "E")].when)
        self.assertLessEqual(by[("conversion", "l", "E")].when, by[("conversion", "", "D")].when)
        self.assertLessEqual(by[("conversion", "l", "E")].when, by[("l", "", "D")].when)
        # (1) and (3) name the same conversion file, (2) and (4) the same l file.
        self.assertEqual(by[("tcp_local", "conversion", "E")].file, by[("conversion", "", "D")].file)
        self.assertEqual(by[("conversion", "l", "E")].file, by[("l", "", "D")].file)
        self.assertNotEqual(by[("conversion", "", "D")].file, by[("l", "", "D")].file)
        for e in seq:
            self.assertEqual(e.orig, "bert@example.test", e.line)
        mail = [m for m in self.inst.maildir("bert") if msgid.encode() in m]
        self.assertEqual(len(mail), 1)
        text = mail[0].replace(b"\r\n", b"\n")  # the Maildir's line ends are the l channel's business
        self.assertIn(b"\nX-Converted: by-filter (tcp_local -> l)\nReceived: ", text)
        self.assertTrue(text.endswith(b"\n\nHello.\n"), text[-60:])
        wait_for("an empty queue", lambda: self.inst.queue_files() == {})

    def test_a_reject_bounces_to_the_sender(self):
        msgid = self.send("reject@example.test", "reject")
        r = wait_for("conversion R", lambda: [e for e in self.entries_of(msgid) if e.key() == ("conversion", "", "R")])
        self.assertIn("exited with status 65: 550 content refused by policy", r[0].text)
        enqueued = [e for e in self.entries_of(msgid) if e.key() == ("tcp_local", "conversion", "E")]
        self.assertEqual(len(enqueued), 1)
        self.assertLessEqual(enqueued[0].when, r[0].when)
        self.assertFalse([e for e in self.entries_of(msgid) if e.key() == ("conversion", "l", "E")])
        dsn = wait_for("the DSN in amy's Maildir", lambda: [m for m in self.inst.maildir("amy") if msgid.encode() in m])
        self.assertIn(b"Status: 5.6.0", dsn[0])
        self.assertFalse([m for m in self.inst.maildir("reject") if msgid.encode() in m])


if __name__ == "__main__":
    unittest.main(verbosity=2)
