#!/usr/bin/env python3
"""End-to-end delivery: imtad (dispatcher + job controller) on a temporary
instance, a real DNS server (Debian's nsd on loopback, tests/support/
dns_server.py) whose MX and A records point at 127.0.0.x addresses, and real
SMTP sinks there (tests/support/smtp_sink.py), all on free ports.

Mail enters by SMTP from the internal address 127.0.0.2 (so the relay is
allowed: tcp_intranet) and leaves by the job controller's channel masters.
Each scenario checks what an administrator sees: the sink's transcript and
the bytes it received, Maildir files, queue files and their retry names, and
the mail.log_current entries, compared with the sequences of the seed's
examples 21-4 (NXDOMAIN bounce), 21-5 (5xx bounce), 21-7 (retries ZZ->ZY->ZX,
then delivery) and 21-8 (conversion). Where our setup differs from the
seed's, the difference is named at the comparison (the seed's sender
submits locally, source channel l; ours by SMTP from an internal address,
source channel tcp_intranet).

Run by meson with IMTAD_BIN and IMTA_BIN pointing at the built programs.
"""
import email
import os
import re
import smtplib
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
sys.path.insert(0, os.path.join(HERE, "..", "tcp"))

from dns_server import DnsServer, find_nsd, free_port  # noqa: E402
from instance import DEADLINE, wait_for  # noqa: E402
from mail_log import entries, keys  # noqa: E402
from queue_file import parse_queue_file  # noqa: E402
from sink import Sink  # noqa: E402
from test_smtp_server import Instance  # noqa: E402

INTERNAL = "127.0.0.2"  # INTERNAL_IP of the default configuration: relaying allowed


# ---- the instance -----------------------------------------------------------------

ZONES = {
    # MX preference and fail-over: mx1 (127.0.0.11) has no listener, mx2 takes it.
    "remote.test": """
        @    MX 10 mx1
        @    MX 20 mx2
        mx1  A  127.0.0.11
        mx2  A  127.0.0.12
    """,
    # Implicit MX: no MX record, the domain's own address.
    "plain.test": """
        @    A  127.0.0.13
    """,
    # A zone without the name asked for: NXDOMAIN (seed 21-4's very.bogus.com).
    "bogus.test": "",
    # Null MX (RFC 7505): accepts no mail.
    "nullmx.test": """
        @    MX 0 .
    """,
    # Where 4xx/5xx answers and retries happen.
    "retry.test": """
        @    MX 10 mx
        mx   A  127.0.0.14
    """,
    "reject.test": """
        @    MX 10 mx
        mx   CNAME mail.reject.test.
        mail A 127.0.0.15
    """,
    "tls.test": """
        @    MX 10 mx
        mx   A  127.0.0.16
    """,
}


class DeliveryInstance(Instance):
    """An instance whose tcp_local channel delivers to port `smtp_port` (the
    sinks' port), with DNS from the test's nsd and short retry times."""

    def __init__(self, dns, smtp_port, tcp_keywords="", extra=None):
        self.dns = dns
        self.smtp_port = smtp_port

        def edit(inst):
            inst.replace("imta.cnf", "tcp_local smtp mx single_sys",
                         "tcp_local smtp mx single_sys port %d backoff \"pt2s\" %s" % (smtp_port, tcp_keywords))
            options = inst.read("option.dat")
            inst.write("option.dat", options + "\nDNS_SERVERS=%s\nDNS_TIMEOUT=1\n" % dns.server)
            inst.write("tcp_local_option", "CLIENT_TIMEOUT_CONNECT=2\nCLIENT_IDLE_TIMEOUT=0\n")
            if extra:
                extra(inst)

        super().__init__(edit=edit)
        for user in ("adam", "bert", "root"):  # postmaster is an alias of root
            self.add_user(user + "@example.test")

    def pause_job_controller(self):
        """The SMTP server's tests stop the job controller to look at queued
        files; here it must deliver."""

    def send(self, to, sender="adam@example.test", body="Hello.\r\n", subject="test"):
        """Sends one message by SMTP from the internal address; returns its Message-ID."""
        msgid = "<%s.%d@example.test>" % (subject.replace(" ", "-"), time.time_ns())
        msg = ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n\r\n%s"
               % (sender, ", ".join(to), subject, msgid, body))
        with smtplib.SMTP("127.0.0.1", self.ports["smtp"], source_address=(INTERNAL, 0), timeout=DEADLINE) as s:
            s.sendmail(sender, to, msg)
        return msgid

    def entries_of(self, msgid):
        """Log entries that mention `msgid` (also as the original of a notification)."""
        return [e for e in entries(self) if msgid in e.line]

    def story_of(self, msgid):
        """Entries of a message and of the notifications about it (whose E
        records to process show `<new>,<original>`)."""
        ids = {msgid}
        for e in self.entries_of(msgid):
            m = re.search(r"(<[^>,\s]+>),%s" % re.escape(msgid), e.line)
            if m:
                ids.add(m.group(1))
        return [e for e in entries(self) if any(i in e.line for i in ids)]


