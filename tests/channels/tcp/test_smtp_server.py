#!/usr/bin/env python3
"""End-to-end tests of imtad's SMTP server (the tcp_* channels).

Each test class makes a temporary instance with `imta init`, moves its
services to free loopback ports chosen now, shortens timeouts where a test
needs it, compiles it with `imta cnbuild`, adds users with `imta user add`,
starts `imtad --foreground` in its own process group and waits for
run/dispatcher.status. Clients: raw sockets (what people type in telnet,
and what attackers send), Python's smtplib, and swaks when installed.
The checks are what a mail administrator sees: replies, the files in each
channel's queue (envelope, Received: header, message bytes) and the lines of
log/mail.log_current. Teardown kills the whole process group.

Run by meson with IMTAD_BIN and IMTA_BIN pointing at the built programs.
"""
import os
import re
import resource
import select
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))

import instance  # noqa: E402
from instance import IMTA, free_port  # noqa: E402,F401  (IMTA, free_port: for the tests that import them from here)
from queue_file import parse_queue_file  # noqa: E402

SWAKS = shutil.which("swaks")
DEADLINE = 20  # seconds any single wait may take before the test fails

EXTERNAL = "127.0.0.1"  # outside clients in the main instance (INTERNAL_IP = 127.0.0.2 only)
INTERNAL = "127.0.0.2"


class Instance(instance.Instance):
    """A temporary imta instance (tests/support/instance.py) with the test
    services on free ports; imtad's job controller paused once it is up."""

    READY = ("dispatcher.status",)

    def __init__(self, edit=None, services=""):
        super().__init__(prefix="imta-smtp-e2e-")
        self.ports = {}
        try:
            if edit:
                edit(self)
            self.write_dispatcher_cnf(services)
            self.imta("cnbuild")
        except BaseException:
            self.destroy()
            raise

    # -- configuration ------------------------------------------------------------
    def write_dispatcher_cnf(self, services=""):
        """The test services on free ports; `services` adds more, with
        %(name)d placeholders for ports of their own (named "extra*")."""
        for name in ("smtp", "submit", "smtps", "short", "extra", "extra2"):
            self.ports[name] = free_port()
        self.write("dispatcher.cnf", """WORKER_THREADS=2
MAX_CONNS=5000
INTERFACE_ADDRESS=127.0.0.1
[SERVICE=SMTP]
PORT=%(smtp)d
PARAMETER=CHANNEL=tcp_local
[SERVICE=SMTP_SUBMIT]
PORT=%(submit)d
PARAMETER=CHANNEL=tcp_submit
[SERVICE=SMTPS_SUBMIT]
PORT=%(smtps)d
TLS_PORT=%(smtps)d
PARAMETER=CHANNEL=tcp_submit
[SERVICE=SMTP_SHORT]
PORT=%(short)d
PARAMETER=CHANNEL=tcp_local
COMMAND_TIMEOUT=2
DATA_TIMEOUT=2
""" % self.ports + services % self.ports)

    # -- the daemon ---------------------------------------------------------------
    def start(self):
        super().start()
        self.pause_job_controller()

    def job_controller_pid(self):
        try:
            with open(self.path("run", "job_controller.pid")) as f:
                return int(f.read().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def pause_job_controller(self):
        """These tests look at the queue as the SMTP server left it: imtad's
        job controller (when it has one) is stopped with SIGSTOP once it is
        up, so it delivers nothing meanwhile (the watcher does not restart a
        stopped child). SIGKILL of the process group ends it as usual."""
        until = time.time() + 5
        while time.time() < until:
            pid = self.job_controller_pid()
            if pid and os.path.exists(self.path("run", "job_controller.ctl")):
                os.kill(pid, signal.SIGSTOP)
                return
            time.sleep(0.05)

    def resume_job_controller(self):
        pid = self.job_controller_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    # -- what it did --------------------------------------------------------------
    def count_files(self):
        return sum(len(v) for v in self.queue_files().values())

    def files_from(self, sender):
        """Queue files whose envelope From is `sender` (robust against a job
        controller delivering other files meanwhile)."""
        out = []
        for paths in self.queue_files().values():
            for p in paths:
                try:
                    env, _, _ = parse_queue_file(p)
                except (FileNotFoundError, AssertionError, ValueError):
                    continue  # delivered (or being rewritten) meanwhile
                if env.get("from") == sender:
                    out.append(p)
        return out

    def wait_log(self, pattern, count=1):
        """The log lines matching `pattern` once there are at least `count` (the
        writer flushes every 100 ms)."""
        rx = re.compile(pattern)
        until = time.time() + DEADLINE
        while True:
            hits = [l for l in self.log_lines() if rx.search(l)]
            if len(hits) >= count or time.time() > until:
                return hits
            time.sleep(0.05)


class Client:
    """SMTP over a raw socket, the way telnet and attackers talk."""

    opened = []  # closed by the tests' tearDown

    def __init__(self, port, source=EXTERNAL, tls=False):
        Client.opened.append(self)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE, source_address=(source, 0))
        if tls:
            self.sock = self.tls_context().wrap_socket(self.sock, server_hostname="mail.example.test")
        self.buf = b""

    @staticmethod
    def tls_context():
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode()

    def reply(self):
        """One reply: (code, [lines of text])."""
        lines = []
        while True:
            l = self.line()
            lines.append(l[4:])
            if len(l) < 4 or l[3] == " ":
                return int(l[:3]), lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def closed(self):
        """True when the server has closed the connection (reads EOF)."""
        try:
            self.sock.settimeout(DEADLINE)
            return self.sock.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def starttls(self):
        code, _ = self.cmd("STARTTLS")
        assert code == 220, code
        self.sock = self.tls_context().wrap_socket(self.sock, server_hostname="mail.example.test")

    def close(self):
        self.sock.close()