@unittest.skipUnless(find_nsd(), "nsd is not installed (apt-get install nsd)")
class DeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer(ZONES)
        cls.dns.__enter__()
        cls.port = free_port()
        cls.inst = DeliveryInstance(cls.dns, cls.port)
        cls.inst.start()

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()
        cls.dns.__exit__(None, None, None)

    def setUp(self):
        self.sinks = []

    def tearDown(self):
        for s in self.sinks:
            s.stop()

    def sink(self, addresses, script=None):
        s = Sink(addresses, port=self.port, script=script)
        self.sinks.append(s)
        return s

    # -- local delivery --------------------------------------------------------------
    def test_local_maildir_delivery(self):
        msgid = self.inst.send(["bert@example.test"], subject="local")
        wait_for("l D", lambda: [e for e in self.inst.entries_of(msgid) if e.key() == ("l", "", "D")])
        seq = self.inst.entries_of(msgid)
        self.assertEqual(keys(seq), [("tcp_intranet", "l", "E"), ("l", "", "D")])
        mail = [m for m in self.inst.maildir("bert") if msgid.encode() in m]
        self.assertEqual(len(mail), 1)
        self.assertTrue(mail[0].startswith(b"Return-Path: <adam@example.test>"), mail[0][:200])
        self.assertIn(b"Delivered-To: bert@example.test", mail[0])
        self.assertIn(b"\nHello.", mail[0].replace(b"\r\n", b"\n"))
        self.assertEqual(self.inst.queue_files(), {}, "nothing may stay queued")

    # -- seed 21-4: NXDOMAIN and null MX bounce, with a postmaster copy ----------------
    def check_bounce_sequence(self, msgid, to, diag):
        """The seed's example 21-4/21-5 order: notice enqueued to process (sender
        and postmaster), R for the original, process -> l, l D for both."""
        wait_for("the notices' l D", lambda: len([e for e in self.inst.story_of(msgid)
                                                   if e.key() == ("l", "", "D")]) >= 2)
        seq = self.inst.story_of(msgid)
        # Seed: "l tcp_local E" (local submission); ours arrives by SMTP: tcp_intranet.
        story = "\n".join(e.line for e in seq)
        self.assertEqual(keys(seq)[:4], [
            ("tcp_intranet", "tcp_local", "E"),
            ("tcp_local", "process", "E"),
            ("tcp_local", "process", "E"),
            ("tcp_local", "", "R"),
        ], story)
        # Then process -> l E and l D for each notice. The process channel
        # handles the two notice files one after the other, so the first
        # notice's l D may come before the second's E (the seed's run shows
        # both E first); each D must follow an E.
        rest = keys(seq)[4:]
        self.assertEqual(sorted(rest), sorted([("process", "l", "E")] * 2 + [("l", "", "D")] * 2), story)
        for i in range(len(rest)):
            self.assertLessEqual(rest[:i + 1].count(("l", "", "D")), rest[:i + 1].count(("process", "l", "E")), story)
        notice_to = sorted(e.orig for e in seq if e.key() == ("tcp_local", "process", "E"))
        self.assertEqual(notice_to, ["adam@example.test", "postmaster@example.test"])
        r = [e for e in seq if e.letter == "R"][0]
        self.assertEqual(r.orig, to)
        self.assertIn(diag, r.text)
        # The notices carry <new>,<original> Message-IDs on their way to process.
        for e in seq[1:3]:
            self.assertRegex(e.text, r"<[^>]+>," + re.escape(msgid))
        # The DSN in the sender's Maildir: multipart/report naming the recipient.
        dsn = wait_for("the DSN in adam's Maildir",
                       lambda: [m for m in self.inst.maildir("adam") if msgid.encode() in m])
        report = email.message_from_bytes(dsn[0])
        self.assertEqual(report.get_content_type(), "multipart/report")
        self.assertEqual(report.get_param("report-type"), "delivery-status")
        self.assertIn(b"Final-Recipient: rfc822;" + to.encode(), dsn[0].replace(b"rfc822; ", b"rfc822;"))
        self.assertIn(b"Action: failed", dsn[0])
        self.assertTrue(dsn[0].startswith(b"Return-Path: <>"), dsn[0][:100])
        self.assertTrue([m for m in self.inst.maildir("root") if msgid.encode() in m],
                        "postmaster (an alias of root) gets a copy")

    def test_nxdomain_bounces_with_postmaster_copy(self):
        to = "user@very.bogus.test"
        msgid = self.inst.send([to], subject="nxdomain")
        self.check_bounce_sequence(msgid, to, "Illegal host/domain name found")

    def test_null_mx_bounces(self):
        to = "user@nullmx.test"
        msgid = self.inst.send([to], subject="nullmx")
        self.check_bounce_sequence(msgid, to, "Illegal host/domain name found")

    # -- seed 21-5: the remote server answers 5xx --------------------------------------
    def test_5xx_bounces_to_sender_maildir(self):
        sink = self.sink(["127.0.0.15"], {"rcpt_replies": {
            "nonesuch@reject.test": "553 5.1.1 unknown or illegal user: nonesuch@reject.test"}})
        to = "nonesuch@reject.test"
        msgid = self.inst.send([to], subject="reject")
        self.check_bounce_sequence(msgid, to, "smtp;553 5.1.1 unknown or illegal user")
        r = [e for e in self.inst.story_of(msgid) if e.letter == "R"][0]
        # Seed 21-5: dns;host (TCP|local|port|remote|25) (banner) smtp;553 ...
        # The MX host as asked for (mx), not its CNAME target.
        self.assertRegex(r.text, r"dns;mx\.reject\.test \(TCP\|127\.0\.0\.1\|\d+\|127\.0\.0\.15\|%d\)" % self.port)
        self.assertIn("RCPT TO:<nonesuch@reject.test>", sink.transcript())

    # -- MX preference and fail-over, implicit MX ---------------------------------------
    def test_mx_failover_to_second_mx(self):
        sink = self.sink(["127.0.0.12"])  # mx1 (127.0.0.11) has no listener
        msgid = self.inst.send(["someone@remote.test"], subject="failover")
        d = wait_for("tcp_local D", lambda: [e for e in self.inst.entries_of(msgid) if e.key() == ("tcp_local", "", "D")])
        self.assertIn("dns;mx2.remote.test", d[0].text)
        self.assertIn("smtp;250", d[0].text)
        got = [m for m in sink.messages() if msgid in m.get("data", "")]
        self.assertEqual(len(got), 1)
        self.assertEqual(keys(self.inst.entries_of(msgid)), [("tcp_intranet", "tcp_local", "E"), ("tcp_local", "", "D")])

    def test_implicit_mx(self):
        sink = self.sink(["127.0.0.13"])
        msgid = self.inst.send(["someone@plain.test"], subject="implicit")
        wait_for("tcp_local D", lambda: [e for e in self.inst.entries_of(msgid) if e.key() == ("tcp_local", "", "D")])
        self.assertEqual(len([m for m in sink.messages() if msgid in m.get("data", "")]), 1)

    # -- seed 21-7: retries ZZ -> ZY -> ZX, then delivery; and partial success (Z) -------
    def test_retries_rename_then_deliver(self):
        # First attempt: nobody listens (connect refused, as in the seed); second:
        # the server answers 451; third: delivered.
        to = "user@retry.test"
        msgid = self.inst.send([to], subject="retry")
        first = wait_for("the first Q", lambda: [e for e in self.inst.entries_of(msgid) if e.letter == "Q"])
        self.assertTrue(first[0].file.startswith("ZZ"), first[0].line)
        self.assertIn("Failed connect()", first[0].text)
        self.assertIn("connection refused", first[0].text.lower())
        files = self.inst.queue_files(first[0].file[2:20])
        self.assertEqual([os.path.basename(p)[:2] for p in files.get("tcp_local", [])], ["ZY"])
        sink = self.sink(["127.0.0.14"], {"rcpt_reply": "451 4.2.1 mailbox busy, try later"})
        second = wait_for("the second Q", lambda: [e for e in self.inst.entries_of(msgid) if e.letter == "Q"][1:])
        self.assertTrue(second[0].file.startswith("ZY"), second[0].line)
        self.assertIn("smtp;451 4.2.1", second[0].text)
        sink.stop()
        self.sinks.remove(sink)
        sink = self.sink(["127.0.0.14"])
        d = wait_for("the D", lambda: [e for e in self.inst.entries_of(msgid) if e.letter == "D"])
        self.assertTrue(d[0].file.startswith("ZX"), d[0].line)
        self.assertEqual(keys(self.inst.entries_of(msgid)), [
            ("tcp_intranet", "tcp_local", "E"), ("tcp_local", "", "Q"), ("tcp_local", "", "Q"),
            ("tcp_local", "", "D")])
        self.assertEqual(self.inst.queue_files(first[0].file[2:20]), {})

    def test_partial_success(self):
        sink = self.sink(["127.0.0.14"], {"rcpt_replies": {
            "later@retry.test": "451 4.2.1 try later",
            "never@retry.test": "550 5.1.1 no such user"}})
        msgid = self.inst.send(["ok@retry.test", "later@retry.test", "never@retry.test"], subject="partial")
        wait_for("D, Z and R", lambda: {"D", "Z", "R"} <= {e.letter for e in self.inst.entries_of(msgid)})
        seq = self.inst.entries_of(msgid)
        by = {(e.letter, e.orig) for e in seq if e.source == "tcp_local" and e.dest == ""}
        self.assertIn(("D", "ok@retry.test"), by)
        self.assertIn(("Z", "later@retry.test"), by)
        self.assertIn(("R", "never@retry.test"), by)
        delivered = [m for m in sink.messages() if msgid in m.get("data", "")]
        self.assertEqual(len(delivered), 1)
        # The rest waits in a new file for later@ only.
        queued = [p for p in self.inst.queue_files().get("tcp_local", [])]
        mine = [p for p in queued if parse_queue_file(p)[2].find(msgid.encode()) >= 0]
        self.assertEqual(len(mine), 1)
        self.assertEqual([r["active"] for r in parse_queue_file(mine[0])[1]], ["later@retry.test"])
        sink.stop()
        self.sinks.remove(sink)
        self.sink(["127.0.0.14"])
        wait_for("later@ delivered", lambda: [e for e in self.inst.entries_of(msgid)
                                              if e.letter == "D" and e.orig == "later@retry.test"])

    # -- STARTTLS -----------------------------------------------------------------------
    def test_starttls_to_tls_sink(self):
        cert = self.inst.path("config", "tls", "server.pem")
        key = self.inst.path("config", "tls", "server.key")
        sink = self.sink(["127.0.0.16"], {"tls_cert": cert, "tls_key": key})
        msgid = self.inst.send(["someone@tls.test"], subject="tls")
        d = wait_for("tcp_local D", lambda: [e for e in self.inst.entries_of(msgid) if e.key() == ("tcp_local", "", "D")])
        self.assertIn("S", d[0].code[1:], "the D record shows TLS: " + d[0].line)
        self.assertIn("tls", sink.transcript())
        got = [m for m in sink.messages() if msgid in m.get("data", "")]
        self.assertTrue(got[0].get("tls"), "the sink saw TLS")


@unittest.skipUnless(find_nsd(), "nsd is not installed (apt-get install nsd)")
class SmartHostTest(unittest.TestCase):
    """`daemon` + `port`: everything to one host on a non-standard port; and
    `musttlsclient` against a server without STARTTLS."""

    def test_smart_host_and_musttls(self):
        with DnsServer(ZONES) as dns:
            smart = Sink(["127.0.0.21"])
            inst = DeliveryInstance(dns, smart.port, tcp_keywords="daemon [127.0.0.21]")
            try:
                inst.start()
                msgid = inst.send(["anyone@remote.test"], subject="smarthost")
                wait_for("tcp_local D", lambda: [e for e in inst.entries_of(msgid) if e.key() == ("tcp_local", "", "D")])
                got = [m for m in smart.messages() if msgid in m.get("data", "")]
                self.assertEqual(len(got), 1)
                self.assertEqual(got[0]["listener"], "127.0.0.21")
            finally:
                inst.destroy()
                smart.stop()
            plain = Sink(["127.0.0.22"])
            inst = DeliveryInstance(dns, plain.port, tcp_keywords="daemon [127.0.0.22] musttlsclient")
            try:
                inst.start()
                msgid = inst.send(["anyone@remote.test"], subject="musttls")
                q = wait_for("tcp_local Q", lambda: [e for e in inst.entries_of(msgid) if e.letter == "Q"])
                self.assertIn("TLS", q[0].text)
                self.assertEqual([m for m in plain.messages() if msgid in m.get("data", "")], [])
            finally:
                inst.destroy()
                plain.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