def close_clients():
    for c in Client.opened:
        c.sock.close()
    Client.opened.clear()


def queued_id(text):
    m = re.search(r"queued as (\S+)", text)
    assert m, text
    return m.group(1)


class SmtpServerTest(unittest.TestCase):
    """One instance for most tests: 127.0.0.1 is outside, 127.0.0.2 inside."""

    @classmethod
    def setUpClass(cls):
        resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)

        def edit(inst):
            inst.replace("mappings", "  $(127.0.0.0/8)            $Y\n", "  127.0.0.2                 $Y\n")
            inst.replace("option.dat", "LOG_CONNECTION=3", "LOG_CONNECTION=131")
            inst.replace("option.dat", "LOG_NOTARY=0", "LOG_NOTARY=1")
            inst.replace("imta.cnf", "tcp_local smtp mx single_sys switchchannel",
                         "tcp_local smtp mx single_sys switchchannel sourceblocklimit 64")
            inst.replace("imta.cnf", "tcp_intranet smtp mx single_sys allowswitchchannel",
                         "tcp_intranet smtp mx single_sys allowswitchchannel chunkingserver")
            inst.write("tcp_intranet_option", "ALLOW_RECIPIENTS_PER_TRANSACTION=5\n")
            with open(inst.path("config", "aliases"), "a") as f:
                f.write("staff: alice, bob, carol@partner.example\n")

        cls.inst = Instance(edit)
        cls.inst.add_user("alice", "alice-secret")
        cls.inst.add_user("bob")
        cls.inst.add_user("root")
        cls.inst.start()
        cls.port = cls.inst.ports["smtp"]

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()

    def tearDown(self):
        close_clients()

    def send_message(self, source, mail_from, rcpts, body, ehlo=True):
        c = Client(self.port, source)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd(("EHLO" if ehlo else "HELO") + " client.example")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % mail_from)[0], 250)
        for r in rcpts:
            self.assertEqual(c.cmd("RCPT TO:<%s>" % r)[0], 250, r)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(body)
        code, text = c.reply()
        self.assertEqual(code, 250, text)
        c.cmd("QUIT")
        c.close()
        return queued_id(text[0])

    # -- greeting, EHLO, simple verbs -------------------------------------------------
    def test_greeting_and_ehlo_extensions(self):
        c = Client(self.port)
        code, text = c.reply()
        self.assertEqual((code, text), (220, ["mail.example.test ESMTP imta"]))
        code, lines = c.cmd("EHLO client.example")
        self.assertEqual(code, 250)
        self.assertEqual(lines[0], "mail.example.test Hello [127.0.0.1]")
        for ext in ("PIPELINING", "SIZE 65536", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8", "STARTTLS"):
            self.assertIn(ext, lines)
        self.assertFalse([l for l in lines if l.startswith("AUTH")], "AUTH offered without TLS")
        c.starttls()
        code, lines = c.cmd("EHLO client.example")
        self.assertIn("AUTH PLAIN LOGIN", lines)
        self.assertNotIn("STARTTLS", lines)
        c.close()

    def test_simple_verbs(self):
        c = Client(self.port)
        c.reply()
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(c.cmd("HELP")[0], 214)
        self.assertEqual(c.cmd("VRFY alice")[0], 252)
        self.assertEqual(c.cmd("EXPN staff"), (502, ["5.5.1 EXPN not available"]))
        self.assertEqual(c.cmd("RSET"), (250, ["2.0.0 OK"]))
        self.assertEqual(c.cmd("MAIL FROM:<a@x.example>"), (503, ["5.5.1 Send HELO or EHLO first"]))
        self.assertEqual(c.cmd("XYZZY"), (500, ["5.5.2 Command unrecognized"]))
        self.assertEqual(c.cmd("MAIL TO:<a@x.example>")[0], 501)
        self.assertEqual(c.cmd("QUIT"), (221, ["2.0.0 mail.example.test closing connection"]))
        self.assertTrue(c.closed())
        # Bad commands are logged as B records.
        self.assertTrue(self.inst.wait_log(r"tcp_local +B 0  rfc822; XYZZY .*500 5\.5\.2 Command unrecognized"))

    def test_telnet_walkthrough_as_people_type_it(self):
        # The seed's manual session: HELO, "MAIL FROM: <...>" with a space,
        # lower case, headers, a blank line, the body, a dot.
        c = Client(self.port, INTERNAL)
        c.reply()
        self.assertEqual(c.cmd("helo my.pc")[0], 250)
        self.assertEqual(c.cmd("mail from: <someone@elsewhere.example>")[0], 250)
        self.assertEqual(c.cmd("rcpt to: <alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("data")[0], 354)
        c.send("FROM: <someone@elsewhere.example>\r\nTO: <alice@example.test>\r\nSUBJECT: test\r\n\r\n"
               "this is a test.\r\n.\r\n")
        code, text = c.reply()
        self.assertEqual(code, 250)
        qid = queued_id(text[0])
        c.cmd("quit")
        files = self.inst.queue_files(qid)
        self.assertEqual(list(files), ["l"])
        env, rcpts, msg = parse_queue_file(files["l"][0])
        self.assertEqual(env["from"], "someone@elsewhere.example")
        self.assertEqual(env["source"], "tcp_intranet")
        self.assertEqual(env["client-ip"], INTERNAL)
        self.assertEqual(env["client-helo"], "my.pc")
        self.assertEqual([r["active"] for r in rcpts], ["alice@example.test"])
        self.assertTrue(msg.startswith(b"Received: from my.pc ([127.0.0.2])\r\n\tby mail.example.test (imta) "
                                       b"with SMTP id " + qid.encode() + b"\r\n\tfor <alice@example.test>;\r\n\t"))
        self.assertTrue(msg.endswith(b"SUBJECT: test\r\n\r\nthis is a test.\r\n"))
        hits = self.inst.wait_log(r"tcp_intranet l +E \d+ someone@elsewhere\.example rfc822;alice@example\.test "
                                  r"alice@example\.test .*%s" % qid)
        self.assertEqual(len(hits), 1)
        self.assertIn("my.pc (127.0.0.2 [127.0.0.2])", hits[0])

    # -- relaying -------------------------------------------------------------------
    def test_relay_refused_from_outside(self):
        c = Client(self.port, EXTERNAL)
        c.reply()
        c.cmd("EHLO outside.example")
        self.assertEqual(c.cmd("MAIL FROM:<outsider@x.example>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<b@y.org>"), (550, ["5.7.1 Relaying not permitted: b@y.org"]))
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)  # local mail is fine
        self.assertEqual(c.cmd("RCPT TO:<nobody@example.test>"), (550, ["5.1.1 nobody@example.test: no such user"]))
        c.cmd("QUIT")
        hits = self.inst.wait_log(r"tcp_local +J 0 outsider@x\.example rfc822; b@y\.org .*550 5\.7\.1 Relaying not "
                                  r"permitted: b@y\.org")
        self.assertEqual(len(hits), 1)
        last = self.inst.wait_log(r"J 0 outsider@x\.example .*nobody@example\.test.*\(last J of session\)")
        self.assertEqual(len(last), 1)

    def test_relay_allowed_from_inside(self):
        qid = self.send_message(INTERNAL, "a@x.example", ["b@y.org"], "Subject: out\r\n\r\nhi\r\n.\r\n")
        files = self.inst.queue_files(qid)
        self.assertEqual(list(files), ["tcp_local"])
        env, rcpts, _ = parse_queue_file(files["tcp_local"][0])
        self.assertEqual(env["source"], "tcp_intranet")
        self.assertEqual(rcpts[0]["active"], "b@y.org")

    def test_relay_allowed_after_auth(self):
        with smtplib.SMTP("127.0.0.1", self.port, source_address=(EXTERNAL, 0), timeout=DEADLINE) as s:
            s.ehlo("laptop.example")
            s.starttls(context=Client.tls_context())
            s.ehlo("laptop.example")
            s.login("alice", "alice-secret")
            refused = s.sendmail("alice@example.test", ["b@y.org"], b"Subject: relayed\r\n\r\nbody\r\n")
            self.assertEqual(refused, {})
        hits = self.inst.wait_log(r"tcp_auth +tcp_local +ESA \d+ alice@example\.test rfc822;b@y\.org")
        self.assertEqual(len(hits), 1)
        m = re.search(r" \S*/(ZZ\S+)\.00 ", hits[0])
        files = self.inst.queue_files(m.group(1))
        env, _, msg = parse_queue_file(files["tcp_local"][0])
        self.assertEqual(env["auth"], "alice")
        self.assertTrue(env["tls"].startswith("TLSv1."))
        self.assertIn(b"with ESMTPSA id ", msg.split(b"\r\n\r\n")[0])
        # LOG_CONNECTION=131: the AUTH result is a U record.
        self.assertTrue(self.inst.wait_log(r" U TCP\|127\.0\.0\.1\|\d+\|127\.0\.0\.1\|\d+ SMTP alice 235 2\.7\.0"))

    def test_submission_channel_adds_date_and_message_id(self):
        """tcp_submit has `submit`: a message without Date: and Message-ID:
        gets both (RFC 6409 section 8.3); one that has them is left alone;
        tcp_local (no `submit`) adds nothing."""
        def send(port, message, login=True):
            with smtplib.SMTP("127.0.0.1", port, timeout=DEADLINE) as s:
                s.ehlo("laptop.example")
                s.starttls(context=Client.tls_context())
                s.ehlo("laptop.example")
                if login:
                    s.login("alice", "alice-secret")
                code, text = s.docmd("MAIL FROM:<alice@example.test>")
                self.assertEqual(code, 250, text)
                code, text = s.docmd("RCPT TO:<bob@example.test>")
                self.assertEqual(code, 250, text)
                code, text = s.data(message)
                self.assertEqual(code, 250, text)
                qid = queued_id(text.decode())
            (path,) = self.inst.queue_files(qid)["l"]
            return qid, parse_queue_file(path)[2].split(b"\r\n\r\n")[0].decode()

        qid, header = send(self.inst.ports["submit"], b"Subject: bare\r\n\r\nbody\r\n")
        fields = header.split("\r\n")
        self.assertTrue(fields[0].startswith("Received: "), header)
        after = 1  # the first line after the (folded) Received: field
        while fields[after][:1] in (" ", "\t"):
            after += 1
        self.assertRegex(fields[after], r"^Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$")
        m = re.match(r"^Message-ID: (<[0-9A-Za-z]+@mail\.example\.test>)$", fields[after + 1])
        self.assertTrue(m, header)
        self.assertTrue(self.inst.wait_log(r"tcp_submit +l +E.*" + re.escape(m.group(1))),
                        [l for l in self.inst.log_lines() if "tcp_submit" in l])

        _, kept = send(self.inst.ports["submit"],
                       b"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <own@laptop.example>\r\n"
                       b"Subject: complete\r\n\r\nbody\r\n")
        self.assertEqual(kept.count("Date:"), 1)
        self.assertEqual(re.findall(r"Message-ID: (\S+)", kept), ["<own@laptop.example>"])

        _, plain = send(self.port, b"Subject: bare to tcp_local\r\n\r\nbody\r\n", login=False)
        self.assertNotIn("\r\nDate:", plain)
        self.assertNotIn("Message-ID:", plain)

    def test_failed_auth_disconnects_after_the_limit(self):
        c = Client(self.port, EXTERNAL)
        c.reply()
        c.cmd("EHLO x")
        c.starttls()
        c.cmd("EHLO x")
        import base64
        bad = base64.b64encode(b"\0alice\0wrong").decode()
        self.assertEqual(c.cmd("AUTH PLAIN " + bad), (535, ["5.7.8 Authentication credentials invalid"]))
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(c.cmd(base64.b64encode(b"alice").decode())[0], 334)
        self.assertEqual(c.cmd(base64.b64encode(b"nope").decode())[0], 535)
        self.assertEqual(c.cmd("AUTH PLAIN " + bad)[0], 535)
        self.assertEqual(c.reply()[0], 421)
        self.assertTrue(c.closed())
        self.assertTrue(self.inst.wait_log(r" C TCP\|.* disconnect bad authentication limit reached"))

    def test_submission_port_requires_tls_then_auth(self):
        c = Client(self.inst.ports["submit"], INTERNAL)
        c.reply()
        c.cmd("EHLO x")
        self.assertEqual(c.cmd("AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA=="),
                         (538, ["5.7.11 Encryption required for requested authentication mechanism"]))
        c.starttls()
        c.cmd("EHLO x")
        self.assertEqual(c.cmd("MAIL FROM:<alice@example.test>"), (530, ["5.7.0 Authentication required"]))
        self.assertEqual(c.cmd("AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==")[0], 235)
        self.assertEqual(c.cmd("MAIL FROM:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<friend@far.example>")[0], 250)
        c.close()

    def test_implicit_tls_port(self):
        c = Client(self.inst.ports["smtps"], INTERNAL, tls=True)
        self.assertEqual(c.reply()[0], 220)
        code, lines = c.cmd("EHLO x")
        self.assertIn("AUTH PLAIN LOGIN", lines)
        self.assertNotIn("STARTTLS", lines)
        self.assertEqual(c.cmd("AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==")[0], 235)
        c.cmd("QUIT")

    # -- protocol attacks ------------------------------------------------------------
    def test_commands_pipelined_after_starttls_are_discarded(self):
        c = Client(self.port, EXTERNAL)
        c.reply()
        c.cmd("EHLO x")
        c.send("STARTTLS\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<alice@example.test>\r\n")
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.buf, b"", "replies came for the injected commands")
        c.sock = Client.tls_context().wrap_socket(c.sock, server_hostname="x")
        self.assertEqual(c.cmd("EHLO x")[0], 250)
        # Had MAIL run, RCPT would be accepted; it was thrown away.
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>"), (503, ["5.5.1 Need MAIL command first"]))
        c.close()

    def test_smuggling_attempts_get_554_and_nothing_is_queued(self):
        endings = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r"]
        for ending in endings:
            with self.subTest(ending=ending):
                before = self.inst.count_files()
                c = Client(self.port, INTERNAL)
                c.reply()
                c.cmd("EHLO x")
                c.cmd("MAIL FROM:<a@x.example>")
                c.cmd("RCPT TO:<alice@example.test>")
                self.assertEqual(c.cmd("DATA")[0], 354)
                c.send(b"Subject: first\r\n\r\nbody" + ending +
                       b"MAIL FROM:<forged@bank.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
                       b"Subject: smuggled\r\n\r\nhidden\r\n.\r\n")
                code, text = c.reply()
                self.assertEqual(code, 554, text)
                self.assertTrue(c.closed())
                self.assertEqual(self.inst.count_files(), before)

    def test_dot_unstuffing_is_exact(self):
        body = "Subject: dots\r\n\r\n..leading dot\r\n...two dots\r\n.\r\n"
        qid = self.send_message(INTERNAL, "a@x.example", ["alice@example.test"], body + "")
        _, _, msg = parse_queue_file(self.inst.queue_files(qid)["l"][0])
        self.assertTrue(msg.endswith(b"\r\n\r\n.leading dot\r\n..two dots\r\n"), msg)

    # -- extensions -------------------------------------------------------------------
    def test_pipelined_transaction(self):
        c = Client(self.port, INTERNAL)
        c.reply()
        c.cmd("EHLO x")
        c.send("MAIL FROM:<a@x.example>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\n"
               "RCPT TO:<bob@example.test>\r\nDATA\r\n")
        self.assertEqual([c.reply()[0] for _ in range(5)], [250, 250, 550, 250, 354])
        c.send("Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n")
        code, text = c.reply()
        self.assertEqual(code, 250)
        self.assertEqual(c.reply()[0], 221)
        env, rcpts, _ = parse_queue_file(self.inst.queue_files(queued_id(text[0]))["l"][0])
        self.assertEqual([r["active"] for r in rcpts], ["alice@example.test", "bob@example.test"])

    def test_dsn_parameters_are_kept_in_the_envelope(self):
        with smtplib.SMTP("127.0.0.1", self.port, source_address=(INTERNAL, 0), timeout=DEADLINE) as s:
            s.ehlo("x")
            s.mail("a@x.example", ["RET=HDRS", "ENVID=env+2Bid", "BODY=8BITMIME"])
            s.rcpt("alice@example.test", ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Alice@Example.TEST"])
            code, text = s.data(b"Subject: dsn\r\n\r\nx\r\n")
            self.assertEqual(code, 250)
        env, rcpts, _ = parse_queue_file(self.inst.queue_files(queued_id(text.decode()))["l"][0])
        self.assertEqual(env["envid"], "env+id")
        self.assertEqual(env["ret"], "hdrs")
        self.assertEqual(rcpts[0]["notify"], 3)
        self.assertEqual(rcpts[0]["orcpt"], "rfc822;Alice@Example.TEST")
        self.assertTrue(self.inst.wait_log(r" E \d+ a@x\.example rfc822;Alice@Example\.TEST alice@example\.test 3 \S*/ZZ"))

    def test_aliases_expand_to_local_and_remote_copies(self):
        # alice is a member and a recipient of her own: she gets one copy.
        qid = self.send_message(INTERNAL, "a@x.example", ["staff@example.test", "Alice@example.test"],
                                "Subject: s\r\n\r\nx\r\n.\r\n")
        files = self.inst.queue_files(qid)
        self.assertEqual(sorted(files), ["l", "tcp_local"])
        _, local, _ = parse_queue_file(files["l"][0])
        self.assertEqual(sorted(r["active"] for r in local), ["alice@example.test", "bob@example.test"])
        self.assertEqual({r["original"] for r in local}, {"staff@example.test"})
        _, remote, _ = parse_queue_file(files["tcp_local"][0])
        self.assertEqual([r["active"] for r in remote], ["carol@partner.example"])

    def test_bdat_chunks(self):
        c = Client(self.port, INTERNAL)
        c.reply()
        self.assertIn("CHUNKING", c.cmd("EHLO x")[1])
        c.cmd("MAIL FROM:<a@x.example>")
        c.cmd("RCPT TO:<alice@example.test>")
        part1 = b"Subject: chunks\r\n\r\nfirst "
        part2 = b"second\r\n.\r\nstill data\r\n"
        c.send(b"BDAT %d\r\n" % len(part1) + part1)
        self.assertEqual(c.reply()[0], 250)
        c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
        code, text = c.reply()
        self.assertEqual(code, 250, text)
        _, _, msg = parse_queue_file(self.inst.queue_files(queued_id(text[0]))["l"][0])
        self.assertTrue(msg.endswith(b"\r\n\r\nfirst second\r\n.\r\nstill data\r\n"))
        # A chunk with a bare LF is refused; the session goes on.
        c.cmd("MAIL FROM:<a@x.example>")
        c.cmd("RCPT TO:<alice@example.test>")
        bad = b"Subject: x\r\n\r\nbare\nlf\r\n"
        c.send(b"BDAT %d LAST\r\n" % len(bad) + bad)
        self.assertEqual(c.reply()[0], 554)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.close()
        self.assertTrue(self.inst.wait_log(r" EC \d+ a@x\.example rfc822;alice@example\.test"))

    def test_smtputf8_address(self):
        c = Client(self.port, INTERNAL)
        c.reply()
        c.cmd("EHLO x")
        self.assertEqual(c.cmd("MAIL FROM:<jürgen@exämple.org> SMTPUTF8")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        c.cmd("DATA")
        c.send("Subject: ü\r\n\r\nx\r\n.\r\n")
        code, text = c.reply()
        self.assertEqual(code, 250)
        env, _, msg = parse_queue_file(self.inst.queue_files(queued_id(text[0]))["l"][0])
        self.assertEqual(env["from"], "jürgen@exämple.org")
        self.assertIn(b"with UTF8SMTP id", msg)

    # -- limits ---------------------------------------------------------------------------
    def test_size_limit(self):
        c = Client(self.port, EXTERNAL)  # tcp_local: sourceblocklimit 64 = 65536 bytes
        c.reply()
        c.cmd("EHLO x")
        self.assertEqual(c.cmd("MAIL FROM:<a@x.example> SIZE=70000"),
                         (552, ["5.3.4 Message size exceeds fixed maximum message size"]))
        before = self.inst.count_files()
        self.assertEqual(c.cmd("MAIL FROM:<a@x.example>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 80 + ".\r\n")
        self.assertEqual(c.reply()[0], 552)
        self.assertEqual(self.inst.count_files(), before)
        self.assertEqual(c.cmd("RSET")[0], 250)  # the session stays in step
        c.close()

    def test_recipient_limit(self):
        c = Client(self.port, INTERNAL)  # tcp_intranet_option: ALLOW_RECIPIENTS_PER_TRANSACTION=5
        c.reply()
        c.cmd("EHLO x")
        c.cmd("MAIL FROM:<a@x.example>")
        codes = [c.cmd("RCPT TO:<r%d@y.org>" % i)[0] for i in range(6)]
        self.assertEqual(codes, [250] * 5 + [452])
        self.assertEqual(c.cmd("RCPT TO:<r9@y.org>"), (452, ["4.5.3 Too many recipients"]))
        c.close()

    def test_overlong_command_line(self):
        c = Client(self.port)
        c.reply()
        # 12288 octets (RFC 4954's AUTH line) where AUTH is offered, else 4096
        self.assertEqual(c.cmd("NOOP " + "x" * 13000), (500, ["5.5.2 Line too long"]))
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.close()

    def test_bad_command_limit_disconnects(self):
        c = Client(self.port)
        c.reply()
        for _ in range(19):
            self.assertEqual(c.cmd("BOGUS")[0], 500)
        self.assertEqual(c.cmd("BOGUS")[0], 500)
        self.assertEqual(c.reply(), (421, ["4.7.0 Too many bad commands, closing connection"]))
        self.assertTrue(c.closed())

    def test_timeouts(self):
        c = Client(self.inst.ports["short"])  # COMMAND_TIMEOUT=2
        c.reply()
        code, text = c.reply()  # nothing sent: the server gives up
        self.assertEqual(code, 421)
        self.assertTrue(text[0].startswith("4.4.2 "))
        self.assertTrue(c.closed())
        # DATA_TIMEOUT=2: a client that stops in the middle of its message.
        c = Client(self.inst.ports["short"], INTERNAL)
        c.reply()
        c.cmd("EHLO x")
        c.cmd("MAIL FROM:<a@x.example>")
        c.cmd("RCPT TO:<alice@example.test>")
        before = self.inst.count_files()
        c.cmd("DATA")
        c.send("Subject: slow\r\n\r\npart")
        self.assertEqual(c.reply()[0], 421)
        self.assertTrue(c.closed())
        self.assertEqual(self.inst.count_files(), before)
        self.assertTrue(self.inst.wait_log(r" C TCP\|127\.0\.0\.1\|%d\|.* timeout" % self.inst.ports["short"]))

    def test_connection_records(self):
        c = Client(self.port)
        c.reply()
        local_port = c.sock.getsockname()[1]
        c.cmd("QUIT")
        c.close()
        transport = r"TCP\|127\.0\.0\.1\|%d\|127\.0\.0\.1\|%d SMTP" % (self.port, local_port)
        self.assertEqual(len(self.inst.wait_log(r"tcp_local +\+ +O " + transport)), 1)
        self.assertEqual(len(self.inst.wait_log(r"tcp_local +\+ +C " + transport + " QUIT")), 1)

    def test_500_simultaneous_sessions(self):
        n = 500
        before = len(self.inst.queue_files().get("l", []))
        results = [None] * n
        barrier = threading.Barrier(n)

        def one(i):
            try:
                c = Client(self.port, INTERNAL)
                barrier.wait(timeout=60)  # every session is open at once
                assert c.reply()[0] == 220
                assert c.cmd("EHLO load%d" % i)[0] == 250
                c.send("MAIL FROM:<load@x.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
                assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
                c.send("Subject: load %d\r\n\r\nmessage %d\r\n.\r\n" % (i, i))
                code, text = c.reply()
                c.cmd("QUIT")
                c.close()
                results[i] = (code, queued_id(text[0]))
            except Exception as e:  # reported below, with the session's number
                results[i] = ("error", repr(e))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        failures = [(i, r) for i, r in enumerate(results) if not r or r[0] != 250]
        self.assertEqual(failures, [])
        ids = {r[1] for r in results}
        self.assertEqual(len(ids), n)
        self.assertEqual(len(self.inst.queue_files().get("l", [])), before + n)

    # -- swaks ----------------------------------------------------------------------------
    @unittest.skipUnless(SWAKS, "swaks is not installed (Debian package swaks)")
    def test_swaks_tls_auth_pipelining(self):
        # (Debian 12's swaks has no DSN options: DSN is tested with smtplib above.)
        r = subprocess.run([SWAKS, "--server", "127.0.0.1:%d" % self.inst.ports["submit"], "--tls",
                            "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", "alice-secret",
                            "--pipeline", "--from", "alice@example.test", "--to", "friend@far.example,bob@example.test",
                            "--h-Subject", "swaks test"],
                           capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        qid = queued_id(r.stdout)
        files = self.inst.queue_files(qid)
        self.assertEqual(sorted(files), ["l", "tcp_local"])
        env, rcpts, msg = parse_queue_file(files["tcp_local"][0])
        self.assertEqual(env["source"], "tcp_submit")
        self.assertEqual(env["auth"], "alice")
        self.assertEqual([r["active"] for r in rcpts], ["friend@far.example"])
        self.assertIn(b"with ESMTPSA id " + qid.encode(), msg)
        self.assertTrue(self.inst.wait_log(r"tcp_submit +l +ESA \d+ alice@example\.test rfc822;bob@example\.test"))

    @unittest.skipUnless(SWAKS, "swaks is not installed (Debian package swaks)")
    def test_swaks_relay_refused_outside(self):
        r = subprocess.run([SWAKS, "--server", "127.0.0.1:%d" % self.port, "--local-interface", EXTERNAL,
                            "--from", "a@x.example", "--to", "b@y.org"],
                           capture_output=True, text=True, timeout=DEADLINE)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("550 5.7.1 Relaying not permitted: b@y.org", r.stdout)


class JobControllerSocket:
    """Stands in for the job controller: binds run/job_controller.sock and
    collects the datagrams imtad's SMTP server sends (queue/notify.hpp).
    When imtad runs a job controller, its socket is taken over once it is up
    (its control socket exists); the controller's periodic rescan still finds
    every file."""

    def __init__(self, inst):
        self.path = inst.path("run", "job_controller.sock")
        control = inst.path("run", "job_controller.ctl")
        until = time.time() + 5
        while not os.path.exists(control) and time.time() < until:
            time.sleep(0.05)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def drain(self):
        """Forgets what arrived so far (from earlier tests)."""
        self.sock.setblocking(False)
        try:
            while self.sock.recv(65536):
                pass
        except BlockingIOError:
            pass
        self.sock.setblocking(True)

    def lines(self, count):
        """The next `count` lines that arrive (fewer if the wait runs out)."""
        out = []
        self.sock.settimeout(DEADLINE)
        while len(out) < count:
            try:
                data = self.sock.recv(65536).decode()
            except socket.timeout:
                break
            out.extend(l for l in data.split("\n") if l)
        return out

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class LimitsAndEtrnTest(unittest.TestCase):
    """The per-session disconnect limits, DOT_TIMEOUT, ETRN and the
    notifications to the job controller, on an instance of their own:
    tcp_local (127.0.0.1) has disconnecttransactionlimit 2 and
    disconnectrecipientlimit 3, tcp_intranet (127.0.0.2) disconnectrejectlimit 2;
    the "extra" service waits 30 s for each piece of data but 2 s in all."""

    @classmethod
    def setUpClass(cls):
        def edit(inst):
            inst.replace("mappings", "  $(127.0.0.0/8)            $Y\n", "  127.0.0.2                 $Y\n")
            inst.replace("imta.cnf", "tcp_local smtp mx single_sys switchchannel",
                         "tcp_local smtp mx single_sys switchchannel disconnecttransactionlimit 2 "
                         "disconnectrecipientlimit 3")
            inst.replace("imta.cnf", "tcp_intranet smtp mx single_sys allowswitchchannel",
                         "tcp_intranet smtp mx single_sys allowswitchchannel disconnectrejectlimit 2")

        cls.inst = Instance(edit, services="""[SERVICE=SMTP_DOT]
PORT=%(extra)d
PARAMETER=CHANNEL=tcp_local
DATA_TIMEOUT=30
DOT_TIMEOUT=2
""")
        cls.inst.add_user("alice")
        cls.inst.add_user("bob")
        cls.inst.start()
        cls.jc = JobControllerSocket(cls.inst)
        cls.port = cls.inst.ports["smtp"]

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()
        cls.jc.close()

    def tearDown(self):
        close_clients()

    def test_transaction_limit(self):
        c = Client(self.port, EXTERNAL)
        c.reply()
        c.cmd("EHLO x")
        for _ in range(2):
            self.assertEqual(c.cmd("MAIL FROM:<a@x.example>")[0], 250)
            self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@x.example>"),
                         (421, ["4.7.0 Too many transactions in this session, closing connection"]))
        self.assertTrue(c.closed())
        self.assertTrue(self.inst.wait_log(r"tcp_local +\+ +C TCP\|.* disconnect transaction limit reached"))

    def test_recipient_limit_counts_the_whole_session(self):
        c = Client(self.port, EXTERNAL)
        c.reply()
        c.cmd("EHLO x")
        c.cmd("MAIL FROM:<first@x.example>")
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<bob@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: one\r\n\r\nx\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        c.cmd("MAIL FROM:<second@x.example>")
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)  # the third
        self.assertEqual(c.cmd("RCPT TO:<bob@example.test>"),
                         (421, ["4.7.0 Too many recipients in this session, closing connection"]))
        self.assertTrue(c.closed())
        self.assertEqual(self.inst.files_from("second@x.example"), [])  # the open transaction is abandoned
        self.assertTrue(self.inst.wait_log(r"tcp_local +J 0 second@x\.example rfc822; bob@example\.test .*421 4\.7\.0"))
        self.assertTrue(self.inst.wait_log(r" C TCP\|.* disconnect recipient limit reached"))

    def test_reject_limit(self):
        c = Client(self.port, INTERNAL)
        c.reply()
        c.cmd("EHLO x")
        c.cmd("MAIL FROM:<harvester@x.example>")
        self.assertEqual(c.cmd("RCPT TO:<nobody1@example.test>")[0], 550)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<nobody2@example.test>"), (550, ["5.1.1 nobody2@example.test: no such user"]))
        self.assertEqual(c.reply(), (421, ["4.7.0 Too many rejected recipients, closing connection"]))
        self.assertTrue(c.closed())
        self.assertTrue(self.inst.wait_log(r"tcp_intranet +\+ +C TCP\|.* disconnect reject limit reached"))

    def test_dot_timeout_ends_a_trickling_message(self):
        c = Client(self.inst.ports["extra"], INTERNAL)
        c.reply()
        c.cmd("EHLO x")
        c.cmd("MAIL FROM:<slow@x.example>")
        c.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: slow\r\n\r\n")
        # A byte now and then: each piece comes well within DATA_TIMEOUT=30,
        # the message never ends; DOT_TIMEOUT=2 does.
        until = time.time() + DEADLINE
        while time.time() < until:
            readable, _, _ = select.select([c.sock], [], [], 0.3)
            if readable:
                break
            try:
                c.send("x")
            except OSError:
                break
        code, text = c.reply()
        self.assertEqual(code, 421)
        self.assertTrue(text[0].startswith("4.4.2 "), text)
        self.assertTrue(c.closed())
        self.assertEqual(self.inst.files_from("slow@x.example"), [])
        self.assertTrue(self.inst.wait_log(r" C TCP\|127\.0\.0\.1\|%d\|.* timeout waiting for the end of the message data"
                                           % self.inst.ports["extra"]))

    def test_etrn(self):
        self.jc.drain()
        c = Client(self.port, INTERNAL)
        c.reply()
        self.assertEqual(c.cmd("ETRN example.org"), (503, ["5.5.1 Send HELO or EHLO first"]))
        self.assertIn("ETRN", c.cmd("EHLO x")[1])
        self.assertEqual(c.cmd("ETRN example.org"), (250, ["2.0.0 Queuing for node example.org started"]))
        self.assertEqual(c.cmd("ETRN #tcp_intranet"), (250, ["2.0.0 Queuing for node #tcp_intranet started"]))
        self.assertEqual(self.jc.lines(2), ["submit tcp_local", "submit tcp_intranet"])
        self.assertEqual(c.cmd("ETRN example.test"),
                         (459, ["4.7.0 Node example.test not allowed: its mail is delivered here"]))
        self.assertEqual(c.cmd("ETRN #nowhere"), (459, ["4.7.0 Node #nowhere not allowed: no such queue"]))
        self.assertEqual(c.cmd("ETRN bad!domain")[0], 501)
        self.assertEqual(c.cmd("ETRN")[0], 501)
        c.cmd("MAIL FROM:<a@x.example>")
        self.assertEqual(c.cmd("ETRN example.org"), (503, ["5.5.1 ETRN not permitted during a mail transaction"]))
        c.cmd("RSET")
        # Nobody listening: the request cannot be passed on.
        self.jc.close()
        try:
            self.assertEqual(c.cmd("ETRN example.org"), (458, ["4.3.0 Unable to queue messages for node example.org"]))
        finally:
            type(self).jc = JobControllerSocket(self.inst)
        c.cmd("QUIT")
        # LOG_CONNECTION bit 2: an I record per ETRN, with the node and the reply.
        hits = self.inst.wait_log(r"tcp_intranet +\+ +I TCP\|127\.0\.0\.1\|%d\|127\.0\.0\.2\|\d+ SMTP example\.org "
                                  r"250 2\.0\.0 Queuing for node example\.org started" % self.port)
        self.assertEqual(len(hits), 1)
        self.assertTrue(self.inst.wait_log(r" I TCP\|.* SMTP example\.test 459 4\.7\.0 "))

    def test_commits_are_announced_to_the_job_controller(self):
        self.jc.drain()
        c = Client(self.port, INTERNAL)
        c.reply()
        c.cmd("EHLO x")
        c.cmd("MAIL FROM:<a@x.example>")
        c.cmd("RCPT TO:<alice@example.test>")
        c.cmd("RCPT TO:<someone@far.example>")
        c.cmd("DATA")
        c.send("Subject: announce\r\n\r\nx\r\n.\r\n")
        code, text = c.reply()
        self.assertEqual(code, 250)
        qid = queued_id(text[0])
        lines = self.jc.lines(2)
        self.assertEqual(len(lines), 2, lines)
        # One line per file: channel TAB path, the file named with the id.
        # (A job controller may have delivered the files by now.)
        channels = sorted(l.split("\t")[0] for l in lines)
        self.assertEqual(channels, ["l", "tcp_local"])
        for l in lines:
            channel, path = l.split("\t")
            self.assertTrue(path.startswith(self.inst.path("queue", channel) + "/"), path)
            self.assertIn(qid, os.path.basename(path))


class DefaultInstanceTest(unittest.TestCase):
    """The instance exactly as `imta init` makes it (ports aside): the README's
    run command and the seed's telnet walk-through."""

    def setUp(self):
        self.inst = Instance()
        self.inst.add_user("user")
        self.inst.start()

    def tearDown(self):
        close_clients()
        self.inst.destroy()

    def test_telnet_walkthrough(self):
        c = Client(self.inst.ports["smtp"])
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("HELO your.hostname")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM: <me@somewhere.example>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO: <user@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("FROM: <me@somewhere.example>\r\nTO: <user@example.test>\r\nSUBJECT: test\r\n\r\nthis is a test.\r\n"
               ".\r\n")
        code, text = c.reply()
        self.assertEqual(code, 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        qid = queued_id(text[0])
        self.assertEqual(list(self.inst.queue_files(qid)), ["l"])
        self.assertTrue(self.inst.wait_log(r"tcp_intranet +l +E 1 me@somewhere\.example rfc822;user@example\.test"))


class GracefulStopTest(unittest.TestCase):
    """SIGTERM while sessions are open: the one in DATA finishes its message,
    an idle one is told 421 4.3.2, then imtad exits."""

    def setUp(self):
        self.inst = Instance()
        self.inst.add_user("alice")
        self.inst.start()

    def tearDown(self):
        close_clients()
        self.inst.destroy()

    def test_sigterm_lets_the_current_message_finish(self):
        port = self.inst.ports["smtp"]
        busy = Client(port)
        busy.reply()
        busy.cmd("EHLO x")
        busy.cmd("MAIL FROM:<a@x.example>")
        busy.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(busy.cmd("DATA")[0], 354)
        busy.send("Subject: during stop\r\n\r\nfirst half ")
        idle = Client(port)
        idle.reply()
        idle.cmd("EHLO x")
        self.inst.resume_job_controller()  # it must be able to stop too
        os.kill(self.inst.proc.pid, signal.SIGTERM)
        self.assertEqual(idle.reply()[0], 421)
        self.assertTrue(idle.closed())
        busy.send("second half\r\n.\r\n")
        code, text = busy.reply()
        self.assertEqual(code, 250)
        self.assertEqual(busy.reply()[0], 421)  # then the session ends
        self.assertEqual(list(self.inst.queue_files(queued_id(text[0]))), ["l"])
        self.assertEqual(self.inst.proc.wait(DEADLINE), 0)

    def test_sigterm_when_idle_stops_every_process_cleanly(self):
        # With no session to wait for, the dispatcher stops at once, while
        # its listeners' aborted accepts may still be queued: tearing that
        # down once used a worker's socket service after it was freed (seen
        # under AddressSanitizer, tests/sanitize.sh, as exit status 1).
        port = self.inst.ports["smtp"]
        with smtplib.SMTP("127.0.0.1", port, timeout=DEADLINE) as smtp:
            smtp.sendmail("a@x.example", ["alice@example.test"], "Subject: before stop\r\n\r\nbody\r\n")
        self.inst.resume_job_controller()
        os.kill(self.inst.proc.pid, signal.SIGTERM)
        self.assertEqual(self.inst.proc.wait(DEADLINE), 0)
        output = self.inst.imtad_output()
        self.assertIn("dispatcher exited with status 0", output)
        self.assertIn("job_controller exited with status 0", output)


if __name__ == "__main__":
    unittest.main(verbosity=2)
